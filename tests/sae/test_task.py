"""`jaxae train sae`, `jaxae activations` and the SAE pictures: resume on a shard set, four SAEs in one
vmapped program, JumpReLU reaching its L0 target, activations of a model (the CLI and a user's own
Flax function) and the dictionary pictures."""
import functools
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxae
from jaxae import sae
from jaxae.apps.cli import main
from jaxae.data import activations, shards, synthetic
from jaxae.errors import DataError
from jaxae.tasks import sae as sae_task
from tests.conftest import tree_equal
from tests.data.test_shards import kill_after_a_partial_checkpoint, run_cli


@pytest.fixture(scope="module")
def vectors():
    """40,000 + 4,096 synthetic activation vectors (d 32, 128 true features) with their ground truth."""
    model = synthetic.synthetic_model(0, 32, 128, min_prob=0.02)
    x = np.concatenate([b for b, _ in synthetic.batches(0, model, 44_096, 4096)])
    return jaxae.data.Dataset(x[:40_000], None, x[40_000:], None, "synthetic"), model


def test_sigkill_mid_run_then_resume_on_a_shard_set_is_bitwise_the_uninterrupted_run(tmp_path, vectors):
    data = shards.write(str(tmp_path / "acts"), {"train": vectors[0].train_images, "test": vectors[0].test_images},
                        shard_bytes=1 << 20)
    args = ["train", "sae", "--data", f"shards:{data.path}", "--arch", "topk", "--k", "4", "--width", "64",
            "--epochs", "2", "--batch-size", "256", "--dead-window", "20", "--no-progress", "--chunk-steps", "4",
            "--checkpoint-steps", "8"]
    steps = 40_000 // 256
    kill_after_a_partial_checkpoint(args, tmp_path, steps + 8)
    resumed = run_cli(*args, "--workdir", str(tmp_path / "run"), "--resume")
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert "in epoch 2 at step" in err
    a, b = (jaxae.load_run(str(tmp_path / name)) for name in ("ref", "run"))
    assert tree_equal(a.state, b.state)  # params, Adam, the dead-latent counters, the key, the step
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [r["epoch"] for r in records] == [1, 2]


def test_four_saes_with_different_k_train_in_one_vmapped_program(vectors):
    """k as an array with a static k_max: vmap over (key, k) trains 4 TopK SAEs in one jitted scan, each
    with k latents per example and the loss curve of its own run with an int k. (Parameters are
    compared loosely: Adam turns last-bit gradient differences near 0 into steps of the learning rate.)"""
    x = jnp.asarray(vectors[0].train_images[:4096]).reshape(16, 256, 32)
    ks = jnp.array([1, 2, 4, 8])
    opt = sae.optimizer(1e-3)

    def train(key, k, k_max):
        params = sae.init(key, 32, 64)
        est = sae.estimator(functools.partial(sae.topk_loss, k=k, k_max=k_max), dead_window=5)
        state = (params, opt.init(params), est.init(key, params))

        def step(carry, batch):
            params, opt_state, est_state = carry
            grads, est_state, metrics = est.estimate(key, params, batch, est_state)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, est_state), (metrics["l0"], metrics["mse"])

        (params, _, _), curves = jax.lax.scan(step, state, x)
        return params, curves

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    stacked, (l0, mse) = jax.jit(jax.vmap(functools.partial(train, k_max=8)))(keys, ks)
    assert np.all(l0 <= ks[:, None])  # at most k per example (relu may zero a kept negative pre-activation)
    np.testing.assert_array_equal(l0[:, -1], [1, 2, 4, 8])
    assert np.all(np.diff(mse[:, -1]) < 0)  # more latents, smaller error
    for i, k in enumerate([1, 2, 4, 8]):
        alone, (_, alone_mse) = jax.jit(functools.partial(train, k=k, k_max=None))(keys[i])
        np.testing.assert_allclose(mse[i], alone_mse, rtol=1e-4, err_msg=f"k={k}")
        for name in sae.SAEParams._fields:
            np.testing.assert_allclose(getattr(stacked, name)[i], getattr(alone, name), atol=0.02, err_msg=f"k={k} {name}")


def test_jumprelu_with_an_l0_target_of_20_ends_within_10_percent_of_it(vectors):
    config = sae_task.SAEConfig(arch="jumprelu", width=256, target_l0=20.0, learning_rate=1e-3)
    model = synthetic.synthetic_model(0, 64, 512, min_prob=0.01)
    x = np.concatenate([b for b, _ in synthetic.batches(0, model, 60_000, 4096)])
    data = jaxae.data.Dataset(x[:50_000], None, x[50_000:], None, "synthetic-64")
    result = jaxae.fit(sae_task.task(config), data, jaxae.TrainConfig(epochs=8, batch_size=256, progress=False))
    first, last = result.history[0]["test_l0"], result.history[-1]["test_l0"]
    assert first > 30  # it started far from the target (threshold 0.01) and the threshold moved it there
    assert abs(last - 20.0) <= 2.0, [h["test_l0"] for h in result.history]


class Encoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        return nn.tanh(nn.Dense(12)(x.reshape(x.shape[0], -1) / 255.0))


def test_a_users_flax_function_writes_activations_in_order(tmp_path, small):
    model = Encoder()
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28)))
    written = activations.write(str(tmp_path / "acts"), model.apply, params, small, batch_size=100, dtype="float16")
    want = np.asarray(model.apply(params, jnp.asarray(small.test_images)), np.float16)
    got = np.asarray(written.splits["test"]["image"])
    assert got.dtype == np.float16
    # f ran on batches of 100, `want` on the whole split: XLA may round the two programs differently, so
    # a value can land one float16 step away (order is what this checks: a shuffled row is far off)
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3)
    np.testing.assert_array_equal(np.asarray(written.splits["train"]["label"]), small.train_labels)
    assert activations.origin(written.path)["data"] == "small"
    with pytest.raises(DataError, match="already exists"):
        activations.write(str(tmp_path / "acts"), model.apply, params, small)
    with pytest.raises(DataError, match=r"\(batch, width\)"):
        activations.write(str(tmp_path / "bad"), lambda p, x: model.apply(p, x)[:, :, None], params, small)
    assert not (tmp_path / "bad").exists()


def test_an_sae_on_activations_of_an_autoencoder_then_its_pictures(tmp_path, capsys):
    ae_run, acts, sae_run = (str(tmp_path / n) for n in ("ae", "acts", "sae"))
    assert main(["train", "ae", "--data", "mnist-mini", "--epochs", "1", "--hidden", "64", "--latent", "16",
                 "--no-progress", "--workdir", ae_run]) == 0
    assert main(["activations", "--run", ae_run, "--layer", "nope", "--out", acts]) == 2
    assert "offers no layer 'nope' (layers: code)" in capsys.readouterr().err and not os.path.exists(acts)
    assert main(["activations", "--run", ae_run, "--layer", "code", "--out", acts]) == 0
    assert main(["activations", "--run", ae_run, "--layer", "code", "--out", acts]) == 2  # never overwritten
    assert main(["train", "sae", "--data", f"shards:{acts}", "--arch", "batchtopk", "--k", "4", "--width", "32",
                 "--epochs", "1", "--batch-size", "128", "--no-progress", "--workdir", sae_run]) == 0
    capsys.readouterr()
    assert main(["sample", "--run", sae_run]) == 0
    written = capsys.readouterr().out.split()
    assert [os.path.basename(p) for p in written] == ["top_activating.png"]  # codes are not pixels: no atoms.png
    assert os.path.getsize(written[0]) > 0


def test_an_sae_on_pixels_draws_its_atoms_and_top_digits(tmp_path, capsys):
    run = str(tmp_path / "sae")
    assert main(["train", "sae", "--data", "mnist-mini", "--arch", "topk", "--k", "8", "--width", "64", "--epochs", "1",
                 "--batch-size", "128", "--no-progress", "--workdir", run]) == 0
    capsys.readouterr()
    assert main(["sample", "--run", run, "--n", "12"]) == 0
    written = capsys.readouterr().out.split()
    assert [os.path.basename(p) for p in written] == ["atoms.png", "top_activating.png"]
    from PIL import Image

    width, height = Image.open(written[1]).size
    assert height > width  # 12 rows (latents) of 1 atom + 8 digits
