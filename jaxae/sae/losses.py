"""SAE training objectives, each `loss(params, x, ..., dead) -> (objective, (SAEOutput, metrics))`.

`objective` is what to differentiate; `metrics["loss"]` is the loss a user reads (for BatchTopK and
Matryoshka the objective also holds the running threshold's quadratic term, which moves only the
threshold leaf). The reconstruction error is summed over the input's d dimensions and averaged over
the batch, as SAELens does. `dead: (n,) bool` marks the latents the AuxK loss revives.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError
from jaxae.sae import encoders
from jaxae.sae.params import SAEParams


class SAEOutput(NamedTuple):
    """What a forward pass produced: acts (batch, n), recon (batch, d), pre (batch, n) float32."""

    acts: jax.Array
    recon: jax.Array
    pre: jax.Array


def squared_error(x: jax.Array, recon: jax.Array) -> jax.Array:
    """(batch,) sum over d of (x - recon)^2."""
    return jnp.sum(jnp.square(x - recon), axis=-1)


def auxk_loss(params: SAEParams, x: jax.Array, out: SAEOutput, dead: jax.Array) -> jax.Array:
    """The AuxK loss (Gao et al. 2024, App. A.2, as SAELens computes it): the top d // 2 pre-activations
    of dead latents reconstruct the (detached) residual through W_dec without bias; scaled by
    min(#dead / (d // 2), 1), so it is 0 when no latent is dead."""
    _, d = x.shape
    k_aux = min(max(d // 2, 1), out.pre.shape[-1])
    residual = jax.lax.stop_gradient(x - out.recon)
    values, index = jax.lax.top_k(jnp.where(dead, out.pre, -jnp.inf), k_aux)
    values = jnp.where(jnp.isfinite(values), values, 0.0)  # fewer dead latents than k_aux
    rows = jnp.arange(x.shape[0])[:, None]
    aux = jnp.zeros_like(out.pre).at[rows, index].set(values) @ params.W_dec
    scale = jnp.minimum(jnp.sum(dead) / k_aux, 1.0)
    return scale * jnp.mean(squared_error(residual, aux))


def _forward(params, x, acts, pre):
    return SAEOutput(acts, encoders.decode(params, acts), pre)


def _base_metrics(x, out):
    mse = jnp.mean(squared_error(x, out.recon))
    return mse, {"mse": mse, "l0": jnp.mean(jnp.sum(out.acts != 0, axis=-1).astype(jnp.float32))}


def l1_loss(params: SAEParams, x: jax.Array, l1_coefficient: float, dead: jax.Array | None = None):
    """ReLU SAE: MSE + l1_coefficient * mean over the batch of sum_i acts_i * |W_dec row i|."""
    del dead
    pre = encoders.pre_activations(params, x)
    out = _forward(params, x, jax.nn.relu(pre), pre)
    mse, metrics = _base_metrics(x, out)
    l1 = jnp.mean(out.acts @ jnp.linalg.norm(params.W_dec, axis=-1))
    loss = mse + l1_coefficient * l1
    return loss, (out, {**metrics, "l1": l1, "loss": loss})


def topk_loss(params: SAEParams, x: jax.Array, k, dead: jax.Array, aux_coefficient: float = 1.0,
              k_max: int | None = None):
    """TopK SAE: MSE + aux_coefficient * AuxK."""
    pre = encoders.pre_activations(params, x)
    out = _forward(params, x, encoders.keep_top(pre, k, k_max), pre)
    mse, metrics = _base_metrics(x, out)
    aux = auxk_loss(params, x, out, dead)
    loss = mse + aux_coefficient * aux
    return loss, (out, {**metrics, "aux": aux, "loss": loss})


def _threshold_term(params: SAEParams, acts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """0.5 * sum_i (threshold_i - m)^2 with m the batch's smallest positive activation (held fixed):
    its gradient, threshold - m, under SGD with rate 1 - decay is the EMA of m SAELens keeps."""
    positive = acts > 0
    smallest = jnp.min(jnp.where(positive, acts, jnp.inf))
    target = jax.lax.stop_gradient(jnp.where(jnp.any(positive), smallest, params.threshold))
    return 0.5 * jnp.sum(jnp.square(params.threshold - target)), smallest


def batch_topk_loss(params: SAEParams, x: jax.Array, k, dead: jax.Array, aux_coefficient: float = 1.0,
                    k_max: int | None = None):
    """BatchTopK SAE: MSE + aux_coefficient * AuxK, and the running threshold's term."""
    pre = encoders.pre_activations(params, x)
    batch, n = pre.shape
    flat_max = None if k_max is None else batch * k_max
    acts = encoders.keep_top(jax.nn.relu(pre).reshape(1, batch * n), batch * k, flat_max).reshape(batch, n)
    out = _forward(params, x, acts, pre)
    mse, metrics = _base_metrics(x, out)
    aux = auxk_loss(params, x, out, dead)
    loss = mse + aux_coefficient * aux
    term, _ = _threshold_term(params, acts)
    return loss + term, (out, {**metrics, "aux": aux, "loss": loss, "threshold": jnp.mean(params.threshold)})


def matryoshka_loss(params: SAEParams, x: jax.Array, k, widths: Sequence[int], dead: jax.Array,
                    aux_coefficient: float = 1.0, k_max: int | None = None):
    """Matryoshka BatchTopK (Bussmann et al. 2025): the BatchTopK loss plus, for each prefix width in
    `widths` below n, the MSE of the reconstruction from the first `width` latents alone."""
    n = params.W_dec.shape[0]
    widths = tuple(int(w) for w in widths)
    if not widths or any(b <= a for a, b in zip(widths, widths[1:])) or widths[0] < 1 or widths[-1] > n:
        raise ConfigError(f"matryoshka widths must rise strictly within 1..{n}, got {list(widths)}")
    loss, (out, metrics) = batch_topk_loss(params, x, k, dead, aux_coefficient, k_max)
    recon, start, inner = params.b_dec, 0, jnp.zeros(())
    for width in (w for w in widths if w < n):
        recon = recon + out.acts[:, start:width] @ params.W_dec[start:width]
        inner = inner + jnp.mean(squared_error(x, recon))
        start = width
    metrics = {**metrics, "inner_mse": inner, "loss": metrics["loss"] + inner}
    return loss + inner, (out, metrics)


def jumprelu_loss(params: SAEParams, x: jax.Array, l0_coefficient: float, bandwidth: float = 0.05,
                  target_l0: float | None = None, dead: jax.Array | None = None):
    """JumpReLU SAE (Rajamanoharan et al. 2024): MSE + l0_coefficient * mean L0 (straight-through
    gradients to the threshold), or with `target_l0` the quadratic penalty around it,
    mean over examples of 2 / target * (L0 - target)^2 (Gemma Scope 2, as SAELens's "quadratic")."""
    del dead
    if bandwidth <= 0 or (target_l0 is not None and target_l0 <= 0):
        raise ConfigError(f"bandwidth and target_l0 must be > 0, got {bandwidth} and {target_l0}")
    pre = encoders.pre_activations(params, x)
    out = _forward(params, x, encoders.jump(pre, params.threshold, bandwidth), pre)
    mse, metrics = _base_metrics(x, out)
    l0 = jnp.sum(encoders.step(pre, params.threshold, bandwidth), axis=-1)
    penalty = jnp.mean(l0) if target_l0 is None else jnp.mean(2.0 / target_l0 * jnp.square(l0 - target_l0))
    loss = mse + l0_coefficient * penalty
    return loss, (out, {**metrics, "l0_penalty": penalty, "loss": loss, "threshold": jnp.mean(params.threshold)})
