"""Restoring compares before it condemns: a checkpoint of another model is a ConfigError that touches
nothing; only unreadable files or a checksum mismatch count as damage, and no traceback reaches the user."""
import hashlib
import os

import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae.tasks import ae
from jaxae.train import Checkpointer, TrainConfig, fit, init_state
from tests.train.test_loop import _corrupt_same_size


def tree_digest(folder) -> str:
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode())
            h.update(open(path, "rb").read())
    return h.hexdigest()


def config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 64, "progress": False, **kw})


def test_a_changed_latent_size_is_a_config_error_and_touches_nothing(small, tmp_path, capfd):
    workdir = tmp_path / "run"
    fit(ae.task(jaxae.AEConfig(hidden=(32, 16), latent=8)), small, config(), str(workdir))
    before = tree_digest(workdir / "checkpoints")
    capfd.readouterr()
    smaller = ae.task(jaxae.AEConfig(hidden=(32, 16), latent=4))
    with pytest.raises(ConfigError, match=r"differs in model.latent \(8 -> 4\)"):  # a built-in task: its config says
        fit(smaller, small, config(epochs=3), str(workdir), resume=True)
    # a researcher's own model (no spec in config.json): the checkpoint's metadata says
    own = tmp_path / "own"
    fit(ae.task(jaxae.AEConfig(hidden=(32, 16), latent=8))._replace(spec=None), small, config(), str(own))
    own_before = tree_digest(own / "checkpoints")
    with pytest.raises(ConfigError, match=r"encoder/dense_2/kernel: stored \(16, 8\), requested \(16, 4\)"):
        fit(smaller._replace(spec=None), small, config(epochs=3), str(own), resume=True)
    assert tree_digest(own / "checkpoints") == own_before and not os.path.exists(own / "corrupt_checkpoints")
    with pytest.raises(ConfigError, match="checkpoints are untouched"):
        Checkpointer(str(workdir / "checkpoints")).restore_latest(init_state(smaller, 0, small.train_images[:8]))
    assert tree_digest(workdir / "checkpoints") == before
    assert not os.path.exists(workdir / "corrupt_checkpoints")
    assert "Traceback" not in capfd.readouterr().err
    # the right settings still resume
    assert fit(ae.task(jaxae.AEConfig(hidden=(32, 16), latent=8)), small, config(epochs=3), str(workdir),
               resume=True).history[0]["epoch"] == 3


def test_damage_still_falls_back_without_a_traceback(small, tmp_path, capfd):
    workdir = tmp_path / "run"
    task = ae.task(jaxae.AEConfig(hidden=(32, 16), latent=3))
    fit(task, small, config(epochs=3), str(workdir))
    _corrupt_same_size(workdir / "checkpoints", epoch=3)
    capfd.readouterr()
    epoch, _ = Checkpointer(str(workdir / "checkpoints")).restore_latest(init_state(task, 0, small.train_images[:8]))
    assert epoch == 2 and os.listdir(workdir / "corrupt_checkpoints")[0].startswith("3-")
    err = capfd.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) <= 2, err
