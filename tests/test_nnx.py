"""Flax NNX modules in fit (jaxae.nnx_bridge) and parameters as safetensors (jaxae.weights)."""
import json
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file, save_file

import jaxae
from jaxae.errors import ConfigError, DataError
from jaxae.nnx_bridge import NNXModel
from jaxae.tasks import MODELS, export_run, import_params
from jaxae.tasks import vae as vae_task
from jaxae.train import TrainConfig, fit, init_state
from tests.conftest import tree_equal
from tests.nnx_example import NNXVAE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = jaxae.VAEConfig(hidden=(64,), latent=8, learning_rate=1e-3)


def nnx_model():
    return NNXModel(lambda rngs: NNXVAE(784, (64,), 8, rngs=rngs))


def as_nnx(linen_params):
    """The Linen VAE's parameters in the NNX VAE's layout (its MLPs' dense_i become list entries i)."""
    def layers(mlp):
        return {int(name.split("_")[1]): dict(p) for name, p in mlp.items()}

    return {"body": layers(linen_params["body"]), "head": layers(linen_params["head"]),
            "mean": dict(linen_params["mean"]), "log_var": dict(linen_params["log_var"])}


def test_an_nnx_vae_trains_like_the_linen_vae_from_the_same_parameters(small):
    linen = vae_task.task(CONFIG)
    start = init_state(linen, 0, small.train_images[:64]).params
    nnx_task = vae_task.task(CONFIG, module=nnx_model())
    nnx_task = nnx_task._replace(init=lambda key, x: jax.tree.map(jnp.asarray, as_nnx(start)))
    config = TrainConfig(epochs=3, batch_size=64, progress=False, eval_batch_size=128)
    a, b = fit(linen, small, config), fit(nnx_task, small, config)
    for ra, rb in zip(a.history, b.history):
        for key in ("train_loss", "test_neg_elbo", "test_kl"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-6), (ra["epoch"], key)
    np.testing.assert_allclose(b.state.params["head"][1]["kernel"], a.state.params["head"]["dense_1"]["kernel"],
                               rtol=1e-5, atol=1e-6)


def test_an_nnx_vae_trains_four_seeds_in_one_program(small):
    task = vae_task.task(CONFIG, module=nnx_model())
    result = fit(task, small, TrainConfig(epochs=1, batch_size=64, seeds=4, progress=False, eval_batch_size=128))
    kernel = result.state.params["mean"]["kernel"]
    assert kernel.shape == (4, 64, 8) and not np.allclose(kernel[0], kernel[1])
    one = fit(task, small, TrainConfig(epochs=1, batch_size=64, seed=2, progress=False, eval_batch_size=128))
    np.testing.assert_allclose(kernel[2], one.state.params["mean"]["kernel"], rtol=1e-5, atol=1e-6)


def test_state_besides_parameters_is_refused_in_one_line():
    class WithBatchNorm(nnx.Module):
        def __init__(self, rngs):
            self.dense, self.norm = nnx.Linear(4, 4, rngs=rngs), nnx.BatchNorm(4, rngs=rngs)

    with pytest.raises(ConfigError, match=r"holds state besides nnx.Param \(BatchStat at norm.mean") as e:
        NNXModel(lambda rngs: WithBatchNorm(rngs))
    assert "\n" not in str(e.value)


def test_sigkill_and_resume_of_an_nnx_run_is_bitwise_exact(tmp_path):
    def start(folder, epochs):
        code = ("import sys, jaxae; from tests.test_nnx import nnx_model, CONFIG; from jaxae.tasks import vae; "
                "d = jaxae.data.load('mnist-mini'); d = d._replace(train_images=d.train_images[:2048]); "
                f"jaxae.fit(vae.task(CONFIG, module=nnx_model()), d, jaxae.TrainConfig(epochs={epochs}, progress=False),"
                f" {str(folder)!r}, resume=True)")
        env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)

    reference, killed = start(tmp_path / "ref", 12), start(tmp_path / "run", 12)
    checkpoints, deadline = tmp_path / "run" / "checkpoints", time.monotonic() + 120
    while not (checkpoints.is_dir() and any(p.isdigit() and int(p) >= 2 for p in os.listdir(checkpoints))):
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert reference.wait() == 0, reference.communicate()
    assert max(int(p) for p in os.listdir(checkpoints) if p.isdigit()) < 12, "the run finished before it was killed"
    resumed = start(tmp_path / "run", 12)
    assert resumed.wait() == 0, resumed.communicate()
    task = vae_task.task(CONFIG, module=nnx_model())
    a, b = (jaxae.load_run(str(tmp_path / name), task=task) for name in ("ref", "run"))
    assert a.epoch == b.epoch == 12 and tree_equal(a.state, b.state)
    module = nnx_model().merge(b.state.params)  # a working nnx.Module again
    mean, log_var = module.encode(jnp.zeros((2, 784)))
    assert mean.shape == (2, 8) and np.all(np.isfinite(log_var))
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == list(range(1, 13))


def example_batches(mini):
    images = mini.train_images[:16]
    ratings = np.random.default_rng(0).integers(0, 6, (16, 40)).astype(np.uint8)
    return {"images": images, "labelled": {"image": images, "label": mini.train_labels[:16].astype(np.int32)},
            "ratings": ratings}


BUILT_IN = {  # name: (model, config options, example)
    "ae": ("ae", {}, "images"), "conv-ae": ("conv-ae", {}, "images"), "vae": ("vae", {}, "images"),
    "cvae": ("cvae", {}, "labelled"), "rbm": ("rbm", {}, "images"), "cf-rbm": ("cf-rbm", {}, "ratings"),
    "autorec": ("autorec", {}, "ratings"),
    # a DBN's layers are RBM runs: a binary one and the Gaussian-hidden top of a deep autoencoder
    "dbn-layer-gaussian": ("rbm", {"n_hidden": 30, "hidden": "gaussian", "binarize": "none"}, "images"),
}


@pytest.mark.parametrize("name", BUILT_IN)
def test_export_then_import_gives_bitwise_equal_parameters(name, mini, tmp_path):
    model, options, example = BUILT_IN[name]
    entry = MODELS[model]
    task = entry.task(entry.config(**options))
    params = init_state(task, 0, example_batches(mini)[example]).params
    path = jaxae.weights.save(str(tmp_path / "p.safetensors"), params, {"model_name": model})
    back = jaxae.weights.load(path, like=params)
    assert jax.tree.structure(back) == jax.tree.structure(params) and tree_equal(back, params)
    plain = load_file(path)  # safetensors' own NumPy loader
    assert set(plain) == set(jaxae.weights.tensor_names(params)) and jaxae.weights.metadata(path) == {"model_name": model}


def test_a_renamed_or_reshaped_tensor_is_refused_in_one_line(mini, tmp_path):
    params = init_state(MODELS["ae"].task(MODELS["ae"].config()), 0, mini.train_images[:8]).params
    tensors = load_file(jaxae.weights.save(str(tmp_path / "p.safetensors"), params))
    name = next(k for k in sorted(tensors) if tensors[k].ndim == 2)
    renamed = {("x" + k if k == name else k): v for k, v in tensors.items()}
    reshaped = {k: (v.reshape(-1) if k == name else v) for k, v in tensors.items()}
    for bad, pattern in ((renamed, f"has no tensor '{name}'"), (reshaped, f"tensor '{name}' .* is \\(\\d+,\\) float32")):
        save_file(bad, str(tmp_path / "bad.safetensors"))
        with pytest.raises(DataError, match=pattern) as e:
            jaxae.weights.load(str(tmp_path / "bad.safetensors"), like=params)
        assert "\n" not in str(e.value)


def test_jaxae_export_writes_a_run_with_its_config(tmp_path, capsys):
    from jaxae.apps.cli import main

    run = tmp_path / "ae"
    assert main(["train", "ae", "--epochs", "1", "--hidden", "32,16", "--latent", "3", "--workdir", str(run),
                 "--no-progress"]) == 0
    out = tmp_path / "ae.safetensors"
    assert main(["export", "--run", str(run), "--format", "safetensors", str(out)]) == 0
    about = json.loads(jaxae.weights.metadata(str(out))["jaxae"])
    assert about["model_name"] == "ae" and about["model"]["latent"] == 3 and about["epoch"] == 1
    loaded = jaxae.load_run(str(run))
    assert tree_equal(import_params(loaded, str(out)), loaded.state.params)
    assert export_run(loaded, str(out)) == str(out)
