"""Gradient estimators: the one interface the trainer sees.

An estimator is shaped like an Optax transformation: a NamedTuple of two pure functions.

    init(key, params) -> est_state
    estimate(key, params, batch, est_state) -> (grads, est_state, metrics)

`grads` has the structure of `params` and points uphill on the objective being *minimised* (the
descent sign Optax expects), so any Optax chain applies unchanged. `est_state` is carried in the
TrainState and checkpointed (empty for losses; persistent chains for PCD). `metrics` is a flat dict
of scalar arrays; it should contain "loss" when the estimator has one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

Params = Any
Batch = Any
EstState = Any
Metrics = dict


class Estimator(NamedTuple):
    """A gradient estimator: `init(key, params)` and `estimate(key, params, batch, state)`."""

    init: Callable[[jax.Array, Params], EstState]
    estimate: Callable[[jax.Array, Params, Batch, EstState], tuple[Params, EstState, Metrics]]


def from_loss(loss_fn: Callable[[jax.Array, Params, Batch], tuple[jax.Array, Metrics]]) -> Estimator:
    """Wraps a differentiable loss into an Estimator with `jax.value_and_grad`.

    Args:
      loss_fn: `loss_fn(key, params, batch) -> (loss, metrics)`, loss a float32 scalar to minimise,
        metrics a dict of scalars (may be empty).

    Returns:
      An Estimator with an empty state whose metrics are `{"loss": loss, **metrics}`.
    """

    def init(key, params):
        del key, params
        return optax.EmptyState()

    def estimate(key, params, batch, state):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(key, params, batch)
        return grads, state, {"loss": loss, **metrics}

    return Estimator(init, estimate)


def adam(learning_rate: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """torch.optim.Adam(lr, weight_decay): L2 added to the gradient before Adam (not AdamW)."""
    if weight_decay:
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))
    return optax.adam(learning_rate)


class StepCount(NamedTuple):
    """Estimator state of `from_scheduled_loss`: optimizer steps taken so far."""

    count: jax.Array


def from_scheduled_loss(loss_fn: Callable[[jax.Array, Params, Batch, jax.Array], tuple[jax.Array, Metrics]]) -> Estimator:
    """Like `from_loss` for a loss that depends on the step (KL warm-up, annealing).

    Args:
      loss_fn: `loss_fn(key, params, batch, step) -> (loss, metrics)`, step a () int32 array counting
        earlier calls (kept in the estimator state, so it is checkpointed and resumes exactly).
    """

    def init(key, params):
        del key, params
        return StepCount(jax.numpy.zeros((), jax.numpy.int32))

    def estimate(key, params, batch, state):
        grad_fn = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)
        (loss, metrics), grads = grad_fn(key, params, batch, state.count)
        return grads, StepCount(state.count + 1), {"loss": loss, **metrics}

    return Estimator(init, estimate)
