"""TensorBoard summaries (--log tensorboard), `jaxae compare` and `jaxae runs`."""
import glob
import os
import shutil
import struct
from collections import Counter

from tensorboardX.proto import event_pb2

from jaxae.apps.cli import main
from tests.train.test_loop import _corrupt_same_size

FAST = ["--epochs", "2", "--no-progress", "--batch-size", "250"]


def read_events(folder):
    """(tag, step, kind) of every summary in the event files directly in `folder` (TFRecord framing:
    length, its CRC, the Event proto, its CRC)."""
    found = []
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        data = open(path, "rb").read()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + length])
            i += 12 + length + 4
            for value in event.summary.value:
                found.append((value.tag, event.step, "image" if value.HasField("image") else "scalar"))
    return found


def test_every_epoch_once_also_after_a_resume(tmp_path):
    run = str(tmp_path / "ae")
    args = ["train", "ae", "--hidden", "32", "--latent", "3", "--log", "tensorboard", "--grad-norm", "--workdir", run]
    assert main([*args, *FAST]) == 0
    shutil.rmtree(os.path.join(run, "checkpoints", "2"))  # as if killed before epoch 2's checkpoint landed
    assert main([*args, "--epochs", "3", "--no-progress", "--batch-size", "250", "--resume"]) == 0
    events = read_events(os.path.join(run, "tensorboard"))
    counts = Counter(events)
    for tag in ("train/loss", "train/grad_norm", "test/mse", "speed/samples_per_s", "optimizer/learning_rate"):
        assert [counts[(tag, step, "scalar")] for step in (1, 2, 3)] == [1, 1, 1], tag
    assert [counts[("reconstructions", step, "image")] for step in (1, 2, 3)] == [1, 1, 1]
    assert max(counts.values()) == 1  # nothing written twice
    # jaxae eval and sample add their results at the run's epoch
    assert main(["eval", "--run", run, "--no-progress"]) == 0 and main(["sample", "--run", run]) == 0
    events = read_events(os.path.join(run, "tensorboard"))
    assert ("eval/test_mse", 3, "scalar") in events and ("samples/latent_map", 3, "image") in events


def test_each_model_of_a_seeds_run_has_its_curves(tmp_path):
    run = str(tmp_path / "vae")
    assert main(["train", "vae", "--hidden", "32", "--latent", "2", "--seeds", "2", "--log", "tensorboard",
                 "--workdir", run, *FAST]) == 0
    for name in ("seed0_lr1", "seed1_lr1"):
        events = read_events(os.path.join(run, "tensorboard", name))
        assert sorted(s for t, s, _ in events if t == "test/neg_elbo") == [1, 2]
    assert sorted(s for t, s, _ in read_events(os.path.join(run, "tensorboard")) if t == "test/neg_elbo") == [1, 2]


def test_compare_and_runs(tmp_path, capsys):
    vae = ["--hidden", "32", "--latent", "2", *FAST]
    runs = tmp_path / "runs"
    assert main(["train", "vae", "--seeds", "4", "--workdir", str(runs / "vae4"), *vae]) == 0
    assert main(["train", "vae", "--workdir", str(runs / "vae"), *vae]) == 0
    assert main(["train", "rbm", "--n-hidden", "16", "--workdir", str(runs / "rbm"), *FAST]) == 0
    assert main(["train", "ae", "--hidden", "16", "--latent", "2", "--workdir", str(runs / "damaged"), *FAST]) == 0
    _corrupt_same_size(runs / "damaged" / "checkpoints", epoch=2)
    capsys.readouterr()
    out = str(tmp_path / "compare.png")
    assert main(["compare", str(runs / "vae4"), str(runs / "vae"), "--metric", "test_neg_elbo", "--out", out]) == 0
    table = capsys.readouterr().out
    assert os.path.getsize(out) > 0 and "| run | model | models |" in table and " ± " in table
    assert len([line for line in table.splitlines() if line.startswith(f"| {runs}")]) == 2
    # a run without the metric is left out with a message; no run with it, a missing folder: one line, exit 2
    assert main(["compare", str(runs / "vae"), str(runs / "rbm"), "--metric", "test_neg_elbo", "--out", out]) == 0
    assert "has no 'test_neg_elbo'; left out" in capsys.readouterr().err
    assert main(["compare", str(runs / "vae"), "--metric", "test_accuracy"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run has the metric 'test_accuracy'; they have:" in err
    assert main(["compare", str(tmp_path / "nothing"), "--metric", "test_neg_elbo"]) == 2
    assert "does not exist" in capsys.readouterr().err
    # jaxae runs: every run, the damaged one marked (and left where it is)
    assert main(["runs", str(runs)]) == 0
    listing = capsys.readouterr().out
    lines = {line.split("|")[1].strip(): line for line in listing.splitlines()[2:]}
    assert set(lines) == {"vae4", "vae", "rbm", "damaged"}
    assert "epoch 2: intact, resumable" in lines["rbm"] and "damaged:" in lines["damaged"]
    assert os.path.isdir(runs / "damaged" / "checkpoints" / "2")  # listing changes nothing
    assert main(["runs", str(tmp_path / "nothing")]) == 2
