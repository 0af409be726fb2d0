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
from jaxae.sae import metrics as sae_metrics
from jaxae.sae.params import SAEParams


class SAEOutput(NamedTuple):
    """What a forward pass produced: acts (batch, n), recon (batch, d), pre (batch, n) float32, and
    fired (n,) bool, the latents active for at least one example of the batch."""

    acts: jax.Array
    recon: jax.Array
    pre: jax.Array
    fired: jax.Array


def squared_error(x: jax.Array, recon: jax.Array) -> jax.Array:
    """(batch,) sum over d of (x - recon)^2."""
    return jnp.sum(jnp.square(x - recon), axis=-1)


def _pre(params: SAEParams, x: jax.Array) -> jax.Array:
    """pre_activations written x @ W_enc - b_dec @ W_enc + b_enc: the same numbers, but b_dec's
    gradient is then a vector-matrix product instead of a second (batch, n) x (n, d) one."""
    _, d = x.shape
    if params.W_enc.shape[0] != d:
        raise ConfigError(f"this SAE takes inputs of width {params.W_enc.shape[0]}, got (batch, {d})")
    return x @ params.W_enc - (params.b_dec @ params.W_enc + (-params.b_enc))


@jax.custom_vjp
def _kept(values: jax.Array, index: jax.Array, x: jax.Array, W_enc: jax.Array, bias: jax.Array) -> jax.Array:
    """TopK's kept activations `values` (batch, k), which must be relu(x @ W_enc + bias) at the columns
    `index` of each row (or 0 for a rank masked out), returned as they are, with their gradient to
    x, W_enc and bias written out: the cotangents of the positive entries are scattered into an
    (n, batch) array, so that both products contract over its rows. On the 2-core CPU, W_enc's
    product (1,024 x 1,024 x 256) then takes about 2.7 ms, against 4-5 ms in the (batch, n) form
    autodiff builds from lax.top_k's gradient."""
    return values


def _kept_fwd(values, index, x, W_enc, bias):
    return values, (values, index, x, W_enc)


def _kept_bwd(saved, g):
    values, index, x, W_enc = saved
    batch, n = x.shape[0], W_enc.shape[1]
    g_t = jnp.zeros((n, batch), g.dtype).at[index, jnp.arange(batch)[:, None]].add(jnp.where(values > 0, g, 0.0))
    # The barrier keeps XLA from folding the transpose into the product, which would make it the slow form.
    g_w = jax.lax.optimization_barrier(g_t @ x)
    return None, None, (W_enc @ g_t).T, g_w.T, jnp.sum(g_t, axis=1)


_kept.defvjp(_kept_fwd, _kept_bwd)


@jax.custom_vjp
def _gather_decode(values: jax.Array, index: jax.Array, W: jax.Array) -> jax.Array:
    """(batch, d): row b is sum_j values[b, j] * W[index[b, j]], for values, index (batch, k). Its
    gradient is written out: to values a gather, to W one dense (n, batch) x (batch, d) product of
    the values scattered into an (n, batch) array, which XLA:CPU runs faster than autodiff's
    scatter-add of the gathered rows or a product contracting over the columns of a (batch, n) one."""
    return jnp.einsum("bk,bkd->bd", values, W[index])


def _gather_decode_fwd(values, index, W):
    return _gather_decode(values, index, W), (values, index, W)


def _gather_decode_bwd(saved, g):
    values, index, W = saved
    batch, _ = values.shape
    acts_t = jnp.zeros((W.shape[0], batch), values.dtype).at[index, jnp.arange(batch)[:, None]].add(values)
    return jnp.einsum("bd,bkd->bk", g, W[index]), None, acts_t @ g


_gather_decode.defvjp(_gather_decode_fwd, _gather_decode_bwd)


def _topk_output(params, x, k, k_max) -> tuple[SAEOutput, jax.Array]:
    """TopK's forward pass, decoding only the k kept latents of each example; and those latents'
    values (batch, k)."""
    pre = _pre(params, x)
    values, index = encoders.top_k(jax.lax.stop_gradient(pre), k, k_max)
    values = _kept(values, index, x, params.W_enc, params.b_enc - params.b_dec @ params.W_enc)
    batch, n = pre.shape
    acts = jnp.zeros_like(pre).at[jnp.arange(batch)[:, None], index].set(values)
    fired = jnp.zeros((n,), bool).at[index.reshape(-1)].max(values.reshape(-1) != 0)
    return SAEOutput(acts, _gather_decode(values, index, params.W_dec) + params.b_dec, pre, fired), values


def auxk_loss(params: SAEParams, x: jax.Array, recon: jax.Array, dead: jax.Array) -> jax.Array:
    """The AuxK loss (Gao et al. 2024, App. A.2, as SAELens computes it): the top d // 2 pre-activations
    of dead latents reconstruct the residual x - recon (held fixed) through W_dec without bias; scaled
    by min(#dead / (d // 2), 1), so 0 when no latent is dead. (`jaxae.sae.estimator(..., aux=...)`
    skips computing it in the steps where no latent is dead.)"""
    batch, d = x.shape
    pre = _pre(params, x)
    k_aux = min(max(d // 2, 1), pre.shape[-1])
    residual = jax.lax.stop_gradient(x - recon)
    chosen, index = jax.lax.top_k(jnp.where(dead, pre, -jnp.inf), k_aux)
    values = jnp.where(jnp.isfinite(chosen), chosen, 0.0)  # fewer dead latents than k_aux
    aux = jnp.zeros_like(pre).at[jnp.arange(batch)[:, None], index].set(values) @ params.W_dec
    scale = jnp.minimum(jnp.sum(dead) / k_aux, 1.0)
    return scale * jnp.mean(squared_error(residual, aux))


def _aux(params, x, out, dead, coefficient):
    return coefficient * auxk_loss(params, x, out.recon, dead) if coefficient else jnp.zeros((), x.dtype)


def _dense_output(params, x, acts, pre):
    return SAEOutput(acts, encoders.decode(params, acts), pre, jnp.any(acts != 0, axis=0))


def _base_metrics(x, out, kept=None):
    """MSE and L0, counted in `kept` (batch, k) when given (TopK's kept values: no dense scatter)."""
    mse = jnp.mean(squared_error(x, out.recon))
    return mse, {"mse": mse, "l0": jnp.mean(sae_metrics.l0(out.acts if kept is None else kept))}


def l1_loss(params: SAEParams, x: jax.Array, l1_coefficient: float, dead: jax.Array | None = None):
    """ReLU SAE: MSE + l1_coefficient * mean over the batch of sum_i acts_i * norm(W_dec row i)."""
    del dead
    pre = encoders.pre_activations(params, x)
    out = _dense_output(params, x, jax.nn.relu(pre), pre)
    mse, metrics = _base_metrics(x, out)
    l1 = jnp.mean(out.acts @ jnp.linalg.norm(params.W_dec, axis=-1))
    loss = mse + l1_coefficient * l1
    return loss, (out, {**metrics, "l1": l1, "loss": loss})


def topk_loss(params: SAEParams, x: jax.Array, k, dead: jax.Array, aux_coefficient: float = 1.0,
              k_max: int | None = None):
    """TopK SAE: MSE + aux_coefficient * AuxK."""
    out, values = _topk_output(params, x, k, k_max)
    mse, base = _base_metrics(x, out, values)
    aux = _aux(params, x, out, dead, aux_coefficient)
    loss = mse + aux
    return loss, (out, {**base, "aux": aux, "loss": loss})


def _threshold_term(params: SAEParams, acts: jax.Array) -> tuple[jax.Array, jax.Array]:
    """0.5 * sum_i (threshold_i - m)^2 with m the batch's smallest positive activation (held fixed):
    its gradient, threshold - m, under SGD with rate 1 - decay is the EMA of m SAELens keeps."""
    positive = acts > 0
    smallest = jnp.min(jnp.where(positive, acts, jnp.inf))
    target = jax.lax.stop_gradient(jnp.where(jnp.any(positive), smallest, params.threshold))
    return 0.5 * jnp.sum(jnp.square(params.threshold - target)), smallest


def _batch_topk(params, x, k, dead, aux_coefficient, k_max):
    pre = _pre(params, x)
    acts = encoders.keep_batch_top(jax.nn.relu(pre), k, k_max)
    out = _dense_output(params, x, acts, pre)
    mse, metrics = _base_metrics(x, out)
    aux = _aux(params, x, out, dead, aux_coefficient)
    loss = mse + aux
    term, _ = _threshold_term(params, acts)
    return loss + term, out, {**metrics, "aux": aux, "loss": loss, "threshold": jnp.mean(params.threshold)}


def batch_topk_loss(params: SAEParams, x: jax.Array, k, dead: jax.Array, aux_coefficient: float = 1.0,
                    k_max: int | None = None):
    """BatchTopK SAE: MSE + aux_coefficient * AuxK, and the running threshold's term."""
    objective, out, metrics = _batch_topk(params, x, k, dead, aux_coefficient, k_max)
    return objective, (out, metrics)


def matryoshka_loss(params: SAEParams, x: jax.Array, k, widths: Sequence[int], dead: jax.Array,
                    aux_coefficient: float = 1.0, k_max: int | None = None):
    """Matryoshka BatchTopK (Bussmann et al. 2025): the BatchTopK loss plus, for each prefix width in
    `widths` below n, the MSE of the reconstruction from the first `width` latents alone."""
    n = params.W_dec.shape[0]
    widths = tuple(int(w) for w in widths)
    if not widths or any(b <= a for a, b in zip(widths, widths[1:])) or widths[0] < 1 or widths[-1] > n:
        raise ConfigError(f"matryoshka widths must rise strictly within 1..{n}, got {list(widths)}")
    loss, out, metrics = _batch_topk(params, x, k, dead, aux_coefficient, k_max)
    recon, start, inner = params.b_dec, 0, jnp.zeros(())
    for width in (w for w in widths if w < n):  # prefix reconstructions, block by block
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
    out = _dense_output(params, x, encoders.jump(pre, params.threshold, bandwidth), pre)
    mse, metrics = _base_metrics(x, out)
    l0 = jnp.sum(encoders.step(pre, params.threshold, bandwidth), axis=-1)
    penalty = jnp.mean(l0) if target_l0 is None else jnp.mean(2.0 / target_l0 * jnp.square(l0 - target_l0))
    loss = mse + l0_coefficient * penalty
    return loss, (out, {**metrics, "l0_penalty": penalty, "loss": loss, "threshold": jnp.mean(params.threshold)})
