"""Sparse-autoencoder parameters, their initialisation, and the geometric median that places `b_dec`."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError


class SAEParams(NamedTuple):
    """A sparse autoencoder's parameters (a pytree; gradients and optimizer traces keep this type).

    Attributes:
      W_enc: (d, n) float32 encoder.
      b_enc: (n,) float32 encoder bias.
      W_dec: (n, d) float32 decoder; row i is latent i's dictionary atom (kept at unit norm by
        `jaxae.sae.optimizer`).
      b_dec: (d,) float32 decoder bias, subtracted from the input before encoding.
      threshold: (n,) float32 JumpReLU threshold, in the activations' units (no log space): learnt by
        the straight-through estimator for JumpReLU, the running BatchTopK threshold used at inference
        for BatchTopK and Matryoshka, unused (0) for ReLU and TopK.
    """

    W_enc: jax.Array
    b_enc: jax.Array
    W_dec: jax.Array
    b_dec: jax.Array
    threshold: jax.Array


def init(key: jax.Array, d: int, width: int, b_dec: jax.Array | None = None, threshold: float = 0.0) -> SAEParams:
    """Unit-norm random atoms, the encoder their transpose (Gao et al. 2024), `b_enc` = 0.

    Args:
      key: PRNG key.
      d: input width.
      width: number of latents n.
      b_dec: (d,) initial decoder bias, e.g. `geometric_median(sample)`; zeros when None.
      threshold: initial threshold of every latent (JumpReLU: a small positive number, e.g. 0.01).
    """
    if d < 1 or width < 1:
        raise ConfigError(f"an SAE needs d >= 1 and width >= 1, got d={d} width={width}")
    if threshold < 0:
        raise ConfigError(f"the threshold must be >= 0, got {threshold}")
    atoms = jax.random.normal(key, (width, d), jnp.float32)
    atoms = atoms / jnp.linalg.norm(atoms, axis=-1, keepdims=True)
    bias = jnp.zeros((d,), jnp.float32) if b_dec is None else jnp.asarray(b_dec, jnp.float32)
    if bias.shape != (d,):
        raise ConfigError(f"b_dec must have shape ({d},), got {tuple(bias.shape)}")
    return SAEParams(W_enc=atoms.T, b_enc=jnp.zeros((width,), jnp.float32), W_dec=atoms, b_dec=bias,
                     threshold=jnp.full((width,), threshold, jnp.float32))


def geometric_median(x: jax.Array, iterations: int = 100, eps: float = 1e-8) -> jax.Array:
    """The point minimising the sum of Euclidean distances to the rows of x (Weiszfeld's iteration).

    Args:
      x: (m, d) float samples.
      iterations: fixed number of Weiszfeld steps (compiled as one `lax.fori_loop`), started at the mean.
      eps: floor on a distance, so a row at the current estimate does not divide by zero.

    Returns:
      (d,) float32.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ConfigError(f"geometric_median takes an (m, d) sample with m >= 1, got shape {tuple(x.shape)}")

    def step(_, y):
        w = 1.0 / jnp.maximum(jnp.linalg.norm(x - y, axis=-1), eps)
        return (w @ x) / jnp.sum(w)

    return jax.lax.fori_loop(0, iterations, step, jnp.mean(x, axis=0))
