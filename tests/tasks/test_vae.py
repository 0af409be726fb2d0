import itertools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.apps.cli import main
from jaxae.errors import ConfigError, DataError
from jaxae.tasks import vae


def tiny(**kw):
    config = jaxae.VAEConfig(hidden=(8,), latent=1, binarize="none", allow_nonbinary=True, **kw)
    task = vae.task(config)
    x = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=4)), jnp.float32).reshape(16, 2, 2)
    params = task.init(jax.random.PRNGKey(3), x)
    params = jax.tree.map(lambda p: 3.0 * p, params)  # sharper decoder: a non-trivial marginal
    # proposal q(z|x) = N(0, 1.5^2) for every x: wider than the prior, so importance weights stay bounded
    params["mean"] = jax.tree.map(jnp.zeros_like, params["mean"])
    params["log_var"] = {"kernel": jnp.zeros_like(params["log_var"]["kernel"]),
                         "bias": jnp.full_like(params["log_var"]["bias"], 2 * math.log(1.5))}
    return config, task, params, x


def test_kl_warmup_scales_the_kl_term():
    _, task0, params, x = tiny()
    _, task_w, _, _ = tiny(kl_warmup=10)
    key = jax.random.PRNGKey(0)
    full = task0.estimator.estimate(key, params, x, task0.estimator.init(key, params))[2]
    warm = task_w.estimator.estimate(key, params, x, task_w.estimator.init(key, params))[2]
    # at step 0 the KL weight is 1/10: loss = -rec + kl/10 vs -rec + kl
    np.testing.assert_allclose(full["loss"] - warm["loss"], 0.9 * full["kl"], rtol=1e-5)


def test_bernoulli_decoder_refuses_grey_pixels(mini):
    task = vae.task(jaxae.VAEConfig(binarize="none"))
    with pytest.raises(DataError, match="Bernoulli decoder needs binary pixels.*--binarize dynamic"):
        jaxae.fit(task, mini, jaxae.TrainConfig(epochs=1, progress=False))


def test_grey_pixels_are_fine_for_other_decoders_or_when_allowed(small):
    for config in (jaxae.VAEConfig(binarize="none", decoder="gaussian"),
                   jaxae.VAEConfig(binarize="none", allow_nonbinary=True)):
        result = jaxae.fit(vae.task(config), small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False))
        assert np.isfinite(result.history[-1]["test_neg_elbo"])


def test_dynamic_binarization_gives_binary_training_batches(small):
    task = vae.task(jaxae.VAEConfig())
    a = task.preprocess(jax.random.PRNGKey(0), jnp.asarray(small.train_images[:64]))
    b = task.preprocess(jax.random.PRNGKey(1), jnp.asarray(small.train_images[:64]))
    assert set(np.unique(a).tolist()) == {0.0, 1.0} and not np.array_equal(a, b)


@pytest.mark.parametrize("kw, match", [
    ({"objective": "iwae", "beta": 2.0}, "elbo objective only"),
    ({"samples": 0}, "samples must be at least 1"),
    ({"decoder": "poisson"}, "decoder must be one of"),
    ({"binarize": "maybe"}, "binarize must be one of"),
    ({"arch": "rnn"}, "arch must be mlp or conv"),
])
def test_bad_vae_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        jaxae.VAEConfig(**kw)


def test_conv_vae_shapes():
    config = jaxae.VAEConfig(arch="conv")
    task, offers = vae.task(config), vae.offers(config)
    x = jnp.zeros((3, 28, 28))
    params = task.init(jax.random.PRNGKey(0), x)
    assert task.reconstruct(params, x).shape == (3, 28, 28)
    assert offers.likelihood.log_weights(jax.random.PRNGKey(0), params, x, 4).shape == (4, 3)
    assert offers.codec.decode(params, jnp.zeros((2, 20))).shape == (2, 784)


def test_train_eval_sample_cli(tmp_path, capsys):
    run = str(tmp_path / "vae")
    args = ["--hidden", "64", "--latent", "2", "--learning-rate", "1e-3", "--no-progress"]
    assert main(["train", "vae", "--epochs", "1", "--workdir", run, *args]) == 0
    assert main(["eval", "--run", run, "--k", "20", "--chunk", "10", "--limit", "50", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "IS-NLL (k=20)" in out and "over 50 test images" in out
    assert main(["sample", "--run", run]) == 0
    assert sorted(os.listdir(tmp_path / "vae" / "samples")) == ["interpolation.png", "latent_map.png", "prior.png"]
    assert os.path.exists(tmp_path / "vae" / "eval.json")


def test_eval_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", "--run", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_denoise_picture_for_dae(tmp_path, capsys):
    run = str(tmp_path / "dae")
    assert main(["train", "dae", "--epochs", "1", "--workdir", run, "--hidden", "32", "--latent", "8", "--no-progress"]) == 0
    assert main(["sample", "--run", run]) == 0
    assert "denoise.png" in os.listdir(tmp_path / "dae" / "samples")

