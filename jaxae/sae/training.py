"""Training an SAE with Optax: the estimator (dead-latent counts in its state) and the optimizer
(Adam with the decoder's rows kept at unit norm and the threshold trained as its architecture needs)."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxae.errors import ConfigError
from jaxae.estimators import Estimator
from jaxae.sae.params import SAEParams


class SAEState(NamedTuple):
    """The SAE estimator's state. since_fired: (n,) int32 training steps since each latent last fired."""

    since_fired: jax.Array


def estimator(loss_fn: Callable, dead_window: int = 1000, aux: Callable | None = None) -> Estimator:
    """An Estimator for `loss_fn(params, x, dead) -> (objective, (SAEOutput, metrics))` (a loss of
    jaxae.sae.losses with its hyperparameters bound, e.g. `functools.partial(topk_loss, k=32)`).

    A latent is dead once it has not fired for more than `dead_window` steps (SAELens's
    dead_feature_window, counted in steps). `aux(params, x, recon, dead) -> scalar` (e.g. AuxK with
    its weight, `lambda p, x, r, d: c * auxk_loss(p, x, r, d)`, and the loss's own aux_coefficient 0)
    is added to the objective and differentiated only in steps where some latent is dead (a `lax.cond`
    around its whole gradient), which is what makes the common no-dead step cheap; gradients and
    values equal those of the loss with the term inside. Metrics add `dead`, the fraction of dead
    latents, and with `aux` its value `aux`.
    """
    if dead_window < 1:
        raise ConfigError(f"dead_window must be >= 1 step, got {dead_window}")

    def init(key, params):
        del key
        return SAEState(jnp.zeros(params.W_dec.shape[:1], jnp.int32))

    def estimate(key, params, batch, state):
        del key
        dead = state.since_fired > dead_window
        (objective, (out, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, batch, dead=dead)
        if aux is not None:
            recon = jax.lax.stop_gradient(out.recon)

            def with_aux(grads):
                value, aux_grads = jax.value_and_grad(aux)(params, batch, recon, dead)
                return value, jax.tree.map(jnp.add, grads, aux_grads)

            def without(grads):  # the gradients as they are: no zeros to add
                return jnp.zeros((), objective.dtype), grads

            value, grads = jax.lax.cond(jnp.any(dead), with_aux, without, grads)
            objective = objective + value
            metrics = {**metrics, "aux": value, "loss": metrics["loss"] + value}
        since = jnp.where(out.fired, 0, jnp.minimum(state.since_fired, jnp.iinfo(jnp.int32).max - 1) + 1)
        return grads, SAEState(since), {"loss": objective, **metrics, "dead": jnp.mean(dead.astype(jnp.float32))}

    return Estimator(init, estimate)


def _unit_rows(w):
    return w / jnp.maximum(jnp.linalg.norm(w, axis=-1, keepdims=True), 1e-12)


def remove_parallel_decoder_grad() -> optax.GradientTransformation:
    """Removes from each decoder row's gradient its component along the row (Bricken et al. 2023), so
    a step moves the atom along the unit sphere. Put it before the optimizer; needs `params`."""

    def update(updates, state, params=None):
        if params is None:
            raise ConfigError("remove_parallel_decoder_grad needs params: call update(grads, state, params)")
        w = _unit_rows(params.W_dec)
        g = updates.W_dec
        return updates._replace(W_dec=g - jnp.sum(g * w, axis=-1, keepdims=True) * w), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def project() -> optax.GradientTransformation:
    """Rewrites the final updates so that params + updates has unit-norm decoder rows and a threshold
    >= 0 (a projection after the optimizer; put it last)."""

    def update(updates, state, params=None):
        if params is None:
            raise ConfigError("project needs params: call update(grads, state, params)")
        w = _unit_rows(params.W_dec + updates.W_dec)
        t = jnp.maximum(params.threshold + updates.threshold, 0.0)
        return updates._replace(W_dec=w - params.W_dec, threshold=t - params.threshold), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


THRESHOLDS = ("fixed", "running", "learnt")


def optimizer(learning_rate, threshold: str = "fixed", threshold_decay: float = 0.99, b1: float = 0.9,
              b2: float = 0.999, unit_norm: bool = True) -> optax.GradientTransformation:
    """Adam for an SAE's parameters.

    Args:
      learning_rate: Adam's rate (a number or an Optax schedule).
      threshold: "fixed" (ReLU, TopK: not trained), "running" (BatchTopK, Matryoshka: SGD at rate
        1 - threshold_decay on the losses' quadratic threshold term, an exponential moving average of
        the batch's smallest kept activation), or "learnt" (JumpReLU: Adam on the straight-through
        gradient, in float32 and in the activations' units, so it moves at Adam's rate).
      unit_norm: keep the decoder's rows at unit norm (parallel gradient removed, then projected).
    """
    if threshold not in THRESHOLDS:
        raise ConfigError(f"threshold must be one of {', '.join(THRESHOLDS)}, got {threshold!r}")
    if not 0 <= threshold_decay < 1:
        raise ConfigError(f"threshold_decay must be in [0, 1), got {threshold_decay}")
    for_threshold = {"fixed": optax.set_to_zero(), "running": optax.sgd(1.0 - threshold_decay),
                     "learnt": optax.adam(learning_rate, b1, b2)}[threshold]
    labels = SAEParams._make(["adam"] * 4 + ["threshold"])  # a tree of labels, one per leaf
    main = optax.multi_transform({"adam": optax.adam(learning_rate, b1, b2), "threshold": for_threshold},
                                 lambda params: labels)
    if not unit_norm:
        return optax.chain(main, project_threshold()) if threshold != "fixed" else main
    return optax.chain(remove_parallel_decoder_grad(), main, project())


def project_threshold() -> optax.GradientTransformation:
    """Keeps params + updates's threshold >= 0 (for `unit_norm=False`)."""

    def update(updates, state, params=None):
        t = jnp.maximum(params.threshold + updates.threshold, 0.0)
        return updates._replace(threshold=t - params.threshold), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)
