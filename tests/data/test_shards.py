"""Shard sets on disk (jaxae.data.shards) and the streaming trainer that reads them."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxae
from jaxae.apps.cli import main
from jaxae.data import shards
from jaxae.errors import DataError
from jaxae.tasks import ae, rbm, vae
from jaxae.train import TrainConfig, fit
from tests.conftest import tree_equal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def written(tmp_path_factory, small):
    """`small` (512 + 256 digits) as a shard set of 16 train shards."""
    return shards.write(str(tmp_path_factory.mktemp("sets") / "small"), small,
                        shard_bytes=32 * (784 + small.train_labels.itemsize))


def test_a_written_set_reads_back_the_same_examples(written, small):
    data = jaxae.data.load(f"shards:{written.path}")
    assert data.on_disk and data.name == f"shards:{written.path}" and data.source == written.path
    assert data.train_images.shape == small.train_images.shape and data.train_images.dtype == np.uint8
    assert len(written.manifest["splits"]["train"]["shards"]) == 16
    order = np.random.default_rng(0).permutation(512)
    np.testing.assert_array_equal(data.train_images[order], small.train_images[order])
    np.testing.assert_array_equal(data.train_images[100:300], small.train_images[100:300])
    np.testing.assert_array_equal(data.train_images[-1], small.train_images[-1])
    np.testing.assert_array_equal(data.train_labels, small.train_labels)
    np.testing.assert_array_equal(data.test_images, small.test_images)  # the test split is read into memory


def test_gathered_examples_are_64_byte_aligned_so_the_cpu_adopts_them_without_a_copy(written, small):
    """ShardArray reads (one block copy for consecutive rows, a gather otherwise) and jaxae.data.gather
    return arrays that start on a 64-byte boundary: the streaming trainer's device_put then shares their
    memory on the CPU instead of copying each chunk."""
    from jaxae.data.dataset import gather

    data = jaxae.data.load(f"shards:{written.path}")
    indices = (np.arange(40, 90), np.array([7, 5, 6, 6, 300, 2, -3]), np.arange(64)[::-1], slice(3, 500, 7))
    got = [data.train_images[index] for index in indices]
    got.append(gather({"x": small.train_images, "y": small.train_labels}, np.array([3, 1, 2, 2])))
    want = [small.train_images[index] for index in indices]
    want.append({"x": small.train_images[[3, 1, 2, 2]], "y": small.train_labels[[3, 1, 2, 2]]})
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_array_equal(a, b)
        assert a.ctypes.data % 64 == 0
    if jax.default_backend() == "cpu":
        chunk = got[0]
        assert jax.device_put(chunk).unsafe_buffer_pointer() == chunk.ctypes.data  # adopted, not copied


def test_any_iterable_of_batches_is_written_as_it_comes(tmp_path):
    rng = np.random.default_rng(0)
    batches = [{"x": rng.normal(size=(n, 5)).astype(np.float16), "label": np.arange(n)} for n in (3, 40, 1, 17)]
    out = shards.write(str(tmp_path / "acts"), (b for b in batches), shard_bytes=100)
    x = out.splits["train"]["x"]
    assert x.shape == (61, 5) and x.dtype == np.float16
    np.testing.assert_array_equal(np.asarray(x), np.concatenate([b["x"] for b in batches]))
    assert set(out.manifest["leaves"]) == {"x", "label"} and out.manifest["leaves"]["x"] == {"shape": [5], "dtype": "float16"}


def test_writing_refuses_bad_input_and_leaves_nothing_behind(tmp_path, written):
    with pytest.raises(DataError, match="already exists"):
        shards.write(written.path, np.zeros((4, 3), np.uint8))
    mixed = iter([np.zeros((4, 3), np.uint8), np.zeros((4, 5), np.uint8)])
    with pytest.raises(DataError, match="every batch must have the same leaves"):
        shards.write(str(tmp_path / "mixed"), mixed)
    with pytest.raises(DataError, match="has no examples"):
        shards.write(str(tmp_path / "empty"), iter([]))
    with pytest.raises(DataError, match="dtype object"):
        shards.write(str(tmp_path / "objects"), np.array([[None]], dtype=object))
    assert sorted(os.listdir(tmp_path)) == []  # no folder, no temporary left


def _damage(folder, rng, what):
    files = sorted(f for f in os.listdir(folder) if f.endswith(".npy"))
    target = os.path.join(folder, "index.json" if what.startswith("index") else files[rng.integers(len(files))])
    data = bytearray(open(target, "rb").read())
    if what.endswith("truncate"):
        data = data[: rng.integers(len(data))]
    elif what.endswith("flip"):
        data[rng.integers(len(data))] ^= 1 << int(rng.integers(8))
    elif what.endswith("delete"):
        os.remove(target)
        return target
    elif what == "index-shape":  # an index naming another shape, rewritten with a valid own checksum
        index = json.loads(bytes(data))
        index.pop("index_sha256")
        index["leaves"]["image"]["shape"] = [28, 27]
        index["index_sha256"] = shards._index_digest(index)
        data = json.dumps(index).encode()
    open(target, "wb").write(bytes(data))
    return target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(what=st.sampled_from(["shard-truncate", "shard-flip", "shard-delete", "index-truncate", "index-flip",
                             "index-delete", "index-shape"]), seed=st.integers(0, 2**31 - 1))
def test_any_damage_is_one_line_naming_the_file(written, tmp_path, what, seed):
    folder = os.path.join(tempfile.mkdtemp(dir=tmp_path), "copy")  # fresh for every example, replays included
    shutil.copytree(written.path, folder)
    try:
        target = _damage(folder, np.random.default_rng(seed), what)
        with pytest.raises(DataError) as e:
            jaxae.data.load(f"shards:{folder}")
        message = str(e.value)
        assert "\n" not in message and os.path.basename(target) in message, message
    finally:
        shutil.rmtree(os.path.dirname(folder))


def test_a_header_that_no_longer_parses_is_refused(written, tmp_path):
    """A flipped quote leaves NumPy's header parser with an unterminated string (tokenize.TokenError)."""
    folder = str(tmp_path / "quote")
    shutil.copytree(written.path, folder)
    target = os.path.join(folder, "train-00000.image.npy")
    data = bytearray(open(target, "rb").read())
    data[data.index(b"'")] ^= 1  # ' -> &
    open(target, "wb").write(bytes(data))
    with pytest.raises(DataError, match="train-00000.image.npy has no readable .npy header"):
        jaxae.data.load(f"shards:{folder}")


def test_an_empty_split_is_refused(tmp_path, written):
    folder = str(tmp_path / "empty")
    shutil.copytree(written.path, folder)
    index = json.load(open(os.path.join(folder, "index.json")))
    index.pop("index_sha256")
    index["splits"]["test"] = {"examples": 0, "shards": []}
    index["index_sha256"] = shards._index_digest(index)
    json.dump(index, open(os.path.join(folder, "index.json"), "w"))
    with pytest.raises(DataError, match="split 'test' in .*index.json has no examples"):
        jaxae.data.load(f"shards:{folder}")


def test_the_cli_refuses_a_damaged_set_without_writing_a_run_folder(tmp_path, written, capsys):
    folder = str(tmp_path / "bad")
    shutil.copytree(written.path, folder)
    os.remove(os.path.join(folder, "train-00003.image.npy"))
    run = tmp_path / "run"
    assert main(["train", "ae", "--data", f"shards:{folder}", "--workdir", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train-00003.image.npy is missing" in err
    assert not run.exists()
    assert main(["data", "write", folder, "--from", "mnist-mini"]) == 2  # exists: nothing overwritten
    assert "already exists" in capsys.readouterr().err and not os.path.exists(os.path.join(folder, "train-00003.image.npy"))


def test_streaming_from_shards_trains_the_in_memory_model(written, small):
    """With one device the stream sees the batches of the in-memory scan, shuffled or not."""
    data = jaxae.data.load(f"shards:{written.path}")
    task = ae.task(jaxae.AEConfig(hidden=(32, 16), latent=3, learning_rate=1e-3))
    for shuffle in (True, False):
        config = TrainConfig(epochs=2, batch_size=64, progress=False, eval_batch_size=128, shuffle=shuffle)
        memory = fit(task, small, config)
        streamed = fit(task, data, TrainConfig(**{**config.__dict__, "chunk_steps": 3}))
        assert streamed.history[-1]["mode"] == "stream" and streamed.history[-1]["chunk_steps"] == 3
        assert "data_wait_s" in streamed.history[-1]
        assert tree_equal(memory.state.params, streamed.state.params)


def test_mnist_from_shards_is_bitwise_the_in_memory_run_vae_and_rbm(data_dir, tmp_path):
    """The issue's equivalence: full MNIST, shuffling off, 2 epochs, the VAE and RBM CD-1."""
    mnist = jaxae.data.load("mnist", data_dir, download=False)
    data = jaxae.data.load(f"shards:{shards.write(str(tmp_path / 'mnist'), mnist).path}")
    assert data.train_images.shape == (60000, 28, 28)
    config = TrainConfig(epochs=2, batch_size=128, progress=False, shuffle=False)
    for task in (vae.task(jaxae.VAEConfig()), rbm.task(rbm.RBMConfig(k=1))):
        memory = fit(task, mnist, TrainConfig(**{**config.__dict__, "mode": "scan"}))
        streamed = fit(task, data, config)
        assert streamed.history[-1]["mode"] == "stream"
        assert tree_equal(memory.state.params, streamed.state.params), task.name


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "jaxae.apps.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_after_a_partial_checkpoint(args, tmp_path, past_step: int):
    """Runs `jaxae *args` into tmp_path/ref to the end and into tmp_path/run until a mid-epoch checkpoint
    after `past_step` exists, then SIGKILLs the latter (its own pid); returns run's checkpoints_partial."""
    reference = run_cli(*args, "--workdir", str(tmp_path / "ref"))
    killed = run_cli(*args, "--workdir", str(tmp_path / "run"))
    partial = tmp_path / "run" / "checkpoints_partial"
    deadline = time.monotonic() + 120
    while not (partial.is_dir() and any(p.isdigit() and int(p) > past_step for p in os.listdir(partial))):
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert reference.wait() == 0, reference.communicate()
    return partial


def test_sigkill_mid_epoch_then_resume_is_bitwise_the_uninterrupted_run(tmp_path, mini):
    data = shards.write(str(tmp_path / "mini"), mini, shard_bytes=1 << 20)
    args = ["train", "ae", "--data", f"shards:{data.path}", "--epochs", "2", "--hidden", "32,16", "--latent", "3",
            "--no-progress", "--chunk-steps", "4", "--checkpoint-steps", "8"]
    steps = 10000 // 128
    partial = kill_after_a_partial_checkpoint(args, tmp_path, steps + 8)
    saved = max(int(p) for p in os.listdir(partial) if p.isdigit())
    assert steps < saved < 2 * steps and os.listdir(tmp_path / "run" / "checkpoints") == ["1"]

    resumed = run_cli(*args, "--workdir", str(tmp_path / "run"), "--resume")
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert f"in epoch 2 at step {saved - steps}" in err
    a, b = (jaxae.load_run(str(tmp_path / name)) for name in ("ref", "run"))
    assert tree_equal(a.state, b.state)
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    reference_records = [json.loads(line) for line in open(tmp_path / "ref" / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["train_loss"] == reference_records[-1]["train_loss"]  # the epoch's steps before the kill count
