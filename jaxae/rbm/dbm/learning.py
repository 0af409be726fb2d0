"""Learning a DBM: greedy pretraining with doubled weights, then joint training with a mean-field data
term and persistent chains for the model term (Salakhutdinov & Hinton 2009, sections 3.1 and 3).

The joint-training gradient (descent sign) of the negative variational bound is, for every W_l and b_l,
the model's statistics minus the data's::

    dW_l = <x_{l-1} x_l^T>_model - <mu_{l-1} mu_l^T>_data,    db_l = <x_l>_model - <mu_l>_data

with mu the mean-field posterior of each example (mu_0 = v) and the model expectations estimated by
persistent Gibbs chains. With the chains at equilibrium it is the gradient of
``-(unnormalized_bound(params, v, mu) - log Z)`` at fixed mu.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import optax

from jaxae import rand
from jaxae.errors import ConfigError, check_count
from jaxae.estimators import Estimator, StepCount
from jaxae.rbm.dbm.core import (DBMParams, DBMState, bottom_up, check_params, init_chains, mean_field,
                                mean_field_update, parity, run)
from jaxae.rbm.params import RBMParams


def statistics_gradient(params: DBMParams, data: Sequence[jax.Array], model: Sequence[jax.Array]) -> DBMParams:
    """<model statistics> - <data statistics> for every weight and bias: the descent-sign gradient.

    Args:
      params: the DBM (its dtype sets the accumulation dtype, float32 at least).
      data: (v, mu_1, ..., mu_L), (n, n_l) each: the data and their posterior means.
      model: (x_0, ..., x_L), (m, n_l) each: model samples (or their conditional means); no gradient
        flows through them.

    Returns:
      A DBMParams of gradients.
    """
    model = [jax.lax.stop_gradient(x) for x in model]
    dtype = jnp.promote_types(params.weights[0].dtype, jnp.float32)
    dot = functools.partial(jnp.matmul, preferred_element_type=dtype)
    n, m = data[0].shape[0], model[0].shape[0]
    weights = tuple(dot(model[l - 1].T, model[l]) / m - dot(data[l - 1].T, data[l]) / n
                    for l in range(1, len(params.biases)))
    biases = tuple(jnp.mean(x_m, axis=0) - jnp.mean(x_d, axis=0) for x_m, x_d in zip(model, data))
    return DBMParams(weights, biases)


def model_layers(state: DBMState, even_means: Sequence[jax.Array], params: DBMParams) -> tuple[jax.Array, ...]:
    """The chains' layers with each even layer replaced by its conditional mean given the odd ones (a
    Rao-Blackwellised estimate of every pairwise statistic: each pair joins an odd and an even layer)."""
    layers = list(state.layers)
    for l, mean in zip(parity(params, odd=False), even_means):
        layers[l] = mean
    return tuple(layers)


def mean_field_pcd(k: int = 5, n_chains: int = 100, mean_field_updates: int = 10,
                   damping: float = 0.0) -> Estimator:
    """Joint training of a DBM (Salakhutdinov & Hinton 2009, Algorithm 1) as an Estimator.

    Each step: the batch's mean-field posterior from `bottom_up` (`mean_field_updates` updates), and
    `n_chains` persistent chains (the estimator state, checkpointed with the run) advanced by `k`
    Gibbs sweeps; the gradient is `statistics_gradient` of the two, the even layers of the chains
    Rao-Blackwellised (`model_layers`).

    Args:
      k: Gibbs sweeps per step (the paper: 5).
      n_chains: persistent chains (the paper: 100).
      mean_field_updates: mean-field updates per batch (the paper: 10).
      damping: mean-field damping in [0, 1).

    Batch: v (batch, n_visible) float32 in {0, 1} (re-binarise it stochastically each step for the
    paper's protocol). Metrics: "recon_error" (mean squared difference between v and p(v | mu_1)),
    "mean_field_change" (the largest change of a mean in the last update: how far from converged).
    """
    k, n_chains = check_count("k", k), check_count("n_chains", n_chains)
    mean_field_updates = check_count("mean_field_updates", mean_field_updates)
    if not 0.0 <= damping < 1.0:
        raise ConfigError(f"mean-field damping must be in [0, 1), got {damping}")

    def init(key, params):
        check_params(params)
        return init_chains(key, params, n_chains)

    def estimate(key, params, v, chains):
        if isinstance(v, tuple):
            raise ConfigError("a DBM takes a batch of binary vectors (batch, n_visible), not (v, mask) pairs")
        if mean_field_updates > 1:
            before = mean_field(params, v, mean_field_updates - 1, damping)
        else:
            before = bottom_up(params, v)
        mu = jax.lax.stop_gradient(mean_field_update(params, v, before, damping))
        chains, info = run(key, chains, params, k)
        grads = statistics_gradient(params, (v, *mu), model_layers(chains, info.even_means, params))
        p_v = jax.nn.sigmoid(mu[0] @ params.weights[0].T + params.biases[0])
        change = functools.reduce(jnp.maximum, [jnp.max(jnp.abs(a - b)) for a, b in zip(mu, before)])
        return grads, chains, {"recon_error": jnp.mean((v - p_v) ** 2),
                               "mean_field_change": jnp.asarray(change, jnp.float32)}

    return Estimator(init, estimate)


def doubled_rbm_conditionals(position: str) -> tuple[float, float]:
    """(up, down): the factors on W in p(h | v) = sigmoid(up v W + b_hid) and p(v | h) =
    sigmoid(down h W^T + b_vis) for the RBM pretrained at `position` ("bottom", "middle" or "top") of a
    DBM (Salakhutdinov & Hinton 2009, section 3.1): the bottom RBM doubles its input to the hidden
    layer, the top one doubles its input to its visible layer, a middle one both; so that each layer,
    which in the DBM hears from both neighbours, sees evidence of the right strength."""
    factors = {"bottom": (2.0, 1.0), "middle": (2.0, 2.0), "top": (1.0, 2.0), "only": (1.0, 1.0)}
    if position not in factors:
        raise ConfigError(f"position must be one of {', '.join(factors)}, got {position!r}")
    return factors[position]


def doubled_cd(k: int = 1, position: str = "bottom", k_final: int | None = None, ramp_steps: int = 0) -> Estimator:
    """CD-k for one RBM of a DBM's greedy pretraining, with the doubled weights of its `position`
    (`doubled_rbm_conditionals`): h ~ sigmoid(up v W + b_hid), v ~ sigmoid(down h W^T + b_vis).

    Works on `jaxae.rbm.RBMParams` with Bernoulli units; the gradient is <v p_h^T>_model - <v p_h^T>_data
    (and the biases' likewise), the statistics Salakhutdinov's code uses. With `k_final` and
    `ramp_steps`, the number of sweeps grows linearly from k to k_final over the first ramp_steps steps
    (the paper's CD-k with k growing; the step count is the estimator state, so resume is exact).
    Batch: v (batch, n_visible). Metrics: "recon_error", the mean squared difference between v and
    p(v | h) after one up-down pass, and "gibbs_steps".
    """
    k = check_count("k", k)
    k_final = k if k_final is None else check_count("k_final", k_final, k)
    if k_final > k and ramp_steps < 1:
        raise ConfigError(f"a CD-k ramp from {k} to {k_final} sweeps needs ramp_steps >= 1, got {ramp_steps}")
    up, down = doubled_rbm_conditionals(position)
    ramp = k_final > k

    def init(key, params):
        del key
        if not params.units.binary_visible or params.units.hidden != "bernoulli":
            raise ConfigError(f"doubled-weight pretraining is for Bernoulli RBMs, got {params.units} units")
        return StepCount(jnp.zeros((), jnp.int32)) if ramp else optax.EmptyState()

    def estimate(key, params, v, state):
        def hidden(x):
            return jax.nn.sigmoid(up * (x @ params.W) + params.b_hid)

        def sweep(i, carry):
            x, p_h, _ = carry
            k_h, k_v = jax.random.split(jax.random.fold_in(key, i))
            h = rand.bernoulli(k_h, p_h).astype(p_h.dtype)
            p_v = jax.nn.sigmoid(down * (h @ params.W.T) + params.b_vis)
            x = rand.bernoulli(k_v, p_v).astype(p_v.dtype)
            return x, hidden(x), p_v

        ph_data = hidden(v)
        first = sweep(0, (v, ph_data, v))
        if ramp:
            frac = jnp.minimum(state.count / ramp_steps, 1.0)
            n = (k + jnp.floor(frac * (k_final - k) + 1e-6)).astype(jnp.int32)
            state = StepCount(state.count + 1)
        else:
            n = jnp.asarray(k)
        v_model, ph_model, _ = jax.lax.fori_loop(1, n, sweep, first) if (ramp or k > 1) else first
        v_model = jax.lax.stop_gradient(v_model)
        batch = v.shape[0]
        grads = params.replace(W=(v_model.T @ ph_model - v.T @ ph_data) / batch,
                               b_vis=jnp.mean(v_model - v, axis=0), b_hid=jnp.mean(ph_model - ph_data, axis=0))
        return grads, state, {"recon_error": jnp.mean((v - first[2]) ** 2), "gibbs_steps": n.astype(jnp.float32)}

    return Estimator(init, estimate)


def hidden_probabilities(params: RBMParams, v: jax.Array, position: str) -> jax.Array:
    """p(h = 1 | v) of a pretraining RBM at `position` (its doubled upward weights): what the RBM above
    it trains on. (batch, n_visible) -> (batch, n_hidden)."""
    up, _ = doubled_rbm_conditionals(position)
    return jax.nn.sigmoid(up * (v @ params.W) + params.b_hid)


def positions(depth: int) -> tuple[str, ...]:
    """The pretraining positions of a DBM's L RBMs, bottom to top."""
    depth = check_count("depth", depth)
    if depth == 1:
        return ("only",)
    return ("bottom",) + ("middle",) * (depth - 2) + ("top",)


def from_rbms(rbms: Sequence[RBMParams]) -> DBMParams:
    """A DBM from RBMs pretrained with doubled weights (`doubled_rbm_conditionals` by `positions`): the
    weights are taken as they are; each hidden layer's bias is the mean of the bias it had as the
    hidden layer of the RBM below and as the visible layer of the RBM above (the top layer's is the
    top RBM's).

    Raises:
      ConfigError: the RBMs do not chain (each one's hidden width is the next one's visible width).
    """
    rbms = list(rbms)
    if not rbms:
        raise ConfigError("from_rbms needs at least one RBM")
    for i, (below, above) in enumerate(zip(rbms, rbms[1:])):
        if below.n_hidden != above.n_visible:
            raise ConfigError(f"RBM {i} has {below.n_hidden} hidden units but RBM {i + 1} has {above.n_visible} "
                              "visible ones; a DBM's RBMs must chain")
    biases = [rbms[0].b_vis]
    for below, above in zip(rbms, rbms[1:]):
        biases.append(0.5 * (below.b_hid + above.b_vis))
    biases.append(rbms[-1].b_hid)
    return DBMParams(tuple(r.W for r in rbms), tuple(biases))
