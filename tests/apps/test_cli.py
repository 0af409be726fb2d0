import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import jaxae
from jaxae.apps.cli import main
from jaxae.tasks import ae as autoencoder
from jaxae.train import Checkpointer, init_state
from tests.conftest import read_trace, tree_equal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = ["--hidden", "32,16", "--latent", "3", "--learning-rate", "1e-3", "--no-progress"]


def run_cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, "-m", "jaxae.apps.cli", *args], env=env, cwd=kw.get("cwd", ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def final_state(workdir):
    task = autoencoder.task(jaxae.AEConfig(hidden=(32, 16), latent=3, learning_rate=1e-3))
    target = init_state(task, 0, jaxae.data.load_mini().train_images[:8])
    return Checkpointer(os.path.join(workdir, "checkpoints")).restore_latest(target)


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "train" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["train", "ae", "--help"])
    assert e.value.code == 0 and "--learning-rate" in capsys.readouterr().out


def test_train_ae_on_bundled_data(tmp_path, capsys):
    assert main(["train", "ae", "--epochs", "1", "--workdir", str(tmp_path), "--profile", "20", *FAST]) == 0
    out = capsys.readouterr().out
    assert "epoch 1:" in out and "test_mse=" in out
    config = json.load(open(tmp_path / "config.json"))
    assert config["data"] == "mnist-mini" and config["model"]["hidden"] == [32, 16]
    assert config["cost"]["flops_per_example"] > 0 and config["train"]["profile"] == 20
    events = read_trace(tmp_path)  # --profile 20: twenty annotated steps of the step function
    assert sorted(int(e["args"]["step_num"]) for e in events if e.get("name") == "train_step") == list(range(20))
    assert any("train_step_at" in e.get("name", "") for e in events)


@pytest.mark.parametrize("args, message", [
    (["--data", "mnist", "--data-dir", "/nonexistent", "--no-download"], "mnist not found in /nonexistent/mnist"),
    (["--data", "cifar"], "unknown dataset 'cifar'"),
    (["--batch-size", "0"], "batch_size must be at least 1"),
    (["--latent", "0"], "layer widths must be positive"),
    (["--data", "tfds:not_a_dataset"], "tfds could not load 'not_a_dataset'"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["train", "ae", "--workdir", str(tmp_path / "run"), *FAST, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("jaxae: error: ") and message in err[-1]
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_workdir_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "a-file"
    path.write_text("keep me")
    assert main(["train", "ae", "--workdir", str(path), *FAST]) == 2
    assert "is a file; choose a folder" in capsys.readouterr().err
    assert path.read_text() == "keep me"


def test_bad_option_value_exits_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "ae", "--epochs", "ten"])
    assert e.value.code == 2 and "--epochs expects int, got 'ten'" in capsys.readouterr().err


def test_diverged_run_exits_nonzero(tmp_path, capsys):
    code = main(["train", "ae", "--epochs", "2", "--workdir", str(tmp_path), "--hidden", "32,16",
                 "--learning-rate", "1e30", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "training diverged" in err and "epoch 1" in err


def test_sigkill_and_resume_is_bitwise_equal(tmp_path):
    epochs = "30"
    reference = run_cli("train", "ae", "--epochs", epochs, "--workdir", str(tmp_path / "ref"), *FAST)
    killed = run_cli("train", "ae", "--epochs", epochs, "--workdir", str(tmp_path / "run"), *FAST)
    checkpoints = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 120
    while not (checkpoints.is_dir() and any(p.isdigit() and int(p) >= 3 for p in os.listdir(checkpoints))):
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert reference.wait() == 0, reference.communicate()
    saved = sorted(int(p) for p in os.listdir(checkpoints) if p.isdigit())
    assert saved and saved[-1] < int(epochs), "the run finished before it was killed"

    resumed = run_cli("train", "ae", "--epochs", epochs, "--workdir", str(tmp_path / "run"), "--resume", *FAST)
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert "resumed" in err
    epoch_a, a = final_state(str(tmp_path / "ref"))
    epoch_b, b = final_state(str(tmp_path / "run"))
    assert epoch_a == epoch_b == int(epochs)
    assert tree_equal(a, b)
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == list(range(1, int(epochs) + 1))


def test_every_models_help_is_whole_sentences():
    from jaxae.apps.options import summary
    from jaxae.tasks import MODELS

    for name, entry in MODELS.items():
        text = summary(entry.config)
        assert text.endswith(".") and text[0].isupper() and len(text) < 300, (name, text)


def test_sigterm_checkpoints_and_exits_75_then_resumes(tmp_path):
    """One process: SIGTERM (preemption) finishes the epoch, saves it, exits 75; --resume goes on."""
    run = str(tmp_path / "run")
    args = ["train", "ae", "--hidden", "32,16", "--latent", "3", "--batch-size", "500", "--epochs", "8",
            "--no-progress", "--workdir", run]
    proc = run_cli(*args)
    t0 = time.time()
    while not os.path.exists(os.path.join(run, "checkpoints", "1")):
        assert time.time() - t0 < 60 and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-2000:]
    epoch = int(re.search(r"stopped on SIGTERM after epoch (\d+) of 8", err).group(1))
    assert epoch < 8 and str(epoch) in os.listdir(os.path.join(run, "checkpoints"))
    resumed = run_cli(*args, "--resume")
    resumed.communicate(timeout=120)
    assert resumed.returncode == 0 and len(open(os.path.join(run, "metrics.jsonl")).read().splitlines()) == 8


def test_options_and_configs_do_not_start_a_backend():
    """jax.distributed.initialize must come before any backend: building the parser and every model's
    default config (what `jaxae train` does before joining other processes) must not start one."""
    code = ("import jaxae.apps.cli as cli, jaxae.tasks.registry as r; from jax._src import xla_bridge; "
            "[m.config() for m in r.MODELS.values()]; cli.make_parser(); print(sorted(xla_bridge._backends))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
