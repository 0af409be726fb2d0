"""Likelihood estimates: the importance-sampled negative log-likelihood (Burda et al. 2016, eq. 8-9) of
any model that gives importance log-weights (e.g. `jaxae.vae.log_weights`)."""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxae.errors import ConfigError, check_count


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

    Raises:
      ConfigError: k or chunk not an int >= 1, k not a multiple of chunk, or `log_weights` not
        returning (chunk, batch) (checked by shape, before anything runs).
    """
    k, chunk = check_count("k", k, where="importance_nll"), check_count("chunk", chunk, where="importance_nll")
    if k % chunk:
        raise ConfigError(f"k={k} must be a multiple of chunk={chunk}")
    check_log_weights(log_weights, key, params, x, chunk)

    def body(running, i):
        lw = log_weights(jax.random.fold_in(key, i), params, x, chunk).astype(jnp.float32)
        return jnp.logaddexp(running, jax.nn.logsumexp(lw, axis=0)), None

    start = jnp.full((jax.tree.leaves(x)[0].shape[0],), -jnp.inf, jnp.float32)
    total, _ = jax.lax.scan(body, start, jnp.arange(k // chunk))
    return -(total - jnp.log(jnp.float32(k)))


def check_log_weights(log_weights, key: jax.Array, params, x, n: int) -> None:
    """Raises ConfigError unless `log_weights(key, params, x, n)` returns (n, batch), by shapes only
    (`jax.eval_shape`: nothing runs). When n equals the batch size a transposed (batch, n) result has
    the same shape, so the check is repeated on one example fewer."""
    batch = jax.tree.leaves(x)[0].shape[0]
    probes = [x] if batch != n or batch < 2 else [x, jax.tree.map(lambda a: a[: batch - 1], x)]
    for probe in probes:
        rows = jax.tree.leaves(probe)[0].shape[0]
        out = jax.eval_shape(lambda key, params, x: log_weights(key, params, x, n), key, params, probe)
        shape = getattr(out, "shape", None)
        if shape != (n, rows):
            hint = "; it returns (batch, k): transpose it" if shape == (rows, n) else ""
            raise ConfigError(f"log_weights(key, params, x, k) must return (k, batch) = ({n}, {rows}) log-weights, "
                              f"got {shape if shape is not None else type(out).__name__}{hint}")


def dataset_nll(key: jax.Array, log_weights, params, x: Any, k: int = 5000, chunk: int = 500,
                batch_size: int = 100, progress=None) -> np.ndarray:
    """importance_nll over a whole preprocessed dataset (an array or a pytree of per-example arrays),
    `batch_size` examples at a time.

    Returns:
      (n,) float64 per-example NLL estimates; report mean and mean's standard error.

    Raises:
      ConfigError: see `importance_nll` (k, chunk, batch_size; the shape `log_weights` returns).
    """
    batch_size = check_count("batch_size", batch_size)
    fn = jax.jit(functools.partial(importance_nll, log_weights=log_weights, k=k, chunk=chunk))
    out = []
    batches = range(0, jax.tree.leaves(x)[0].shape[0], batch_size)
    for start in (progress(batches) if progress else batches):
        part = jax.tree.map(lambda a: a[start : start + batch_size], x)  # noqa: B023
        out.append(np.asarray(fn(jax.random.fold_in(key, start), params=params, x=part)))
    return np.concatenate(out).astype(np.float64)
