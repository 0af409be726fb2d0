"""The conditional VAE's math: its importance-sampled likelihood is log p(x | y), checked against
quadrature over a 1-D latent; each label's patterns sum to probability one."""
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import cvae, vae
from jaxae.likelihood import importance_nll


def test_is_nll_is_the_exact_conditional_marginal():
    model = cvae.CVAE(hidden=(8,), latent=1, n_features=4, classes=2)
    x = jnp.asarray(list(itertools.product([0.0, 1.0], repeat=4)), jnp.float32).reshape(16, 2, 2)
    x = jnp.concatenate([x, x])
    y = jnp.repeat(jnp.arange(2), 16)
    params = model.init(jax.random.PRNGKey(3), x, y, jnp.zeros((32, 1)))["params"]
    params = jax.tree.map(lambda p: 3.0 * p, params)
    params["mean"] = jax.tree.map(jnp.zeros_like, params["mean"])  # q(z|x,y) = N(0, 1.5^2): bounded weights
    params["log_var"] = {"kernel": jnp.zeros_like(params["log_var"]["kernel"]),
                         "bias": jnp.full_like(params["log_var"]["bias"], 2 * math.log(1.5))}
    z = jnp.linspace(-10.0, 10.0, 20001)[:, None]
    exact = []
    for label in (0, 1):
        logits, _ = cvae.decode(model, params, z, jnp.full((20001,), label))
        log_px_z = vae.log_likelihood("bernoulli", logits[:, None, :], x[:16].reshape(16, -1)[None], jnp.zeros(()))
        zz = np.asarray(z, np.float64)
        integrand = np.exp(np.asarray(log_px_z, np.float64) - 0.5 * (zz**2 + math.log(2 * math.pi)))
        exact.append(np.log(np.trapezoid(integrand, zz[:, 0], axis=0)))
        assert abs(np.exp(exact[-1]).sum() - 1.0) < 1e-5  # p(. | y) sums to one over the 16 patterns
    exact = np.concatenate(exact)
    assert np.abs(exact[:16] - exact[16:]).max() > 0.05  # the label matters

    def log_weights(key, p, batch, k):
        return cvae.log_weights(key, model, p, batch["image"], batch["label"], k)

    nll = importance_nll(jax.random.PRNGKey(0), log_weights, params, {"image": x, "label": y}, k=50_000, chunk=5_000)
    np.testing.assert_allclose(nll, -exact, atol=0.02)
