"""SAE quality metrics, as SAELens computes them.

Per-example metrics are jittable functions of arrays; `explained_variance` and `Confusion` accumulate
over batches; `mcc` and `best_matches` compare a decoder with known feature directions (the synthetic
benchmark's ground truth) and run on the host (`scipy.optimize.linear_sum_assignment`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

from jaxae.errors import ConfigError


def l0(acts: jax.Array) -> jax.Array:
    """(batch,) number of non-zero latents per example."""
    return jnp.sum(acts != 0, axis=-1).astype(jnp.float32)


def cosine(x: jax.Array, recon: jax.Array) -> jax.Array:
    """(batch,) cosine between each input and its reconstruction."""
    num = jnp.sum(x * recon, axis=-1)
    return num / jnp.maximum(jnp.linalg.norm(x, axis=-1) * jnp.linalg.norm(recon, axis=-1), 1e-12)


def shrinkage(x: jax.Array, recon: jax.Array) -> jax.Array:
    """(batch,) norm(recon) / norm(x) (below 1: the SAE shrinks its reconstructions)."""
    return jnp.linalg.norm(recon, axis=-1) / jnp.maximum(jnp.linalg.norm(x, axis=-1), 1e-12)


class VarianceSums(NamedTuple):
    """Running sums for `explained_variance`: n, sum of x (d,), sum of norm(x)^2, sum of norm(x - recon)^2
    (float64 on the host: the variance is a difference of two close numbers)."""

    n: float
    sum_x: np.ndarray
    sum_sq: float
    sum_residual: float


def variance_sums(x, recon, sums: VarianceSums | None = None) -> VarianceSums:
    """Adds a batch (x, recon: (batch, d)) to the sums (None: start new ones)."""
    x, recon = np.asarray(x, np.float64), np.asarray(recon, np.float64)
    new = VarianceSums(float(x.shape[0]), x.sum(0), float(np.square(x).sum()), float(np.square(x - recon).sum()))
    if sums is None:
        return new
    return VarianceSums(sums.n + new.n, sums.sum_x + new.sum_x, sums.sum_sq + new.sum_sq,
                        sums.sum_residual + new.sum_residual)


def explained_variance(sums: VarianceSums) -> float:
    """1 - E norm(x - recon)^2 / (E norm(x)^2 - norm(E x)^2); the fraction of variance unexplained is 1 minus it."""
    mean_x = sums.sum_x / sums.n
    total = sums.sum_sq / sums.n - float(np.square(mean_x).sum())
    return 1.0 - (sums.sum_residual / sums.n) / total


def dead_fraction(since_fired: jax.Array, window: int) -> jax.Array:
    """() fraction of latents that have not fired for more than `window` steps."""
    return jnp.mean((since_fired > window).astype(jnp.float32))


def _abs_cos(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ConfigError(f"compare (n, d) atoms with (m, d) features, got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.abs(a @ b.T)


def mcc(atoms, features) -> float:
    """Mean correlation coefficient: the one-to-one (Hungarian) matching of the decoder's rows
    (n, d) to the true features (m, d) maximising abs(cos), and the mean abs(cos) over the min(n, m) pairs."""
    cos = _abs_cos(atoms, features)
    rows, cols = linear_sum_assignment(1.0 - cos)
    return float(cos[rows, cols].mean())


def best_matches(atoms, features) -> np.ndarray:
    """(n,) int: for each decoder row, the true feature with the largest abs(cos) (SAELens's F1 pairing)."""
    return _abs_cos(atoms, features).argmax(axis=1)


class Confusion(NamedTuple):
    """Per-latent detection counts of its best-matched feature: tp, fp, fn, each (n,) float32."""

    tp: jax.Array
    fp: jax.Array
    fn: jax.Array


def confusion(acts: jax.Array, true_acts: jax.Array, matches: jax.Array, counts: Confusion | None = None) -> Confusion:
    """Adds a batch: acts (batch, n) SAE latents, true_acts (batch, m) the features' activations."""
    fires = acts != 0
    truth = true_acts[:, matches] > 0
    new = Confusion(*(jnp.sum(c, axis=0).astype(jnp.float32)
                      for c in (fires & truth, fires & ~truth, ~fires & truth)))
    return new if counts is None else Confusion(*(a + b for a, b in zip(counts, new)))


def f1(counts: Confusion) -> jax.Array:
    """() mean over latents of F1 = 2PR / (P + R), each 0 where undefined (as SAELens)."""
    tp, fp, fn = counts
    precision = jnp.where(tp + fp > 0, tp / jnp.maximum(tp + fp, 1), 0.0)
    recall = jnp.where(tp + fn > 0, tp / jnp.maximum(tp + fn, 1), 0.0)
    score = jnp.where(precision + recall > 0, 2 * precision * recall / jnp.maximum(precision + recall, 1e-12), 0.0)
    return jnp.mean(score)
