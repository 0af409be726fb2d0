"""Corruption processes for denoising autoencoders: pure functions of a PRNG key.

Each takes x: (...) float32 pixels in [0, 1] and returns corrupted pixels in [0, 1] of the same shape.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxae import rand
from jaxae.errors import ConfigError


def gaussian(key: jax.Array, x: jax.Array, sigma: float) -> jax.Array:
    """Additive N(0, sigma^2) noise, clipped back to [0, 1]."""
    return jnp.clip(x + sigma * rand.normal(key, x.shape, x.dtype), 0.0, 1.0)


def masking(key: jax.Array, x: jax.Array, fraction: float) -> jax.Array:
    """Sets each pixel to 0 with probability `fraction` (Vincent et al. 2008's masking noise)."""
    return jnp.where(rand.bernoulli(key, fraction, x.shape), 0.0, x)


def salt_and_pepper(key: jax.Array, x: jax.Array, fraction: float) -> jax.Array:
    """Sets each pixel with probability `fraction` to 0 or 1, each with probability 1/2."""
    k_hit, k_value = jax.random.split(key)
    hit = rand.bernoulli(k_hit, fraction, x.shape)
    value = rand.bernoulli(k_value, 0.5, x.shape).astype(x.dtype)
    return jnp.where(hit, value, x)


NOISES: dict[str, Callable] = {"gaussian": gaussian, "masking": masking, "salt-and-pepper": salt_and_pepper}


def corruption(name: str, level: float) -> Callable[[jax.Array, jax.Array], jax.Array] | None:
    """fn(key, x) for the noise called `name` at `level` (sigma or fraction), or None for "none".

    Raises:
      ConfigError: unknown name or a level outside its range.
    """
    if name == "none":
        return None
    if name not in NOISES:
        raise ConfigError(f"unknown noise {name!r}; choose none, {', '.join(NOISES)}")
    if name == "gaussian" and not level > 0:
        raise ConfigError(f"gaussian noise needs a positive sigma, got noise_level={level}")
    if name != "gaussian" and not 0 < level < 1:
        raise ConfigError(f"{name} noise needs a fraction in (0, 1), got noise_level={level}")
    fn = NOISES[name]
    return lambda key, x: fn(key, x, level)
