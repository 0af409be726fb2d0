import itertools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.cli import main
from jaxae.errors import ConfigError, DataError
from jaxae.evaluate import importance_nll
from jaxae.models import vae


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


def exact_log_marginal(config, params, x):
    """log p(x) = log ∫ N(z; 0, 1) p(x | z) dz by the trapezoid rule on [-10, 10] (1-D latent)."""
    z = jnp.linspace(-10.0, 10.0, 20001)[:, None]
    model = vae.VAE(config.hidden, 1, 4)
    logits = model.apply({"params": params}, z, method=vae.VAE.decode)  # (grid, 4)
    flat = x.reshape(x.shape[0], -1)
    log_px_z = vae.log_likelihood("bernoulli", logits[:, None, :], flat[None], jnp.zeros(()))  # (grid, n)
    z = np.asarray(z, np.float64)
    integrand = np.exp(np.asarray(log_px_z, np.float64) - 0.5 * (z**2 + math.log(2 * math.pi)))
    return np.log(np.trapezoid(integrand, z[:, 0], axis=0))  # float64 sum


def test_is_nll_matches_exact_marginal_on_tiny_model():
    config, task, params, x = tiny()
    exact = exact_log_marginal(config, params, x)
    assert abs(np.exp(exact).sum() - 1.0) < 1e-5  # the 16 patterns' probabilities sum to 1
    # fixed key; at k = 50,000 the estimator's spread here is below 0.01 nats per pattern
    nll = importance_nll(jax.random.PRNGKey(0), task.log_weights, params, x, k=50_000, chunk=5_000)
    np.testing.assert_allclose(nll, -exact, atol=0.02)
    assert abs(float(np.mean(nll + exact))) < 0.01


def test_iwae_with_one_sample_is_the_elbo_estimate_for_the_same_sample():
    config, task, params, x = tiny()
    key = jax.random.PRNGKey(7)
    lw = task.log_weights(key, params, x, 1)[0]
    bound = jax.nn.logsumexp(task.log_weights(key, params, x, 1), axis=0) - jnp.log(1.0)
    model = vae.VAE(config.hidden, 1, 4)
    mean, log_var = model.apply({"params": params}, x, method=vae.VAE.encode)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (1,) + mean.shape)
    logits = model.apply({"params": params}, z[0], method=vae.VAE.decode)
    rec = vae.log_likelihood("bernoulli", logits, x.reshape(16, -1), jnp.zeros(()))
    kl_sample = vae.log_normal(z[0], mean, log_var) - vae.log_normal(z[0], 0.0, jnp.zeros(()))
    np.testing.assert_allclose(bound, rec - kl_sample, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lw, rec - kl_sample, rtol=1e-5, atol=1e-5)


def test_iwae_bound_tightens_with_k():
    """E[log mean of k weights] grows with k: estimated from 20,000 samples split into groups of k."""
    _, task, params, x = tiny()
    lw = task.log_weights(jax.random.PRNGKey(1), params, x, 20_000)  # (20000, 16)
    bounds = [float(jnp.mean(jax.nn.logsumexp(lw.reshape(20_000 // k, k, -1), axis=1) - math.log(k)))
              for k in (1, 50, 2000)]
    assert bounds[0] < bounds[1] < bounds[2]


def test_continuous_bernoulli_density_integrates_to_one():
    x = jnp.linspace(0.0, 1.0, 100001)
    for logit in (-6.0, -1.0, -1e-4, 0.0, 2e-4, 0.7, 5.0):
        l = jnp.full_like(x, logit)
        log_p = x * l - jax.nn.softplus(l) + vae.continuous_bernoulli_log_norm(l)
        total = float(jnp.trapezoid(jnp.exp(log_p), x))
        assert total == pytest.approx(1.0, abs=1e-4), logit


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
    task = vae.task(jaxae.VAEConfig(arch="conv"))
    x = jnp.zeros((3, 28, 28))
    params = task.init(jax.random.PRNGKey(0), x)
    assert task.reconstruct(params, x).shape == (3, 28, 28)
    assert task.log_weights(jax.random.PRNGKey(0), params, x, 4).shape == (4, 3)


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
