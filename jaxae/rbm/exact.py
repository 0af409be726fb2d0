"""Exact log partition functions of small RBMs, by enumerating the states of one layer."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError, check_count
from jaxae.rbm.params import RBMParams

MAX_ENUMERATED = 24


def all_binary(n: int) -> jax.Array:
    """(2^n, n) float32: every binary vector of length n (n <= 24)."""
    if n > MAX_ENUMERATED:
        raise ConfigError(f"enumerating 2^{n} states is too much; exact log Z is for layers of at most "
                          f"{MAX_ENUMERATED} units")
    codes = jnp.arange(2**n, dtype=jnp.uint32)[:, None] >> jnp.arange(n, dtype=jnp.uint32)[None, :]
    return (codes & 1).astype(jnp.float32)


def _visible_log_normalizer(params: RBMParams, x: jax.Array) -> jax.Array:
    """log of the sum (or integral) over v of exp(v·x + visible bias term), per row of x (batch, n_visible)
    = b_vis + W h: what summing the visible layer out of exp(-E(v, h)) leaves, besides b_hid·h."""
    units = params.units
    if units.visible == "gaussian":  # the integral of exp(-|v - b|^2 / 2 + v·W h)
        n = x.shape[-1]
        return 0.5 * jnp.sum(x**2, axis=-1) - 0.5 * jnp.sum(params.b_vis**2) + 0.5 * n * math.log(2 * math.pi)
    if units.visible == "softmax":
        grouped = x.reshape(x.shape[0], -1, units.group)
        return jnp.sum(jax.nn.logsumexp(grouped, axis=-1), axis=-1)
    if units.labels:
        bits, labels = x[:, : -units.labels], x[:, -units.labels :]
        return jnp.sum(jax.nn.softplus(bits), axis=-1) + jax.nn.logsumexp(labels, axis=-1)
    return jnp.sum(jax.nn.softplus(x), axis=-1)


def exact_log_partition(params: RBMParams, chunk: int = 4096) -> jax.Array:
    """Exact log Z = log sum_v exp(-F(v)) by enumerating a layer of at most 24 units.

    Enumerates the hidden layer (Bernoulli hidden units; any visible type is summed or integrated
    out analytically) when it is the smaller one or the visible layer cannot be enumerated, else
    the visible layer (plain Bernoulli visible units; either hidden type). Summed in chunks of
    `chunk` states with a running log-sum-exp. For Gaussian hidden units log Z leaves out
    n_hidden * log(2 pi) / 2, as `free_energy` does, so -F(v) - log Z is the exact log-probability.

    Raises:
      ConfigError: neither layer can be enumerated (more than 24 units, or Gaussian hidden units
        with non-Bernoulli visible units).
    """
    units = params.units
    n_vis, n_hid = params.W.shape
    hidden_ok = units.hidden == "bernoulli" and n_hid <= MAX_ENUMERATED
    visible_ok = units.binary_visible and n_vis <= MAX_ENUMERATED
    if hidden_ok and (n_hid <= n_vis or not visible_ok):
        n = n_hid

        def log_weights(h):  # sum out v given h
            return h @ params.b_hid + _visible_log_normalizer(params, h @ params.W.T + params.b_vis)
    elif visible_ok:
        n = n_vis

        def log_weights(v):  # -F(v): sum (or integrate) out h given v
            logits = v @ params.W + params.b_hid
            if units.hidden == "gaussian":
                return v @ params.b_vis + 0.5 * jnp.sum(logits**2, axis=-1)
            return v @ params.b_vis + jnp.sum(jax.nn.softplus(logits), axis=-1)
    else:
        raise ConfigError(f"exact log Z enumerates a layer of at most {MAX_ENUMERATED} units (Bernoulli hidden "
                          f"units, or plain Bernoulli visible units); this RBM has {n_vis} visible and {n_hid} "
                          f"hidden units ({units}); estimate log Z with jaxae.rbm.ais instead")
    chunk = check_count("chunk", chunk, where="exact_log_partition")
    dtype = jnp.promote_types(params.W.dtype, jnp.float32)  # float64 parameters: float64 throughout
    states = all_binary(n).astype(dtype)
    pad = (-states.shape[0]) % chunk
    states = jnp.concatenate([states, jnp.zeros((pad, n), dtype)]) if pad else states
    valid = jnp.arange(states.shape[0]) < 2**n

    def body(total, i):
        s = jax.lax.dynamic_slice_in_dim(states, i * chunk, chunk)
        logits = jnp.where(jax.lax.dynamic_slice_in_dim(valid, i * chunk, chunk), log_weights(s), -jnp.inf)
        return jnp.logaddexp(total, jax.nn.logsumexp(logits)), None

    total, _ = jax.lax.scan(body, jnp.array(-jnp.inf, dtype), jnp.arange(states.shape[0] // chunk))
    return total
