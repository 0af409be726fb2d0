"""Energies, free energies and the conditional distributions of an RBM, as pure functions.

Bernoulli-Bernoulli energy (Hinton 2010, "A Practical Guide to Training RBMs", eq. 1) and free energy,
so that p(v) = exp(-F(v)) / Z::

    E(v, h) = -b_vis·v - b_hid·h - v·W·h
    F(v)    = -b_vis·v - sum_j softplus(b_hid_j + (v·W)_j)

Gaussian visible units (unit variance) use ``||v - b_vis||^2 / 2`` in place of ``-b_vis·v``; Gaussian
hidden units add ``||h||^2 / 2``, so ``h | v ~ N(b_hid + v W, 1)`` and their free-energy term is
``||b_hid + v W||^2 / 2``. Softmax groups (and label units) share the Bernoulli form: their states are
one-hot vectors.

Every function reads the unit types from `params.units` (see jaxae.rbm.units). Arrays are
(batch, n_visible) and (batch, n_hidden), in the parameters' dtype. The chapter's names stay:
`sample_hidden`, `sample_visible`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxae import rand
from jaxae.rbm.params import RBMParams, check_binary, check_hidden, check_unit_interval, check_visible


def hidden_logits(params: RBMParams, v: jax.Array) -> jax.Array:
    """(batch, n_visible) -> (batch, n_hidden) pre-activations b_hid + v W."""
    check_visible(params, v)
    return v @ params.W + params.b_hid


def visible_logits(params: RBMParams, h: jax.Array) -> jax.Array:
    """(batch, n_hidden) -> (batch, n_visible) b_vis + h W^T (the Gaussian mean for gaussian units)."""
    check_hidden(params, h)
    return h @ params.W.T + params.b_vis


def hidden_mean(params: RBMParams, v: jax.Array) -> jax.Array:
    """E[h | v], (batch, n_hidden): p(h=1 | v) for Bernoulli units, b_hid + v W for Gaussian ones."""
    logits = hidden_logits(params, v)
    return logits if params.units.hidden == "gaussian" else jax.nn.sigmoid(logits)


def sample_hidden(key: jax.Array, params: RBMParams, v: jax.Array) -> tuple[jax.Array, jax.Array]:
    """E[h | v] and a sample of h | v (Bernoulli, or unit-variance Gaussian), both (batch, n_hidden)."""
    p = hidden_mean(params, v)
    if params.units.hidden == "gaussian":
        return p, p + rand.normal(key, p.shape, p.dtype)
    return p, rand.bernoulli(key, p).astype(p.dtype)


def sample_visible(key: jax.Array, params: RBMParams, h: jax.Array,
                   mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """The mean of v | h and a sample of it, both (batch, n_visible) in the parameters' dtype.

    mask: optional (batch, n_visible) {0, 1}; masked-out units (0) are returned as 0 and so never
      reach the hidden layer (missing values, e.g. unrated movies).
    """
    units = params.units
    logits = visible_logits(params, h)
    labels = units.labels
    if labels:
        k_bits, k_label = jax.random.split(key)
        mean = jnp.concatenate([jax.nn.sigmoid(logits[:, :-labels]), jax.nn.softmax(logits[:, -labels:])], axis=1)
        sample = jnp.concatenate([rand.bernoulli(k_bits, mean[:, :-labels]).astype(mean.dtype),
                                  jax.nn.one_hot(rand.categorical(k_label, logits[:, -labels:]), labels,
                                                 dtype=mean.dtype)], axis=1)
    elif units.visible == "gaussian":
        mean, sample = logits, logits + rand.normal(key, logits.shape, logits.dtype)
    elif units.visible == "softmax":
        k = units.group
        grouped = logits.reshape(logits.shape[0], -1, k)
        mean = jax.nn.softmax(grouped, axis=-1).reshape(logits.shape)
        sample = jax.nn.one_hot(rand.categorical(key, grouped), k, dtype=mean.dtype).reshape(logits.shape)
    else:
        mean = jax.nn.sigmoid(logits)
        sample = rand.bernoulli(key, mean).astype(mean.dtype)
    if mask is not None:
        mean, sample = mean * mask, sample * mask
    return mean, sample


def _visible_term(params: RBMParams, v: jax.Array) -> jax.Array:
    """The energy's visible part per example: -b_vis·v, or |v - b_vis|^2 / 2 for Gaussian units."""
    if params.units.visible == "gaussian":
        return 0.5 * jnp.sum((v - params.b_vis) ** 2, axis=-1)
    return -(v @ params.b_vis)


def energy(params: RBMParams, v: jax.Array, h: jax.Array) -> jax.Array:
    """E(v, h) per example: v (batch, n_visible), h (batch, n_hidden) -> (batch,)."""
    check_visible(params, v)
    check_hidden(params, h)
    interaction = jnp.sum((v @ params.W) * h, axis=-1) + h @ params.b_hid
    if params.units.hidden == "gaussian":
        interaction = interaction - 0.5 * jnp.sum(h**2, axis=-1)
    return _visible_term(params, v) - interaction


def free_energy(params: RBMParams, v: jax.Array) -> jax.Array:
    """F(v) = -log sum_h exp(-E(v, h)) per example: (batch, n_visible) -> (batch,).

    For Gaussian hidden units the sum is an integral, and F leaves out its constant
    n_hidden * log(2 pi) / 2; `exact_log_partition` and AIS leave it out too, so -F(v) - log Z is the
    exact log-probability either way.

    Raises:
      DataError: v not float, not n_visible wide, or (when concrete) outside [0, 1] for 0/1 units.
    """
    check_visible(params, v)
    check_unit_interval(params, v)
    logits = hidden_logits(params, v)
    if params.units.hidden == "gaussian":
        hidden_term = 0.5 * jnp.sum(logits**2, axis=-1)
    else:
        hidden_term = jnp.sum(jax.nn.softplus(logits), axis=-1)
    return _visible_term(params, v) - hidden_term


def pseudo_log_likelihood(key: jax.Array, params: RBMParams, v: jax.Array) -> jax.Array:
    """Stochastic pseudo-log-likelihood per pixel: ``log p(v_i | v_-i) = log sigmoid(F(v~) - F(v))`` for
    one random unit i per example (``v~`` is v with unit i flipped), binary v. (batch,) float32.

    Normalised per dimension: scikit-learn's BernoulliRBM.score_samples multiplies this by
    n_features (their issue #23179); multiply by n_visible for that scale.

    Raises:
      DataError: v not float or (when concrete) not binary.
    """
    check_visible(params, v)
    if not isinstance(v, jax.core.Tracer):
        check_binary(v)
    i = rand.randint(key, (v.shape[0],), 0, v.shape[1])
    flipped = v.at[jnp.arange(v.shape[0]), i].set(1.0 - v[jnp.arange(v.shape[0]), i])
    return jax.nn.log_sigmoid(free_energy(params, flipped) - free_energy(params, v))
