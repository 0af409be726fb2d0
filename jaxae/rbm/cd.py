"""Contrastive divergence: CD-k (Hinton 2002) and persistent CD (Tieleman 2008) as gradient estimators.

`cd_gradient` is the update itself: the gradient of mean F(v_data) - mean F(v_model) with the model
samples held fixed, the negative log-likelihood gradient estimate (descent sign, so any Optax chain
applies). `cd(k)` and `pcd(k, n_chains)` wrap it as `jaxae.estimators.Estimator`s for the trainer, or
for a researcher's own `lax.scan`.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxae.errors import ConfigError, check_count
from jaxae.estimators import Estimator, StepCount
from jaxae.rbm import gibbs
from jaxae.rbm.energy import hidden_mean, sample_hidden, sample_visible
from jaxae.rbm.params import RBMParams


class Sparsity(NamedTuple):
    """The practical guide's sparsity term (section 11): target mean activation p, cost (0: off)."""

    target: float = 0.0
    cost: float = 0.0


def _check_sparsity(sparsity) -> Sparsity:
    target, cost = sparsity
    if cost < 0 or (cost and not 0 < target < 1):
        raise ConfigError(f"sparsity needs a target in (0, 1) and a cost >= 0, got target={target}, cost={cost}")
    return Sparsity(target, cost)


def cd_gradient(params: RBMParams, v_data: jax.Array, v_model: jax.Array, sparsity=(0.0, 0.0),
                ph_data: jax.Array | None = None, ph_model: jax.Array | None = None) -> RBMParams:
    """Gradient of mean F(v_data) - mean F(v_model) with the model samples held fixed: the negative
    log-likelihood gradient estimate of contrastive divergence (descent sign).

    Written out rather than differentiated: for every unit type (Bernoulli, softmax and unit-variance
    Gaussian visible units, Bernoulli and Gaussian hidden units) dF/dW = -v E[h|v]^T, dF/db_vis = -v
    (+ b_vis for Gaussian units, which cancels) and dF/db_hid = -E[h|v], so the two statistics take two
    matrix products; hidden means the sampler already computed (ph_data, ph_model) are reused.

    Args:
      params: the RBM.
      v_data: (n, n_visible) data.
      v_model: (m, n_visible) model samples (negative phase); no gradient flows through them.
      sparsity: (target p, cost). With cost > 0, adds cost * (q - p) to the hidden biases' gradient
        and cost * mean(v) (q - p) to W's, q the batch's mean p(h=1 | v) (the practical guide, section 11).
      ph_data, ph_model: E[h | v] for v_data and v_model, when already computed.

    Returns:
      The gradient, an RBMParams with the same units.
    """
    v_model = jax.lax.stop_gradient(v_model)
    if ph_data is None:
        ph_data = hidden_mean(params, v_data)
    if ph_model is None:
        ph_model = hidden_mean(params, v_model)
    n, m = v_data.shape[0], v_model.shape[0]
    # sums over the batch in float32 at least (float64 parameters keep float64)
    dot = functools.partial(jnp.matmul, preferred_element_type=jnp.promote_types(params.W.dtype, jnp.float32))
    if n == m:  # one matrix product of twice the size (measured no slower than two on CPU)
        W = dot(jnp.concatenate([v_model, v_data]).T, jnp.concatenate([ph_model, -ph_data])) / n
    else:
        W = dot(v_model.T, ph_model) / m - dot(v_data.T, ph_data) / n
    grads = params.replace(W=W, b_vis=jnp.mean(v_model, axis=0) - jnp.mean(v_data, axis=0),
                           b_hid=jnp.mean(ph_model, axis=0) - jnp.mean(ph_data, axis=0))
    target, cost = sparsity
    if cost:
        q = jnp.mean(ph_data, axis=0)
        push = cost * (q - target)
        grads = grads.replace(W=grads.W + jnp.outer(jnp.mean(v_data, axis=0), push), b_hid=grads.b_hid + push)
    return grads


def _split(batch):
    """A CD batch is v (batch, n_visible) or (v, mask) with mask 1 for observed visible units."""
    return batch if isinstance(batch, tuple) else (batch, None)


def _masked_mean(x, mask):
    if mask is None:
        return jnp.mean(x)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def cd(k: int = 1, k_final: int | None = None, ramp_steps: int = 0, sparsity=(0.0, 0.0)) -> Estimator:
    """Contrastive divergence CD-k (Hinton 2002): chains start at the data and run k Gibbs sweeps.

    Args:
      k: Gibbs sweeps per step (>= 1).
      k_final: with ramp_steps > 0, the number of sweeps grows linearly from k to k_final over the
        first ramp_steps steps (CD-T with T increasing, Carreira-Perpinan & Hinton 2005); the step
        counter lives in the estimator state, so resume is exact.
      ramp_steps: length of the ramp in optimizer steps.
      sparsity: (target, cost) of the practical guide's sparsity penalty; cost 0 turns it off.

    Batch: v (batch, n_visible), or (v, mask) with mask (batch, n_visible) in {0, 1}: masked units
    (missing values) are 0 in v, stay 0 in the chains and so never reach the hidden layer or get a
    gradient. The unit types come from the parameters. Metrics: "recon_error", the mean squared
    difference between the (observed) data and p(v | h) after one up-down pass, and "gibbs_steps".

    Keys: `split(key, 3)` gives the data's hidden draw, the first visible draw and the rest of the
    chain (sweeps after the first use `gibbs.run`'s keys from it). Since 2026-12-07; before, the first
    sweep was a Gibbs kernel call on a derived key, the same distribution but other random numbers
    and CD-1 8-10% slower on XLA:CPU (benchmarks/README.md).
    """
    k_final = k if k_final is None else k_final
    if k < 1 or k_final < k or (k_final > k and ramp_steps < 1):
        raise ConfigError(f"CD needs k >= 1 Gibbs steps (and k_final >= k with ramp_steps >= 1 for a ramp), "
                          f"got k={k}, k_final={k_final}, ramp_steps={ramp_steps}")
    sparsity = _check_sparsity(sparsity)
    ramp = k_final > k

    def init(key, params):
        del key, params
        return StepCount(jnp.zeros((), jnp.int32)) if ramp else optax.EmptyState()

    def sweeps(state):
        if not ramp:
            return jnp.asarray(k)
        frac = jnp.minimum(state.count / ramp_steps, 1.0)
        return (k + jnp.floor(frac * (k_final - k) + 1e-6)).astype(jnp.int32)

    def estimate(key, params, batch, state):
        v, mask = _split(batch)
        # the first sweep's two draws take their keys from one split: a chain of derivations
        # (split, then fold_in, then the kernel's split) cost CD-1 8-10% on XLA:CPU (benchmarks.cd_keys)
        k_hidden, k_visible, k_run = jax.random.split(key, 3)
        ph_data, h = sample_hidden(k_hidden, params, v)
        p_v, v1 = sample_visible(k_visible, params, h, mask)
        n = sweeps(state)
        if not ramp and k == 1:  # the model statistics need p(h | v1) only, not a draw
            final_v, ph_model = v1, hidden_mean(params, v1)
        else:
            ph1, h1 = sample_hidden(jax.random.fold_in(k_run, 0), params, v1)
            first, info = gibbs.GibbsState(v1, h1), gibbs.GibbsInfo(p_v, ph1)
            if ramp:  # a dynamic number of sweeps: no gradient flows through the chain, so a while loop is fine
                kernel = gibbs.build_kernel(params.units)
                rest = jax.random.fold_in(k_run, 1)  # the keys gibbs.run uses, so CD-k and the ramp agree
                final, last = jax.lax.fori_loop(
                    0, n - 1, lambda i, c: kernel(jax.random.fold_in(rest, i), c[0], params, mask), (first, info))
                state = StepCount(state.count + 1)
            else:
                final, last = gibbs.run(jax.random.fold_in(k_run, 1), first, params, k - 1, mask)
            final_v, ph_model = final.v, last.p_h
        # ph_model = p(h | final v): the model statistics need no extra matrix product
        grads = cd_gradient(params, v, final_v, sparsity, ph_data=ph_data, ph_model=ph_model)
        return grads, state, {"recon_error": _masked_mean((v - p_v) ** 2, mask),
                              "gibbs_steps": n.astype(jnp.float32)}

    return Estimator(init, estimate)


def pcd(k: int = 1, n_chains: int = 100, sparsity=(0.0, 0.0)) -> Estimator:
    """Persistent contrastive divergence (Tieleman 2008): `n_chains` chains kept in the estimator state
    (a `GibbsState`, checkpointed with it) advance k Gibbs sweeps per step and give the model samples.

    The chains start from Bernoulli(sigmoid(b_vis)) samples of the initial parameters. Batch: v
    (batch, n_visible); the chains are shared by all examples, so there is no per-example mask.
    """
    k, n_chains = check_count("k", k), check_count("n_chains", n_chains)
    sparsity = _check_sparsity(sparsity)

    def init(key, params):
        k_v, k_h = jax.random.split(key)
        n_vis = params.b_vis.shape[0]
        v = jax.random.bernoulli(k_v, jax.nn.sigmoid(params.b_vis), (n_chains, n_vis)).astype(params.b_vis.dtype)
        return gibbs.init(k_h, params, v)

    def estimate(key, params, v, chains):
        if isinstance(v, tuple):
            raise ConfigError("PCD's persistent chains are shared by all examples, so it cannot take a per-example "
                              "mask; use cd(k) for data with missing values")
        k_hidden, k_visible, k_run = jax.random.split(key, 3)
        chains, last = gibbs.run(k_run, chains, params, k)
        grads = cd_gradient(params, v, chains.v, sparsity, ph_model=last.p_h)
        _, h = sample_hidden(k_hidden, params, v)
        recon = jnp.mean((v - sample_visible(k_visible, params, h)[0]) ** 2)
        return grads, chains, {"recon_error": recon}

    return Estimator(init, estimate)
