"""Reopening a run folder: its config, model, data and newest intact checkpoint."""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import optax

from jaxae import data as jdata
from jaxae.errors import CheckpointError, ConfigError
from jaxae.optim import scale_by_model
from jaxae.tasks.offers import Offers
from jaxae.tasks.registry import MODELS
from jaxae.train import RunDir, Task, TrainConfig, TrainState, init_state, init_states


class Run(NamedTuple):
    """A trained run: its model's name and config, Task, Offers, dataset, restored state and epoch."""

    path: str
    model: str
    config: object
    task: Task
    offers: Offers
    data: jdata.Dataset
    state: TrainState
    epoch: int


def load_run(workdir: str, data_dir: str | None = None, index: int | None = None) -> Run:
    """Rebuilds the model from `workdir/config.json` and restores its newest intact checkpoint.

    A run trained with --seeds or --sweep holds several models: `index` picks one (0-based, in the
    order of TrainConfig.models()).

    Raises:
      CheckpointError: no run folder, no config, or no checkpoint there.
      ConfigError: a multi-model run without a valid `index`, or `index` for a one-model run.
    """
    run = RunDir(workdir)
    stored = run.read_config()
    name = stored.get("model_name") or stored.get("task")
    if name not in MODELS or MODELS[name].task is None:
        raise CheckpointError(f"{workdir} holds a {name!r} run, which this jaxae does not know how to reopen")
    entry = MODELS[name]
    config = entry.config(**stored["model"])
    task = entry.task(config)
    dataset = entry.data_for(stored, run.path, data_dir) if entry.data_for else None
    if dataset is None:
        dataset = jdata.load(stored["data"], data_dir, download=False)
    if task.adapt_data:
        dataset = task.adapt_data(dataset)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    train = TrainConfig(**{**entry.train_defaults, **{k: v for k, v in stored["train"].items() if k in known}})
    n = train.n_models
    if n > 1 and (index is None or not 0 <= index < n):
        models = ", ".join(f"{i}: seed {s}, lr x{c:g}" for i, (s, c) in enumerate(train.models()))
        raise ConfigError(f"{workdir} holds {n} models trained together ({models}); pick one with --index I")
    if n == 1 and index not in (None, 0):
        raise ConfigError(f"{workdir} holds one model; drop --index")
    train_task = task._replace(optimizer=optax.chain(task.optimizer, scale_by_model())) if train.scales() else task
    example = train.init_batch(dataset.train_images)
    target = init_states(train_task, train, example) if n > 1 else init_state(task, train.seed, example)
    restored = run.checkpointer().restore_latest(target)
    if restored is None:
        raise CheckpointError(f"{workdir} has no checkpoint yet; train it first")
    epoch, state = restored
    if n > 1:  # one model of the stack; its optimizer state is not needed to evaluate or sample
        state = jax.tree.map(lambda x: x[index], state)._replace(opt_state=None)
    return Run(run.path, name, config, task, entry.offers(config), dataset, state, epoch)
