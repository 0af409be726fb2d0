"""The training state pytree and the Task bundle every model hands to the trainer."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

from jaxae.estimators import Estimator


class TrainState(NamedTuple):
    """Everything that changes during training; checkpointed whole.

    Attributes:
      step: () int32, optimizer steps taken.
      params: the model's parameter pytree.
      opt_state: the Optax state.
      est_state: the estimator's state (EmptyState, or e.g. persistent chains).
      key: (2,) uint32 root PRNG key of the run; never split in place, step keys are folded in.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    est_state: Any
    key: jax.Array


class Task(NamedTuple):
    """What the trainer needs to train one model, and nothing else (what a trained model offers beyond
    training, such as a latent codec or a likelihood, is described by its task module in jaxae.tasks).

    Attributes:
      name: short model name, e.g. "ae".
      init: `init(key, batch) -> params`, batch a preprocessed example batch.
      estimator: the gradient estimator (see jaxae.estimators).
      optimizer: an Optax GradientTransformation.
      preprocess: `preprocess(key, raw) -> batch`, raw (batch, ...) uint8 or float in [0, 1].
      evaluate: `evaluate(key, params, batch) -> {name: (batch,) float32}`, per-example metrics.
      reconstruct: optional `reconstruct(params, batch) -> (batch, h, w) float32 in [0, 1]` for the
        per-epoch picture.
      modes: the measured-faster training mode per platform for this model, overriding the trainer's
        DEFAULT_MODE when --mode auto (e.g. {"cpu": "step"} for models whose convolutions XLA:CPU runs
        slower inside a scan).
      validate: optional `validate(dataset)`, raising a jaxae error when the data does not suit the
        model (wrong image size, non-binary pixels for a Bernoulli likelihood, ...).
      adapt_data: optional `adapt_data(dataset) -> dataset`, applied before training and evaluation
        (e.g. item-based recommenders transpose a user x item rating matrix).
      summarize: optional `summarize(means) -> dict` of extra metrics computed from the mean evaluation
        metrics (e.g. RMSE = sqrt(mean squared-error sum / mean count) over held-out ratings).
      spec: what `fit` records in config.json so that the run reopens: {"model_name": a registered
        model (jaxae.tasks.MODELS), "model": its config as a dict}; the built-in tasks fill it in, a
        custom task leaves it None and is reopened with `load_run(workdir, task=...)`.
      learning_rate: the optimizer's learning rate, a number or an Optax schedule (step -> rate), which
        `fit` records each epoch as "learning_rate" (None: not recorded).
      compile_init: build the step-0 state (init, the optimizer's and the estimator's init) as one
        compiled program (the default), or op by op (False), where every new operation shape compiles
        on its own: for the conv AE 78 programs and 8.8 s of XLA's time on a 2-core CPU, against one
        program and 4.9 s (docs/guides/speed.md). The two agree bit for bit for the autoencoders
        (tests/train/test_loop.py); for the RBM, DBM and SAE tasks XLA's fusion rounds the last bits of
        some leaves differently (the 784-500 RBM's W by up to 3.7e-9), so those keep the op-by-op init
        their documented results were trained from. (Either way init must trace: `fit` checks the task
        with jax.eval_shape first.)
    """

    name: str
    init: Callable
    estimator: Estimator
    optimizer: optax.GradientTransformation
    preprocess: Callable
    evaluate: Callable
    reconstruct: Callable | None = None
    modes: dict | None = None
    validate: Callable | None = None
    adapt_data: Callable | None = None
    summarize: Callable | None = None
    spec: dict | None = None
    learning_rate: float | Callable | None = None
    compile_init: bool = True


def init_state(task: Task, seed: int, example_raw: Any) -> TrainState:
    """Builds the step-0 TrainState for `task` from an integer seed: `build_state` as one compiled
    program, or op by op when task.compile_init is False. Composes with jit and vmap. (`fit` compiles
    it through jaxae.train.programs, so that a second fit of the same model reuses the executable.)"""
    if not task.compile_init:
        return build_state(task, seed, example_raw)
    return jax.jit(functools.partial(build_state, task))(seed, example_raw)


def state_shapes(task: Task, seed: int, example_raw: Any) -> TrainState:
    """init_state's TrainState as jax.ShapeDtypeStruct leaves, traced but neither compiled nor run: the
    target a checkpoint restores into."""
    return jax.eval_shape(functools.partial(build_state, task), seed, example_raw)


def build_state(task: Task, seed, example_raw: Any) -> TrainState:
    """init_state's computation: the key of `seed`, task.init on the preprocessed example, and the
    optimizer's and estimator's states."""
    key = jax.random.PRNGKey(seed)
    k_init, k_est, k_pre = jax.random.split(jax.random.fold_in(key, 3), 3)
    params = task.init(k_init, task.preprocess(k_pre, example_raw))
    return TrainState(
        step=jax.numpy.zeros((), jax.numpy.int32),
        params=params,
        opt_state=task.optimizer.init(params),
        est_state=task.estimator.init(k_est, params),
        key=key,
    )
