"""The partition function of a DBM: exact (enumerating the odd layers) and by annealed importance sampling.

Given the odd layers (h1, h3, ...) the even ones (v, h2, ...) are independent, so they sum out
analytically (Salakhutdinov & Hinton 2009, section 4.2)::

    log p*(x_odd) = sum_{odd l} b_l·x_l + sum_{even l} sum_i softplus(b_l + x_{l-1} W_l + x_{l+1} W_{l+1}^T)_i

AIS runs on the odd layers alone: intermediate distributions p*_beta(x_odd) are those of the DBM with
every parameter multiplied by beta, the visible biases mixed with base-rate biases b_A as
``(1 - beta) b_A + beta b_0`` (Salakhutdinov & Murray 2008's base model; b_A = 0 is the uniform one of
Salakhutdinov's code). The base model (beta = 0) has v ~ Bernoulli(sigmoid(b_A)) and every hidden unit
uniform, so log Z_A = sum softplus(b_A) + (n_1 + ... + n_L) log 2. Each transition is one blocked Gibbs
sweep at beta (even layers given odd, then odd given even), which leaves p_beta(x_odd) invariant.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError, check_count
from jaxae.rbm.ais import AISResult, from_log_weights, temperatures
from jaxae.rbm.dbm.core import DBMParams, check_params, check_visible, layer_logits, parity
from jaxae.rbm.exact import MAX_ENUMERATED, all_binary


def odd_log_weight(params: DBMParams, layers: list, beta=1.0, b_a: jax.Array | None = None,
                   v: jax.Array | None = None) -> jax.Array:
    """log p*_beta(x_odd): the even layers summed out, per row of the odd layers.

    Args:
      params: the DBM.
      layers: a list of L + 1 entries whose odd entries are (batch, n_l) states; even entries are ignored.
      beta: inverse temperature (every parameter times beta).
      b_a: (n_visible,) base-rate visible biases mixed in as (1 - beta) b_A; None for 0.
      v: (batch, n_visible) to clamp the visible layer instead of summing it out (then the result is
        log sum over the even hidden layers of exp(-E(v, x_odd, ...)), at beta).

    Returns:
      (batch,) in the parameters' dtype.
    """
    total = beta * sum(layers[l] @ params.biases[l] for l in parity(params, odd=True))
    for l in parity(params, odd=False):
        logits = beta * layer_logits(params, layers, l)
        if l == 0 and v is not None:
            total = total + jnp.sum(v * logits, axis=-1)
            continue
        if l == 0 and b_a is not None:
            logits = logits + (1.0 - beta) * b_a
        total = total + jnp.sum(jax.nn.softplus(logits), axis=-1)
    return total


def _odd_sizes(params: DBMParams) -> list[int]:
    return [params.sizes[l] for l in parity(params, odd=True)]


def _split_odd(params: DBMParams, states: jax.Array) -> list:
    """(n_states, sum of odd widths) -> a layer list with the odd layers filled in (even ones None)."""
    layers: list = [None] * (params.depth + 1)
    start = 0
    for l in parity(params, odd=True):
        layers[l] = states[:, start:start + params.sizes[l]]
        start += params.sizes[l]
    return layers


def _enumerate(params: DBMParams, log_weight, chunk: int) -> jax.Array:
    """logsumexp over every state of the odd layers of log_weight(layers) -> (n_states, ...) in chunks."""
    n = sum(_odd_sizes(params))
    if n > MAX_ENUMERATED:
        raise ConfigError(f"exact log Z enumerates the odd layers, here {n} units; at most {MAX_ENUMERATED} can be "
                          "enumerated: estimate log Z with jaxae.rbm.dbm.log_partition (AIS) instead")
    chunk = check_count("chunk", chunk, where="dbm.exact_log_partition")
    dtype = jnp.promote_types(params.weights[0].dtype, jnp.float32)
    states = all_binary(n).astype(dtype)
    pad = (-states.shape[0]) % chunk
    valid = jnp.arange(states.shape[0] + pad) < states.shape[0]
    states = jnp.concatenate([states, jnp.zeros((pad, n), dtype)]) if pad else states

    def body(total, i):
        s = jax.lax.dynamic_slice_in_dim(states, i * chunk, chunk)
        w = log_weight(_split_odd(params, s))
        keep = jax.lax.dynamic_slice_in_dim(valid, i * chunk, chunk).reshape((chunk,) + (1,) * (w.ndim - 1))
        return jnp.logaddexp(total, jax.nn.logsumexp(jnp.where(keep, w, -jnp.inf), axis=0)), None

    shape = jax.eval_shape(lambda: log_weight(_split_odd(params, states[:chunk]))).shape[1:]
    total, _ = jax.lax.scan(body, jnp.full(shape, -jnp.inf, dtype), jnp.arange(states.shape[0] // chunk))
    return total


def exact_log_partition(params: DBMParams, chunk: int = 4096) -> jax.Array:
    """Exact log Z of a small DBM: the odd layers (at most 24 units in all) enumerated, the even ones
    summed out. The oracle for `log_partition` and the lower bound in the tests.

    Raises:
      ConfigError: more than 24 units in the odd layers.
    """
    check_params(params)
    return _enumerate(params, lambda layers: odd_log_weight(params, layers), chunk)


def exact_log_marginal(params: DBMParams, v: jax.Array, chunk: int = 4096) -> jax.Array:
    """Exact log p*(v) = log sum_h exp(-E(v, h)) per example, (batch,), for a DBM whose odd layers can be
    enumerated; log p(v) = exact_log_marginal - exact_log_partition."""
    check_params(params)
    check_visible(params, v)

    def log_weight(layers):  # (states, batch)
        return jax.vmap(lambda x: odd_log_weight(params, layers, v=x), out_axes=1)(v)

    return _enumerate(params, log_weight, chunk)


def _tempered_half_step(key, params: DBMParams, layers: list, odd: bool, beta, b_a) -> list:
    layers = list(layers)
    for l in parity(params, odd):
        logits = beta * layer_logits(params, layers, l)
        if l == 0:
            logits = logits + (1.0 - beta) * b_a
        layers[l] = jax.random.bernoulli(jax.random.fold_in(key, l), jax.nn.sigmoid(logits)).astype(logits.dtype)
    return layers


def log_partition(key: jax.Array, params: DBMParams, b_a: jax.Array | None = None, n_chains: int = 100,
                  n_temperatures: int = 20_000, schedule: str = "uniform") -> AISResult:
    """AIS estimate of log Z of a DBM of any depth, annealing over its odd layers (module docstring).

    Args:
      key: PRNG key.
      params: the DBM.
      b_a: (n_visible,) base-rate visible biases (`jaxae.rbm.ais.base_rate_biases` of the training data),
        or None for the uniform base model.
      n_chains: independent AIS runs (static, >= 2).
      n_temperatures: inverse temperatures in [0, 1] (static, >= 2); the paper used 20,000.
      schedule: their spacing (static): "uniform" or "salakhutdinov" (`jaxae.rbm.ais.temperatures`).

    Returns:
      AISResult (log Z, its standard error, the log weights, their effective sample size).

    Raises:
      ConfigError: fewer than 2 chains or temperatures, traced counts (mark them static under jit), or an
        unknown schedule.
    """
    n_chains = check_count("n_chains", n_chains, 2, where="dbm.log_partition")
    n_temperatures = check_count("n_temperatures", n_temperatures, 2, where="dbm.log_partition")
    check_params(params)
    dtype = jnp.promote_types(params.weights[0].dtype, jnp.float32)
    b_a = jnp.zeros((params.sizes[0],), dtype) if b_a is None else jnp.asarray(b_a, dtype)
    betas = temperatures(n_temperatures, schedule, dtype)
    k0, k_run = jax.random.split(key)
    layers: list = [None] * (params.depth + 1)
    for l in parity(params, odd=True):  # exact draws from the base model: uniform hidden units
        layers[l] = jax.random.bernoulli(jax.random.fold_in(k0, l), 0.5, (n_chains, params.sizes[l])).astype(dtype)
    odd = tuple(layers[l] for l in parity(params, odd=True))

    def unpack(odd):
        full: list = [None] * (params.depth + 1)
        for l, x in zip(parity(params, odd=True), odd):
            full[l] = x
        return full

    def body(carry, i):
        odd, log_w = carry
        layers = unpack(odd)
        log_w = log_w + odd_log_weight(params, layers, betas[i], b_a) - odd_log_weight(params, layers, betas[i - 1], b_a)
        k_even, k_odd = jax.random.split(jax.random.fold_in(k_run, i))
        layers = _tempered_half_step(k_even, params, layers, False, betas[i], b_a)
        layers = _tempered_half_step(k_odd, params, layers, True, betas[i], b_a)
        return (tuple(layers[l] for l in parity(params, odd=True)), log_w), None

    (odd, log_w), _ = jax.lax.scan(body, (odd, jnp.zeros((n_chains,), dtype)), jnp.arange(1, n_temperatures))
    log_z_a = jnp.sum(jax.nn.softplus(b_a)) + sum(params.sizes[1:]) * jnp.log(jnp.asarray(2.0, dtype))
    return from_log_weights(log_w, log_z_a)
