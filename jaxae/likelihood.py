"""Likelihood estimates: the importance-sampled negative log-likelihood (Burda et al. 2016, eq. 8-9) of
any model that gives importance log-weights (e.g. `jaxae.vae.log_weights`)."""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxae.errors import ConfigError


def importance_nll(key: jax.Array, log_weights, params, x: jax.Array, k: int, chunk: int) -> jax.Array:
    """-log (1/k sum_i w_i) per example, the k-sample importance estimate of -log p(x).

    The k samples are drawn `chunk` at a time inside a lax.scan and combined with a running
    log-sum-exp in float32, so memory grows with `chunk`, not `k`.

    Args:
      key: PRNG key.
      log_weights: `log_weights(key, params, x, n) -> (n, batch)` log p(x, z_i) - log q(z_i | x).
      params: model parameters.
      x: (batch, ...) preprocessed inputs, or a pytree of them (e.g. images and labels).
      k: total importance samples per example; a multiple of `chunk`.
      chunk: samples per scan step.

    Returns:
      (batch,) float32 negative log-likelihood estimates in nats.
    """
    if k < 1 or chunk < 1 or k % chunk:
        raise ConfigError(f"k={k} must be a positive multiple of chunk={chunk}")

    def body(running, i):
        lw = log_weights(jax.random.fold_in(key, i), params, x, chunk).astype(jnp.float32)
        return jnp.logaddexp(running, jax.nn.logsumexp(lw, axis=0)), None

    start = jnp.full((jax.tree.leaves(x)[0].shape[0],), -jnp.inf, jnp.float32)
    total, _ = jax.lax.scan(body, start, jnp.arange(k // chunk))
    return -(total - jnp.log(jnp.float32(k)))


def dataset_nll(key: jax.Array, log_weights, params, x: Any, k: int = 5000, chunk: int = 500,
                batch_size: int = 100, progress=None) -> np.ndarray:
    """importance_nll over a whole preprocessed dataset (an array or a pytree of per-example arrays),
    `batch_size` examples at a time.

    Returns:
      (n,) float64 per-example NLL estimates; report mean and mean's standard error.
    """
    fn = jax.jit(functools.partial(importance_nll, log_weights=log_weights, k=k, chunk=chunk))
    out = []
    batches = range(0, jax.tree.leaves(x)[0].shape[0], batch_size)
    for start in (progress(batches) if progress else batches):
        part = jax.tree.map(lambda a: a[start : start + batch_size], x)  # noqa: B023
        out.append(np.asarray(fn(jax.random.fold_in(key, start), params=params, x=part)))
    return np.concatenate(out).astype(np.float64)
