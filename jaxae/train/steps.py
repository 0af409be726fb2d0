"""Pure training and evaluation functions; the loop jits them (see loop.py).

Random numbers depend only on the root key and the global step (or epoch), never on the mode, so
the scan, per-step and streaming modes train the same model for the same seed.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jaxae.data.dataset import n_examples
from jaxae.train.state import Task, TrainState


def step_key(key: jax.Array, step: jax.Array) -> jax.Array:
    """The key of optimizer step `step`."""
    return jax.random.fold_in(jax.random.fold_in(key, 0), step)


def shuffle(key: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    """(n,) int32 permutation of the examples for `epoch`."""
    return jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), epoch), n).astype(jnp.int32)


def eval_key(key: jax.Array) -> jax.Array:
    """The fixed key of evaluation (the same every epoch, so test metrics are comparable)."""
    return jax.random.fold_in(key, 2)


def train_step(task: Task, state: TrainState, raw: jax.Array, constrain=None, reduce=None,
               grad_norm: bool = False) -> tuple[TrainState, dict]:
    """One optimizer step on a raw batch (an array or pytree of per-example arrays). Metrics: the
    estimator's and, with grad_norm, the gradient's global norm (the loop checks them for NaN and
    infinity on the host, where it receives them anyway).

    constrain: optional `constrain(batch) -> batch` placing the batch on devices (a data-parallel
    sharding, or this device's rows under pmap; see jaxae.train.parallel); applied to the raw batch
    inside the compiled step.
    reduce: optional `reduce(tree) -> tree` combining the devices' gradients and metrics (lax.pmean
    under pmap).
    grad_norm: also report the gradient's global L2 norm (and so check the gradient itself for
    non-finite values). An extra pass over every gradient each step: 9-12% of a step of the
    chapter's VAE on a 2-core CPU (benchmarks/README.md), hence off by default."""
    if constrain is not None:
        raw = constrain(raw)
    k_pre, k_est = jax.random.split(step_key(state.key, state.step))
    batch = task.preprocess(k_pre, raw)
    grads, est_state, metrics = task.estimator.estimate(k_est, state.params, batch, state.est_state)
    if reduce is not None:
        grads, metrics = reduce((grads, metrics))
    updates, opt_state = task.optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics, grad_norm=optax.tree.norm(grads)) if grad_norm else dict(metrics)
    new = TrainState(state.step + 1, params, opt_state, est_state, state.key)
    return new, metrics


def gather(tree, index: jax.Array):
    """The examples `index` (an int array) of every leaf of device-resident `tree`, as `take` but
    gathering rows of each leaf's (n, features) view: XLA:CPU copies a gather's slices one innermost
    row at a time, and (1, 28, 28) uint8 slices made the gather ~5% of the chapter's AE step (a
    variant of the hand-written floor: 0.937-0.945 of it, against 0.971-0.983 gathering (n, 784) rows;
    benchmarks/README.md). Bitwise the same values."""

    def rows(a):
        if a.ndim <= 2:
            return a[index]
        return a.reshape(a.shape[0], -1)[index].reshape(index.shape + a.shape[1:])

    return jax.tree.map(rows, tree)


def batch_indices(perm: jax.Array, i: jax.Array, batch_size: int) -> jax.Array:
    """The i-th batch of a permutation: (batch_size,) int32."""
    return jax.lax.dynamic_slice_in_dim(perm, i * batch_size, batch_size)


def train_epoch(task: Task, batch_size: int, state: TrainState, images,
                constrain=None, reduce=None, grad_norm: bool = False, shuffled: bool = True) -> tuple[TrainState, dict]:
    """One epoch as a single `lax.scan` over shuffled batches of device-resident `images`.

    Args:
      images: the training examples on device: an array (n, ...) or a pytree of them (every leaf is
        shuffled and batched together); the last n % batch_size shuffled examples are dropped.
      shuffled: False: the batches in the examples' order (TrainConfig.shuffle).

    Returns:
      The new state and per-step metrics, each of shape (steps,).
    """
    n = n_examples(images)
    steps = n // batch_size
    epoch = state.step // steps
    perm = shuffle(state.key, epoch, n) if shuffled else jnp.arange(n, dtype=jnp.int32)

    def body(state, i):
        return train_step(task, state, gather(images, batch_indices(perm, i, batch_size)), constrain, reduce,
                          grad_norm)

    return jax.lax.scan(body, state, jnp.arange(steps))


def train_chunk(task: Task, state: TrainState, chunk, constrain=None, reduce=None,
                grad_norm: bool = False) -> tuple[TrainState, dict]:
    """The streaming mode's compiled call: a `lax.scan` of train_step over K batches.

    Args:
      chunk: an array (k, batch, ...) or a pytree of them: K consecutive batches.

    Returns:
      The new state and per-step metrics, each of shape (k,).
    """
    return jax.lax.scan(lambda s, raw: train_step(task, s, raw, constrain, reduce, grad_norm), state, chunk)


def train_step_at(task: Task, batch_size: int, state: TrainState, images, perm, i, constrain=None, reduce=None,
                  grad_norm: bool = False):
    """The per-step mode: gathers batch i of `perm` from device-resident images, then one step."""
    return train_step(task, state, gather(images, batch_indices(perm, i, batch_size)), constrain, reduce, grad_norm)


def eval_inputs(task: Task, key: jax.Array, images: jax.Array) -> jax.Array:
    """The preprocessed test set: one transform of all images with a key fixed by the run's root key,
    so a stochastic binarization of the test digits is the same every epoch and in `jaxae eval`."""
    return task.preprocess(jax.random.fold_in(eval_key(key), 0), images)


def evaluate(task: Task, batch_size: int, state: TrainState, images) -> dict:
    """Mean per-example metrics over all of `images` (an array or a pytree of per-example arrays;
    padded to whole batches, padding masked)."""
    n = n_examples(images)
    steps = -(-n // batch_size)
    pad = steps * batch_size - n
    x = eval_inputs(task, state.key, images)  # an array, or a pytree of arrays (e.g. pixels and labels)
    if pad:
        x = jax.tree.map(lambda a: jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)]), x)
    mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32).reshape(steps, batch_size)
    key = jax.random.fold_in(eval_key(state.key), 1)

    def body(totals, i):
        batch = jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, i * batch_size, batch_size), x)
        per_example = task.evaluate(jax.random.fold_in(key, i), state.params, batch)
        sums = {name: jnp.sum(v * mask[i]) for name, v in per_example.items()}
        return jax.tree.map(jnp.add, totals, sums), None

    shapes = jax.eval_shape(lambda: task.evaluate(key, state.params, jax.tree.map(lambda a: a[:batch_size], x)))
    zeros = {name: jnp.zeros((), jnp.float32) for name in shapes}
    totals, _ = jax.lax.scan(body, zeros, jnp.arange(steps))
    return {name: v / n for name, v in totals.items()}
