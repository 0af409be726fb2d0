"""The VAE's math as functions of (model, params, x): exact oracles on a 1-D latent model, vmap over
parameter sets, the continuous Bernoulli."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import vae
from jaxae.likelihood import importance_nll


def tiny():
    """A 4-pixel VAE with a 1-D latent (its marginal can be integrated), the 16 binary patterns, and
    parameters whose proposal keeps the importance weights bounded."""
    model = vae.VAE(hidden=(8,), latent=1, n_features=4)
    x = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=4)), jnp.float32).reshape(16, 2, 2)
    params = model.init(jax.random.split(jax.random.PRNGKey(3))[0], x, jnp.zeros((16, 1)))["params"]
    params = jax.tree.map(lambda p: 3.0 * p, params)  # sharper decoder: a non-trivial marginal
    # proposal q(z|x) = N(0, 1.5^2) for every x: wider than the prior, so importance weights stay bounded
    params["mean"] = jax.tree.map(jnp.zeros_like, params["mean"])
    params["log_var"] = {"kernel": jnp.zeros_like(params["log_var"]["kernel"]),
                         "bias": jnp.full_like(params["log_var"]["bias"], 2 * math.log(1.5))}
    return model, params, x


def exact_log_marginal(model, params, x):
    """log p(x) = log ∫ N(z; 0, 1) p(x | z) dz by the trapezoid rule on [-10, 10] (1-D latent)."""
    z = jnp.linspace(-10.0, 10.0, 20001)[:, None]
    logits, _ = vae.decode(model, params, z)  # (grid, 4)
    flat = x.reshape(x.shape[0], -1)
    log_px_z = vae.log_likelihood("bernoulli", logits[:, None, :], flat[None], jnp.zeros(()))  # (grid, n)
    z = np.asarray(z, np.float64)
    integrand = np.exp(np.asarray(log_px_z, np.float64) - 0.5 * (z**2 + math.log(2 * math.pi)))
    return np.log(np.trapezoid(integrand, z[:, 0], axis=0))  # float64 sum


def test_is_nll_matches_exact_marginal_on_tiny_model():
    model, params, x = tiny()
    exact = exact_log_marginal(model, params, x)
    assert abs(np.exp(exact).sum() - 1.0) < 1e-5  # the 16 patterns' probabilities sum to 1
    # fixed key; at k = 50,000 the estimator's spread here is below 0.01 nats per pattern
    log_weights = lambda key, p, xs, k: vae.log_weights(key, model, p, xs, k)  # noqa: E731
    nll = importance_nll(jax.random.PRNGKey(0), log_weights, params, x, k=50_000, chunk=5_000)
    np.testing.assert_allclose(nll, -exact, atol=0.02)
    assert abs(float(np.mean(nll + exact))) < 0.01


def test_iwae_with_one_sample_is_the_elbo_estimate_for_the_same_sample():
    model, params, x = tiny()
    key = jax.random.PRNGKey(7)
    lw = vae.log_weights(key, model, params, x, 1)[0]
    bound = vae.iwae_bound(key, model, params, x, 1)
    mean, log_var = vae.encode(model, params, x)
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, (1,) + mean.shape)
    logits, _ = vae.decode(model, params, z[0])
    rec = vae.log_likelihood("bernoulli", logits, x.reshape(16, -1), jnp.zeros(()))
    kl_sample = vae.log_normal(z[0], mean, log_var) - vae.log_normal(z[0], 0.0, jnp.zeros(()))
    np.testing.assert_allclose(bound, rec - kl_sample, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lw, rec - kl_sample, rtol=1e-5, atol=1e-5)


def test_iwae_bound_tightens_with_k():
    """E[log mean of k weights] grows with k: estimated from 20,000 samples split into groups of k."""
    model, params, x = tiny()
    lw = vae.log_weights(jax.random.PRNGKey(1), model, params, x, 20_000)  # (20000, 16)
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


def test_elbo_terms_are_the_analytic_kl_and_the_sampled_reconstruction():
    model, params, x = tiny()
    key = jax.random.PRNGKey(2)
    rec, kl = vae.elbo_terms(key, model, params, x, k=3)
    mean, log_var = vae.encode(model, params, x)
    z = vae.sample_latent(key, mean, log_var, 3)
    logits, _ = vae.decode(model, params, z)
    expected = jnp.mean(vae.log_likelihood("bernoulli", logits, x.reshape(16, -1), jnp.zeros(())), axis=0)
    np.testing.assert_allclose(rec, expected, rtol=1e-6)
    var = jnp.exp(log_var)
    np.testing.assert_allclose(kl, jnp.sum(0.5 * (var + mean**2 - 1.0) - 0.5 * log_var, axis=-1), rtol=1e-6)


def test_iwae_bound_vmaps_over_parameter_sets():
    """A researcher's sweep: three parameter sets stacked on a leading axis, one vmapped, jitted call;
    each row equals the bound of its own parameters computed alone."""
    model, params, x = tiny()
    stacked = jax.tree.map(lambda p: jnp.stack([p, 0.5 * p, 2.0 * p]), params)
    key = jax.random.PRNGKey(4)
    bounds = jax.jit(jax.vmap(lambda p: vae.iwae_bound(key, model, p, x, 8)))(stacked)
    assert bounds.shape == (3, 16)
    for i, scale in enumerate((1.0, 0.5, 2.0)):
        alone = vae.iwae_bound(key, model, jax.tree.map(lambda p: scale * p, params), x, 8)
        np.testing.assert_allclose(bounds[i], alone, rtol=1e-5, atol=1e-5)
    # and gradients flow through it (reparameterisation)
    grads = jax.grad(lambda p: -jnp.mean(vae.iwae_bound(key, model, p, x, 8)))(params)
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
