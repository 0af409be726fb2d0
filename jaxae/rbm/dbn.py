"""Deep belief networks as functions of a stack of RBMs (Hinton, Osindero & Teh 2006).

A stack is a list of `RBMParams`, bottom first: RBM i + 1 models the hidden units of RBM i. The top
RBM may have Gaussian (linear) hidden units, the code layer of Hinton & Salakhutdinov's (2006) deep
autoencoder, and label units that join a one-hot class to its visible layer, so that `generate`
draws digits of a chosen class. `up` is the deterministic bottom-up pass; `unroll` and
`unroll_decoder` turn the stack into the parameters of `jaxae.nn.MLP` networks computing the bottom-up and
top-down passes (the start of fine-tuning).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from jaxae import rand
from jaxae.errors import ConfigError, check_count
from jaxae.rbm.energy import free_energy, hidden_logits, hidden_mean, sample_hidden, sample_visible, visible_logits
from jaxae.rbm.params import RBMParams


def recognition(params: RBMParams, n_inputs: int) -> RBMParams:
    """The layer without its label units (a top layer with K label units has n_inputs + K visible
    units; the bottom-up pass and the unrolled networks see the inputs only)."""
    if params.W.shape[0] == n_inputs:
        return params
    units = dataclasses.replace(params.units, labels=0)
    return params.replace(W=params.W[:n_inputs], b_vis=params.b_vis[:n_inputs], units=units)


def up(stack: list[RBMParams], v: jax.Array) -> list[jax.Array]:
    """The bottom-up pass: E[h | below] of every layer for v (batch, n_visible) in [0, 1] (hidden
    probabilities; a Gaussian top layer's linear activations; label units ignored)."""
    out = []
    for params in stack:
        v = hidden_mean(recognition(params, v.shape[1]), v)
        out.append(v)
    return out


def down(stack: list[RBMParams], h: jax.Array) -> jax.Array:
    """The top-down generative pass from the top layer's *visible* units h (batch, below-top size, no
    labels) to pixel probabilities, through the lower layers' weights W^T and visible biases."""
    for params in reversed(stack[:-1]):
        h = jax.nn.sigmoid(visible_logits(params, h))
    return h


def generate(key: jax.Array, stack: list[RBMParams], n: int, labels: jax.Array | None = None,
             sweeps: int = 1000) -> jax.Array:
    """Samples of a DBN (Hinton, Osindero & Teh 2006): alternating Gibbs sampling runs `sweeps` sweeps
    in the top RBM from random states, then the top-down pass turns the last p(pen | h_top) into pixel
    probabilities. When the top RBM has label units, they are clamped to one_hot(labels), so each
    sample is a digit of the chosen class.

    Args:
      key: PRNG key.
      stack: the pretrained RBMs, bottom first.
      n: how many samples (static).
      labels: (n,) int class of each sample; required exactly when the top RBM has label units.
      sweeps: Gibbs sweeps in the top RBM (static).

    Returns:
      (n, n_pixels) float32 pixel probabilities.
    """
    top = stack[-1]
    classes = top.units.labels
    n_pen = top.W.shape[0] - classes
    below = stack[-2].W.shape[1] if len(stack) > 1 else stack[0].W.shape[0]
    if n_pen != below:
        raise ConfigError(f"the top RBM has {n_pen} visible units (besides {classes} label units) but the layer "
                          f"below has {below} hidden units; pass a stack trained together, bottom first")
    if (labels is None) != (classes == 0):
        raise ConfigError(f"the top RBM has {classes} label units: pass labels (a class per sample) exactly when it "
                          "has some")
    clamp = jax.nn.one_hot(labels, classes) if classes else jnp.zeros((n, 0), jnp.float32)
    pen_params = recognition(top, n_pen)
    k0, k_run = jax.random.split(key)
    pen = jax.random.bernoulli(k0, 0.5, (n, n_pen)).astype(jnp.float32)

    def sweep(carry, i):
        pen, _ = carry
        k_h, k_v = jax.random.split(jax.random.fold_in(k_run, i))
        _, h = sample_hidden(k_h, top, jnp.concatenate([pen, clamp], axis=1))
        p_pen, pen = sample_visible(k_v, pen_params, h)
        return (pen, p_pen), None

    (_, p_pen), _ = jax.lax.scan(sweep, (pen, pen), jnp.arange(sweeps))
    return down(stack, p_pen) if len(stack) > 1 else p_pen


def _sizes(stack: list[RBMParams]) -> list[int]:
    """The input size of each layer (its visible units without labels)."""
    return [stack[0].W.shape[0]] + [p.W.shape[1] for p in stack[:-1]]


def unroll(stack: list[RBMParams]) -> dict:
    """Parameters of `jaxae.nn.MLP(features=[sizes], activation=sigmoid, final_activation=sigmoid)`
    (final_activation=None for a Gaussian code layer) whose output equals `up(stack, v)[-1]` (add a
    classifier layer on top to fine-tune). A top layer's label units are left out."""
    return {"params": {f"dense_{i}": {"kernel": p.W[:n], "bias": p.b_hid}
                       for i, (p, n) in enumerate(zip(stack, _sizes(stack)))}}


def unroll_decoder(stack: list[RBMParams]) -> dict:
    """Parameters of `MLP(features=[reversed sizes below the top, n_pixels], activation=sigmoid)` whose
    sigmoid output is the generative top-down pass from the code: layer j uses the transposed weights
    and the visible biases of RBM L - j (Hinton & Salakhutdinov 2006's unrolled decoder)."""
    layers = list(zip(stack, _sizes(stack)))[::-1]
    return {"params": {f"dense_{j}": {"kernel": p.W[:n].T, "bias": p.b_vis[:n]} for j, (p, n) in enumerate(layers)}}


def _check_bound_stack(stack: list[RBMParams]) -> None:
    for i, params in enumerate(stack, start=1):
        units = params.units
        if units.visible != "bernoulli" or units.hidden != "bernoulli" or units.labels:
            raise ConfigError(f"the DBN bound needs Bernoulli units without labels in every layer; layer {i} has "
                              f"{units}")


def lower_bound(key: jax.Array, stack: list[RBMParams], v: jax.Array, log_z: jax.Array | float,
                n_samples: int = 10) -> jax.Array:
    """An unbiased estimate of the variational lower bound on log p(v) of a DBN of Bernoulli units
    (Hinton, Osindero & Teh 2006; Salakhutdinov & Murray 2008, section 5), per example.

    With the recognition conditionals q(h_l | h_{l-1}) = prod_j sigmoid((h_{l-1} W_l + b_hid_l)_j) as the
    approximate posterior over h_1 ... h_{L-1} (h_0 = v) and the top RBM's marginal over its visible
    layer p(h_{L-1}) = exp(-F_L(h_{L-1})) / Z_L,

        log p(v) >= E_q[ sum_{l<L} log p(h_{l-1} | h_l) + H(q(h_l | h_{l-1})) - F_L(h_{L-1}) ] - log Z_L.

    The expectation is estimated from `n_samples` draws of h_1 ... h_{L-1} per example, each entropy given
    its sampled parent in closed form. A one-layer stack returns the exact -F(v) - log Z.

    Args:
      key: PRNG key of the draws.
      stack: the DBN's RBMs, bottom first, all Bernoulli, no label units.
      v: (batch, n_visible) binary data.
      log_z: log Z of the top RBM (e.g. `jaxae.rbm.ais.log_partition(...).log_z`).
      n_samples: draws per example (static).

    Returns:
      (batch,) estimates of the bound (their mean over a test set is the reported number).
    """
    _check_bound_stack(stack)
    n_samples = check_count("n_samples", n_samples, where="dbn.lower_bound")

    def one(k):
        x, total = v, jnp.zeros(v.shape[0], jnp.float32)
        for l, params in enumerate(stack[:-1]):
            logits = hidden_logits(params, x)
            h = rand.bernoulli(jax.random.fold_in(k, l), jax.nn.sigmoid(logits)).astype(x.dtype)
            down_logits = visible_logits(params, h)
            total += jnp.sum(x * down_logits - jax.nn.softplus(down_logits), axis=-1)  # log p(x | h)
            total += bernoulli_entropy(logits)
            x = h
        return total - free_energy(stack[-1], x)

    samples = jax.lax.map(one, jax.random.split(key, n_samples))
    return jnp.mean(samples, axis=0) - log_z


def bernoulli_entropy(logits: jax.Array) -> jax.Array:
    """The entropy of independent Bernoulli(sigmoid(logits)) units, summed over the last axis (in nats)."""
    p = jax.nn.sigmoid(logits)
    return jnp.sum(jax.nn.softplus(logits) - p * logits, axis=-1)
