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


def load_run(workdir: str, data_dir: str | None = None) -> Run:
    """Rebuilds the model from `workdir/config.json` and restores its newest intact checkpoint.

    Raises:
      CheckpointError: no run folder, no config, or no checkpoint there.
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
    target = init_state(task, stored["train"]["seed"], dataset.train_images[: stored["train"]["batch_size"]])
    restored = Checkpointer(run.checkpoints).restore_latest(target)
    if restored is None:
        raise CheckpointError(f"{workdir} has no checkpoint yet; train it first")
    epoch, state = restored
    return Run(run.path, name, config, task, dataset, state, epoch)
