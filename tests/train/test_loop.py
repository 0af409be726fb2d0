import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxae
from jaxae.errors import CheckpointError, ConfigError, TrainingDiverged
from jaxae.tasks import ae as autoencoder
from jaxae.train import Checkpointer, Task, TrainConfig, fit, init_state
from tests.conftest import tree_equal

SMALL_AE = jaxae.AEConfig(hidden=(32, 16), latent=3, learning_rate=1e-3)


def small_config(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 64, "progress": False, "eval_batch_size": 100, **kw})


@pytest.mark.parametrize("mode", ["step", "stream"])
def test_modes_train_the_same_model(small, mode):
    task = autoencoder.task(SMALL_AE)
    scan = fit(task, small, small_config(mode="scan"))
    other = fit(task, small, small_config(mode=mode))
    for a, b in zip(jax.tree.leaves(scan.state.params), jax.tree.leaves(other.state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(scan.state.step) == int(other.state.step) == 2 * (512 // 64)
    assert scan.history[-1]["test_mse"] == pytest.approx(other.history[-1]["test_mse"], rel=1e-5)


@pytest.mark.parametrize("mode", ["scan", "step"])
def test_grad_norm_is_a_metric_that_changes_nothing_else(small, mode):
    task = autoencoder.task(SMALL_AE)
    plain = fit(task, small, small_config(epochs=1, mode=mode))
    normed = fit(task, small, small_config(epochs=1, mode=mode, grad_norm=True))
    assert "train_grad_norm" not in plain.history[-1]
    assert normed.history[-1]["train_grad_norm"] > 0
    for a, b in zip(jax.tree.leaves(plain.state.params), jax.tree.leaves(normed.state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_training_reduces_test_error(small):
    result = fit(autoencoder.task(SMALL_AE), small, small_config(epochs=4))
    mse = [h["test_mse"] for h in result.history]
    assert mse[-1] < 0.6 * mse[0]


def test_seed_changes_the_model(small):
    a = fit(autoencoder.task(SMALL_AE), small, small_config(epochs=1, seed=0)).state.params
    b = fit(autoencoder.task(SMALL_AE), small, small_config(epochs=1, seed=1)).state.params
    assert not tree_equal(a, b)


def test_evaluation_covers_every_test_image(small):
    """eval_batch_size that does not divide the test set: padding must not count."""
    task = autoencoder.task(SMALL_AE)
    state = init_state(task, 0, small.train_images[:8])
    from jaxae.train import steps

    full = steps.evaluate(task, 256, state, jnp.asarray(small.test_images))["mse"]
    ragged = steps.evaluate(task, 100, state, jnp.asarray(small.test_images))["mse"]
    np.testing.assert_allclose(full, ragged, rtol=1e-6)


def test_checkpoint_round_trip_is_bitwise(small, tmp_path):
    task = autoencoder.task(SMALL_AE)
    state = fit(task, small, small_config(epochs=1)).state
    ckpt = Checkpointer(str(tmp_path / "checkpoints"))
    ckpt.save(1, state)
    epoch, restored = ckpt.restore_latest(init_state(task, 5, small.train_images[:8]))
    assert epoch == 1 and tree_equal(state, restored)
    assert type(restored.opt_state) is type(state.opt_state)


def _corrupt_same_size(checkpoints, epoch=3):
    """Overwrites the largest array file of `epoch` with the same number of different bytes."""
    folder = checkpoints / str(epoch) / "state"
    files = [os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs]
    target = max(files, key=os.path.getsize)
    data = bytearray(open(target, "rb").read())
    for i in range(len(data) // 2, len(data)):
        data[i] ^= 0x5A
    open(target, "wb").write(bytes(data))


def _swap_in_older_state(checkpoints):
    """Replaces epoch 3's arrays with epoch 2's: every file valid, so Orbax restores it silently."""
    import shutil

    shutil.rmtree(checkpoints / "3" / "state")
    shutil.copytree(checkpoints / "2" / "state", checkpoints / "3" / "state")


@pytest.mark.parametrize("damage", [_corrupt_same_size, _swap_in_older_state], ids=["bytes", "silent"])
def test_corrupt_latest_checkpoint_falls_back(small, tmp_path, caplog, damage):
    task = autoencoder.task(SMALL_AE)
    workdir = tmp_path / "run"
    fit(task, small, small_config(epochs=3), str(workdir))
    damage(workdir / "checkpoints")
    reference = fit(task, small, small_config(epochs=2)).state
    epoch, state = Checkpointer(str(workdir / "checkpoints")).restore_latest(init_state(task, 0, small.train_images[:8]))
    assert epoch == 2 and tree_equal(state, reference)
    assert "epoch 3 is unreadable" in caplog.text
    assert os.listdir(workdir / "corrupt_checkpoints")[0].startswith("3-")  # kept, not deleted
    # resuming trains epoch 3 again and ends where an uninterrupted run ends
    resumed = fit(task, small, small_config(epochs=3), str(workdir), resume=True)
    assert tree_equal(resumed.state, fit(task, small, small_config(epochs=3)).state)


def test_all_checkpoints_corrupt_is_a_clear_error(small, tmp_path):
    task = autoencoder.task(SMALL_AE)
    fit(task, small, small_config(epochs=1, keep=1), str(tmp_path))
    _corrupt_same_size(tmp_path / "checkpoints", epoch=1)
    with pytest.raises(CheckpointError, match="none of the checkpoints"):
        fit(task, small, small_config(epochs=2, keep=1), str(tmp_path), resume=True)


def exploding_task() -> Task:
    """c counts steps exactly (SGD with lr -1 on a loss of slope 1); the loss is NaN once c > 63.5."""

    def loss_fn(key, params, batch):
        c = params["c"]
        return c + 0.0 * jnp.log(63.5 - c) + 0.0 * jnp.mean(batch), {}

    return Task(
        name="explode",
        init=lambda key, batch: {"c": jnp.zeros(())},
        estimator=jaxae.from_loss(loss_fn),
        optimizer=optax.sgd(-1.0),
        preprocess=lambda key, raw: raw.astype(jnp.float32),
        evaluate=lambda key, params, batch: {"c": jnp.full(batch.shape[:1], params["c"])},
    )


def test_nan_stops_training_and_keeps_checkpoints(tmp_path):
    data = jaxae.data.from_arrays(np.zeros((256, 4, 4), np.uint8), np.zeros(256),
                                  np.zeros((8, 4, 4), np.uint8), np.zeros(8))
    config = TrainConfig(epochs=20, batch_size=32, progress=False, eval_batch_size=8, keep=50)
    with pytest.raises(TrainingDiverged) as e:
        fit(exploding_task(), data, config, str(tmp_path))
    message = str(e.value)
    # before global step k, c = k - 1: the loss is first NaN at k = 65, the first step of epoch 9
    assert "at epoch 9, step 1 of 8 (global step 65)" in message
    assert "last good checkpoint is epoch 8" in message
    assert sorted(int(x) for x in os.listdir(tmp_path / "checkpoints")) == list(range(1, 9))
    assert [r["epoch"] for r in jaxae.train.rundir.RunDir(str(tmp_path)).read_metrics()] == list(range(1, 9))


def test_nan_in_any_metric_of_any_model_stops_training(tmp_path):
    """The loss stays finite; a second metric turns NaN at global step 21 (after 20 steps): the host-side
    check names that step, for one model and for two vmapped ones (metrics of shape (models, steps))."""

    def loss_fn(key, params, batch):
        c = params["c"]
        return c + 0.0 * jnp.mean(batch), {"aux": jnp.where(c > params["limit"], jnp.nan, c)}

    task = Task(name="aux-nan", init=lambda key, batch: {"c": jnp.zeros(()), "limit": jnp.float32(19.5)},
                estimator=jaxae.from_loss(loss_fn), optimizer=optax.sgd(-1.0),
                preprocess=lambda key, raw: raw.astype(jnp.float32),
                evaluate=lambda key, params, batch: {"c": jnp.full(batch.shape[:1], params["c"])})
    data = jaxae.data.from_arrays(np.zeros((256, 4, 4), np.uint8), np.zeros(256),
                                  np.zeros((8, 4, 4), np.uint8), np.zeros(8))
    for seeds in (1, 2):
        with pytest.raises(TrainingDiverged, match=r"at epoch 3, step 5 of 8 \(global step 21\)"):
            fit(task, data, TrainConfig(epochs=4, batch_size=32, progress=False, eval_batch_size=8, seeds=seeds))


def test_workdir_with_a_run_is_not_overwritten(small, tmp_path):
    task = autoencoder.task(SMALL_AE)
    fit(task, small, small_config(epochs=1), str(tmp_path))
    before = sorted(os.listdir(tmp_path / "checkpoints")), open(tmp_path / "metrics.jsonl").read()
    with pytest.raises(CheckpointError, match="already holds a run; pass resume=True") as refused:
        fit(task, small, small_config(epochs=1), str(tmp_path))
    assert "workdir" in str(refused.value) and "--" not in str(refused.value)  # Python's words from Python
    assert "pass --resume to continue it or choose a new --workdir" in refused.value.cli  # the command line's
    assert (sorted(os.listdir(tmp_path / "checkpoints")), open(tmp_path / "metrics.jsonl").read()) == before


def test_resume_with_other_model_settings_is_refused(small, tmp_path):
    fit(autoencoder.task(SMALL_AE), small, small_config(epochs=1), str(tmp_path), run_config={"model": {"latent": 3}})
    with pytest.raises(ConfigError, match="model.latent"):
        fit(autoencoder.task(SMALL_AE), small, small_config(epochs=2), str(tmp_path), resume=True,
            run_config={"model": {"latent": 4}})


def test_resume_may_change_how_not_what_is_computed(small, tmp_path):
    """model.transposed picks a formulation of the same function (jaxae.nn.conv): a resume may change it."""
    fit(autoencoder.task(SMALL_AE), small, small_config(epochs=1), str(tmp_path),
        run_config={"model": {"latent": 3, "transposed": "auto"}})
    fit(autoencoder.task(SMALL_AE), small, small_config(epochs=2), str(tmp_path), resume=True,
        run_config={"model": {"latent": 3, "transposed": "subpixel"}})
    with pytest.raises(ConfigError, match="model.latent.*transposed may change"):
        fit(autoencoder.task(SMALL_AE), small, small_config(epochs=3), str(tmp_path), resume=True,
            run_config={"model": {"latent": 4, "transposed": "subpixel"}})


@pytest.mark.parametrize("kw, match", [
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"mode": "fast"}, "mode must be one of"),
    ({"epochs": -1}, "epochs must be at least 1"),
])
def test_bad_train_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw)


def test_batch_larger_than_data(small):
    with pytest.raises(ConfigError, match="larger than the 512 training examples"):
        fit(autoencoder.task(SMALL_AE), small, small_config(batch_size=1024))


def test_run_folder_contents(small, tmp_path):
    fit(autoencoder.task(SMALL_AE), small, small_config(epochs=2), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["checkpoints", "config.json", "images", "loss_curve.png", "metrics.jsonl"]
    assert sorted(os.listdir(tmp_path / "images")) == ["epoch_001.png", "epoch_002.png"]
    from PIL import Image

    assert Image.open(tmp_path / "images" / "epoch_002.png").size == ((8 * 30 + 2) * 2, (4 * 30 + 2) * 2)


def test_vector_data_of_any_width_trains_through_fit(tmp_path):
    """A 50-d synthetic set, (n, 50) floats in [0, 1]: no images, no reshaping. The AE, a Gaussian-decoder
    VAE and a CVAE (labels reach its loss through jaxae.data.with_labels) train on it."""
    rng = np.random.default_rng(0)
    centres = rng.random((3, 50))
    labels = rng.integers(0, 3, 600)
    x = np.clip(centres[labels] + 0.05 * rng.standard_normal((600, 50)), 0, 1).astype(np.float32)
    data = jaxae.data.from_arrays(x[:500], labels[:500], x[500:], labels[500:], name="synthetic-50d")
    assert data.train_images.shape == (500, 50) and data.image_shape is None
    runs = {
        "ae": autoencoder.task(jaxae.AEConfig(hidden=(32,), latent=4, pixels="unit", learning_rate=1e-2)),
        "vae": jaxae.tasks.vae.task(jaxae.VAEConfig(hidden=(32,), latent=4, decoder="gaussian", binarize="none",
                                                    learning_rate=1e-2)),
        "cvae": jaxae.tasks.cvae.task(jaxae.CVAEConfig(hidden=(32,), latent=4, classes=3, decoder="gaussian",
                                                       binarize="none", learning_rate=1e-2)),
    }
    for name, task in runs.items():
        result = fit(task, data, small_config(epochs=5, batch_size=50), str(tmp_path / name))
        first, last = result.history[0], result.history[-1]
        metric = "test_mse" if name == "ae" else "test_neg_elbo"
        assert last[metric] < first[metric], name
        assert not (tmp_path / name / "images").exists()  # no pictures of vectors


@pytest.mark.parametrize("name", ["ae", "dae", "conv-ae", "vae", "iwae", "cvae"])
def test_the_compiled_init_is_bitwise_the_op_by_op_init(small, name):
    """init_state compiles the step-0 state as one program (Task.compile_init); for the models that use
    it, every leaf equals the op-by-op init's, so no documented result moved with it. (The RBM, DBM and SAE
    tasks keep compile_init=False: compiled, XLA rounds the last bits of some of their leaves differently.)"""
    from jaxae.tasks import MODELS
    from jaxae.train.state import build_state

    entry = MODELS[name]
    task = entry.task(entry.config())
    assert task.compile_init
    data = task.adapt_data(small) if task.adapt_data else small
    example = small_config().init_batch(data.train_images)
    assert tree_equal(init_state(task, 7, example), build_state(task, 7, example))


def test_the_compiled_init_is_one_program(small):
    """Op by op, the conv AE's init compiles each new operation on its own (78 programs, 8.8 s of
    XLA's time at its default flags on a 2-core CPU); compiled, it is one."""
    from jaxae.tasks import MODELS

    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(kwargs.get("fun_name"))

    entry = MODELS["conv-ae"]
    task = entry.task(entry.config())
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        init_state(task, 0, small.train_images[:61])  # batch sizes no other test compiles
        compiles_compiled = list(compiles)
        init_state(task._replace(compile_init=False), 0, small.train_images[:62])
        op_by_op = len(compiles) - 1
        from jaxae.train.loop import init_states

        for _ in range(2):  # fit's init: the second reuses the first's executable (jaxae.train.programs)
            before = len(compiles)
            init_states(task, small_config(batch_size=63), small.train_images[:63])
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles_compiled == ["jit(build_state)"]
    assert op_by_op > 20  # each new operation shape
    assert len(compiles) == before
