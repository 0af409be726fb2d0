"""Pixel transforms as pure functions, usable inside jit. Inputs are uint8 in 0..255 or floats in [0, 1]."""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxae import rand
from jaxae.errors import ConfigError

Pixels = jax.Array | np.ndarray
"""The transforms return a jax.Array, or a NumPy array for a NumPy input (see `to_unit`)."""


def to_unit(x: ArrayLike) -> Pixels:
    """(…) uint8 in 0..255 or float in [0, 1] -> float32 in [0, 1].

    A NumPy array gives a NumPy array, computed by NumPy on the host (jnp's division by 255 can differ
    in the last bit, and every documented number was computed this way); anything else a jax.Array.
    """
    if not isinstance(x, (np.ndarray, jax.Array)):
        x = jnp.asarray(x)
    if x.dtype == jnp.uint8:
        return x.astype(jnp.float32) / 255.0
    return x.astype(jnp.float32)


def scale(x: ArrayLike, low: float = 0.0, high: float = 1.0) -> Pixels:
    """Affine map of pixels to [low, high]; (-1, 1) is the chapter's Normalize((0.5,), (0.5,))."""
    return low + (high - low) * to_unit(x)


def binarize(x: ArrayLike, threshold: float = 0.5) -> Pixels:
    """Static binarization: float32 1.0 where the [0, 1] pixel exceeds `threshold`, else 0.0."""
    return (to_unit(x) > threshold).astype(jnp.float32)


def dynamic_binarize(key: jax.Array, x: ArrayLike) -> jax.Array:
    """Dynamic binarization: a fresh Bernoulli(pixel) sample, float32 in {0, 1}, per call and key."""
    p = to_unit(x)
    return rand.bernoulli(key, p).astype(jnp.float32)


# Name -> fn(key, x) with x of shape (batch, ...), used by configs and the CLI.
PREPROCESSORS: dict[str, Callable[[jax.Array, jax.Array], Pixels]] = {
    "unit": lambda key, x: scale(x, 0.0, 1.0),
    "symmetric": lambda key, x: scale(x, -1.0, 1.0),
    "binary": lambda key, x: binarize(x),
    "dynamic-binary": dynamic_binarize,
}


def preprocessor(name: str) -> Callable[[jax.Array, jax.Array], Pixels]:
    """The pixel transform called `name` (see PREPROCESSORS)."""
    try:
        return PREPROCESSORS[name]
    except KeyError:
        raise ConfigError(f"unknown pixel transform {name!r}; choose one of {', '.join(PREPROCESSORS)}") from None
