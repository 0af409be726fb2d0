"""Optimizer recipes (Optax): the chapter's PyTorch Adam, linear learning-rate decay, and a
per-model learning-rate multiplier for vmapped sweeps."""
from __future__ import annotations

from typing import NamedTuple

import jax
import optax

def adam(learning_rate: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """torch.optim.Adam(lr, weight_decay): L2 added to the gradient before Adam (not AdamW)."""
    if weight_decay:
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))
    return optax.adam(learning_rate)


def linear_decay(learning_rate: float, decay_steps: int = 0, final: float = 0.0, begin: int = 0):
    """The learning rate, or with decay_steps > 0 a schedule falling linearly from it to `final` over
    `decay_steps` optimizer steps starting at step `begin` (the models' --lr-decay-steps options)."""
    if not decay_steps:
        return learning_rate
    return optax.linear_schedule(learning_rate, final, decay_steps, begin)


class ScaleState(NamedTuple):
    """State of `scale_by_model`: this model's learning-rate multiplier."""

    scale: jax.Array


def scale_by_model() -> optax.GradientTransformation:
    """Multiplies the updates by a factor kept in the optimizer state (1 at init), so that vmapped
    models can differ in learning rate: for SGD, momentum and Adam (with or without weight decay)
    scaling the final update by c is the same as scaling the learning rate (schedule) by c."""

    def init(params):
        del params
        return ScaleState(jax.numpy.ones((), jax.numpy.float32))

    def update(updates, state, params=None):
        del params
        return jax.tree.map(lambda u: u * state.scale, updates), state

    return optax.GradientTransformation(init, update)
