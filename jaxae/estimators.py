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
from typing import NamedTuple, Protocol

import jax
import optax

from jaxae.errors import ConfigError
from jaxae.types import Batch, EstState, Metrics, Params, PRNGKey


class InitFn(Protocol):
    """`init(key, params) -> est_state`: the estimator's state for these parameters."""

    def __call__(self, key: PRNGKey, params: Params) -> EstState: ...


class EstimateFn(Protocol):
    """`estimate(key, params, batch, state) -> (grads, state, metrics)`: gradients (descent sign, the
    structure of params), the next state, and a dict of scalar metrics."""

    def __call__(self, key: PRNGKey, params: Params, batch: Batch,
                 state: EstState) -> tuple[Params, EstState, Metrics]: ...


LossFn = Callable[[PRNGKey, Params, Batch], tuple[jax.Array, Metrics]]
"""`loss_fn(key, params, batch) -> (loss, metrics)`: a scalar to minimise and a dict of scalars."""

ScheduledLossFn = Callable[[PRNGKey, Params, Batch, jax.Array], tuple[jax.Array, Metrics]]
"""`loss_fn(key, params, batch, step) -> (loss, metrics)` for losses that change with the step."""


class Estimator(NamedTuple):
    """A gradient estimator: `init(key, params)` and `estimate(key, params, batch, state)`."""

    init: InitFn
    estimate: EstimateFn


def _checked(loss_fn: Callable, name: str = "loss_fn") -> Callable:
    """loss_fn whose output is checked at trace time: (loss, metrics), a scalar and a dict."""

    def checked(*args):
        out = loss_fn(*args)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            got = type(out).__name__ if not hasattr(out, "shape") else f"an array of shape {tuple(out.shape)}"
            raise ConfigError(f"the {name} of from_loss must return (loss, metrics): a scalar and a dict of scalars "
                              f"(may be {{}}); it returned {got}")
        if jax.numpy.shape(out[0]) != ():
            raise ConfigError(f"the {name} of from_loss must return a scalar loss (e.g. a mean over the batch); its loss "
                              f"has shape {tuple(jax.numpy.shape(out[0]))}")
        return out

    return checked


def from_loss(loss_fn: LossFn) -> Estimator:
    """Wraps a differentiable loss into an Estimator with `jax.value_and_grad`.

    Args:
      loss_fn: `loss_fn(key, params, batch) -> (loss, metrics)`, loss a float32 scalar to minimise,
        metrics a dict of scalars (may be empty).

    Returns:
      An Estimator with an empty state whose metrics are `{"loss": loss, **metrics}`.

    Raises (when traced):
      ConfigError: loss_fn does not return a (scalar, dict) pair.
    """
    loss_fn = _checked(loss_fn)

    def init(key, params):
        del key, params
        return optax.EmptyState()

    def estimate(key, params, batch, state):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(key, params, batch)
        return grads, state, {"loss": loss, **metrics}

    return Estimator(init, estimate)


PRECISIONS = {"float32": jax.numpy.float32, "bfloat16": jax.numpy.bfloat16}


def with_precision(estimator: Estimator, precision: str) -> Estimator:
    """The estimator computing in `precision` ("bfloat16": mixed precision) on float32 parameters.

    The float parameters, batch and estimator state are cast to the compute type on the way in (so
    matrix products and activations run in it; `jnp` sums and means still accumulate in float32),
    the gradients, metrics and estimator state are cast back to float32, and the optimizer, its state
    and the parameters it updates stay float32. The estimator state is stored in float32 but passes
    through the compute type each step: exact for binary or one-hot PCD chains, rounded to bfloat16
    for real-valued (Gaussian) ones. Evaluation (losses, AIS, importance-sampled likelihoods) does
    not go through the estimator and stays float32.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype == jax.numpy.float32:
        return estimator

    def cast(tree, to):
        return jax.tree.map(lambda x: x.astype(to) if jax.numpy.issubdtype(x.dtype, jax.numpy.floating) else x, tree)

    def estimate(key, params, batch, state):
        grads, state, metrics = estimator.estimate(key, cast(params, dtype), cast(batch, dtype), cast(state, dtype))
        return cast(grads, jax.numpy.float32), cast(state, jax.numpy.float32), cast(metrics, jax.numpy.float32)

    return Estimator(estimator.init, estimate)


class StepCount(NamedTuple):
    """Estimator state of `from_scheduled_loss`: optimizer steps taken so far."""

    count: jax.Array  # type: ignore[assignment]  # (shadows tuple.count; the name is in old checkpoints)


def from_scheduled_loss(loss_fn: ScheduledLossFn) -> Estimator:
    """Like `from_loss` for a loss that depends on the step (KL warm-up, annealing).

    Args:
      loss_fn: `loss_fn(key, params, batch, step) -> (loss, metrics)`, step a () int32 array counting
        earlier calls (kept in the estimator state, so it is checkpointed and resumes exactly).
    """
    loss_fn = _checked(loss_fn)

    def init(key, params):
        del key, params
        return StepCount(jax.numpy.zeros((), jax.numpy.int32))

    def estimate(key, params, batch, state):
        grad_fn = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)
        (loss, metrics), grads = grad_fn(key, params, batch, state.count)
        return grads, StepCount(state.count + 1), {"loss": loss, **metrics}

    return Estimator(init, estimate)


def map_batch(estimator: Estimator, fn: Callable[[Batch], Batch]) -> Estimator:
    """The same estimator fed `fn(batch)` (e.g. ratings -> one-hot units and their mask)."""
    return Estimator(estimator.init, lambda key, params, batch, state: estimator.estimate(key, params, fn(batch), state))
