"""Reopening a run folder: its config, model, data and newest intact checkpoint."""
from __future__ import annotations

import json
import os
from typing import NamedTuple

from jaxae import data as jdata
from jaxae.errors import CheckpointError
from jaxae.train.checkpoint import Checkpointer
from jaxae.train.rundir import RunDir
from jaxae.train.state import Task, TrainState, init_state


class Run(NamedTuple):
    """A trained run: its Task, model config, dataset, restored state and epoch."""

    path: str
    model: str
    config: object
    task: Task
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
    from jaxae.models import MODELS

    run = RunDir(workdir)
    if not os.path.exists(run.config):
        raise CheckpointError(f"{workdir} is not a run folder (no config.json); pass the --workdir of a training run")
    with open(run.config) as f:
        stored = json.load(f)
    name = stored.get("model_name") or stored.get("task")
    if name not in MODELS:
        raise CheckpointError(f"{workdir} holds a {name!r} run, which this jaxae does not know")
    config_cls, make_task = MODELS[name]
    config = config_cls(**stored["model"])
    task = make_task(config)
    dataset = jdata.load(stored["data"], data_dir, download=False)
    if task.adapt_data:
        dataset = task.adapt_data(dataset)
    import dataclasses

    import optax

    from jaxae.errors import ConfigError
    from jaxae.train.config import TrainConfig
    from jaxae.train.loop import init_states, scale_by_model

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    train = TrainConfig(**{k: v for k, v in stored["train"].items() if k in known})
    n = train.n_models
    if n > 1 and (index is None or not 0 <= index < n):
        models = ", ".join(f"{i}: seed {s}, lr x{c:g}" for i, (s, c) in enumerate(train.models()))
        raise ConfigError(f"{workdir} holds {n} models trained together ({models}); pick one with --index I")
    if n == 1 and index not in (None, 0):
        raise ConfigError(f"{workdir} holds one model; drop --index")
    train_task = task._replace(optimizer=optax.chain(task.optimizer, scale_by_model())) if train.scales() else task
    example = dataset.train_images[: task.init_examples or train.batch_size]
    target = init_states(train_task, train, example) if n > 1 else init_state(task, train.seed, example)
    restored = Checkpointer(run.checkpoints).restore_latest(target)
    if restored is None:
        raise CheckpointError(f"{workdir} has no checkpoint yet; train it first")
    epoch, state = restored
    if n > 1:  # one model of the stack; its optimizer state is not needed to evaluate or sample
        import jax

        state = jax.tree.map(lambda x: x[index], state)._replace(opt_state=None)
    return Run(run.path, name, config, task, dataset, state, epoch)

