"""Reopening a run folder: its config, model, data and newest intact checkpoint."""
from __future__ import annotations

import dataclasses
import json
from typing import NamedTuple

import jax
import optax

from jaxae import data as jdata
from jaxae import weights
from jaxae.errors import CheckpointError, ConfigError
from jaxae.optim import scale_by_model
from jaxae.tasks.offers import Offers
from jaxae.tasks.registry import MODELS
from jaxae.train import RunDir, Task, TrainConfig, TrainState, init_states, state_shapes


class Run(NamedTuple):
    """A trained run: its model's name and config, Task, Offers, dataset, restored state and epoch;
    data_dir is the folder its data were read from (None: bundled, or given); train its TrainConfig."""

    path: str
    model: str
    config: object
    task: Task
    offers: Offers
    data: jdata.Dataset
    state: TrainState
    epoch: int
    data_dir: str | None = None
    train: TrainConfig = TrainConfig()


FIELDS = {"model_name": str, "model": dict, "train": dict, "data": str, "data_dir": str, "task": str, "dbn_layer": int,
          "n_visible": int}


def _checked(stored: dict, workdir: str) -> dict:
    """The stored config with every field jaxae reads of the kind it must be (CheckpointError otherwise)."""
    for name, kind in FIELDS.items():
        value = stored.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise CheckpointError(f"{workdir}/config.json is damaged: {name} should be a {kind.__name__}, got "
                                  f"{json.dumps(value)[:60]}; restore the file or retrain")
    if "train" not in stored:
        raise CheckpointError(f"{workdir}/config.json is damaged: it has no training options ('train')")
    return stored


def _config(cls, values: dict, defaults: dict, workdir: str, what: str):
    """cls(**{**defaults, **values}) for the fields cls knows, a bad value reported as CheckpointError."""
    known = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{**defaults, **{k: v for k, v in values.items() if k in known}})
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise CheckpointError(f"{workdir}/config.json holds invalid {what} options: {e}") from None
        raise CheckpointError(f"{workdir}/config.json does not describe valid {what} options ({e}); it was written "
                              "by another version of jaxae, or damaged") from None


def _model(stored: dict, workdir: str, task: Task | None, offers: Offers | None):
    """(name, config, task, offers, registry entry or None) of a stored run."""
    name = stored.get("model_name")
    if task is not None:  # the caller's own task (a custom model, or a built-in one rebuilt by hand)
        return name or task.name, None, task, offers or Offers(), None
    if name is None:
        raise CheckpointError(f"{workdir} was trained with a custom task ({stored.get('task')!r}) that config.json "
                              "cannot rebuild; reopen it with load_run(workdir, task=the same task)")
    entry = MODELS.get(name)
    if entry is None or entry.task is None:
        raise CheckpointError(f"{workdir} holds a {name!r} run, which this jaxae does not know how to reopen")
    config = _config(entry.config, stored.get("model") or {}, {}, workdir, f"{name} model")
    return name, config, entry.task(config), offers or entry.offers(config), entry


def load_run(workdir: str, data_dir: str | None = None, index: int | None = None, *, task: Task | None = None,
             offers: Offers | None = None, data: jdata.Dataset | None = None) -> Run:
    """Rebuilds the model from `workdir/config.json` and restores its newest intact checkpoint.

    Args:
      workdir: the run folder.
      data_dir: where to look for the data first (default: the folder the run found them in).
      index: a run trained with --seeds or --sweep holds several models: which one (0-based, in the
        order of TrainConfig.models()).
      task: the run's Task, for a run trained with a custom task (or to override the stored model).
      offers: what the model offers (a custom task's codec, likelihood, ...; default: nothing).
      data: the Dataset, for a run trained on arrays (jaxae.data.from_arrays) or to evaluate on other data.

    Raises:
      CheckpointError: no run folder, no config, no checkpoint, or a custom task's run without `task`.
      ConfigError: a multi-model run without a valid `index`, or `index` for a one-model run.
      DataError: the data cannot be found (pass data_dir or data).
    """
    run = RunDir(workdir)
    stored = _checked(run.read_config(), workdir)
    name, config, task, offers, entry = _model(stored, workdir, task, offers)
    data_dir = data_dir or stored.get("data_dir")
    dataset = data
    if dataset is None and entry is not None and entry.data_for is not None:
        dataset = entry.data_for(stored, run.path, data_dir)
    if dataset is None:
        source = stored.get("data", "arrays")
        if not jdata.known(source):
            raise CheckpointError(f"{workdir} was trained on in-memory arrays ({source!r}), which jaxae cannot load by "
                                  "name; pass them again: load_run(workdir, data=jaxae.data.from_arrays(...))")
        dataset = jdata.load(source, data_dir, download=False)
    if task.adapt_data:
        dataset = task.adapt_data(dataset)
    train = _config(TrainConfig, stored["train"], entry.train_defaults if entry is not None else {}, workdir,
                    "training")
    n = train.n_models
    if n > 1 and (index is None or not 0 <= index < n):
        models = ", ".join(f"{i}: seed {s}, lr x{c:g}" for i, (s, c) in enumerate(train.models()))
        raise ConfigError(f"{workdir} holds {n} models trained together ({models}); pick one with [[index=I]]")
    if n == 1 and index not in (None, 0):
        raise ConfigError(f"{workdir} holds one model; drop [[index]]")
    train_task = task._replace(optimizer=optax.chain(task.optimizer, scale_by_model())) if train.scales() else task
    example = train.init_batch(dataset.train_images)
    # the structure to restore into, traced but not run
    target = (jax.eval_shape(lambda: init_states(train_task, train, example)) if n > 1
              else state_shapes(task, train.seed, example))
    restored = run.checkpointer().restore_latest(target)
    if restored is None:
        raise CheckpointError(f"{workdir} has no checkpoint yet; train it first")
    epoch, state = restored
    if n > 1:  # one model of the stack; its optimizer state is not needed to evaluate or sample
        state = jax.tree.map(lambda x: x[index], state)._replace(opt_state=None)
    return Run(run.path, name, config, task, offers, dataset, state, epoch, data_dir, train)


def export_run(run: Run, path: str) -> str:
    """Writes the run's parameters as a safetensors file (tensors named by tree path, see jaxae.weights)
    with metadata "jaxae": JSON of the model's name and config, the epoch and the run folder."""
    config = dataclasses.asdict(run.config) if dataclasses.is_dataclass(run.config) and not isinstance(
        run.config, type) else None
    about = {"model_name": run.model, "model": config, "epoch": run.epoch, "run": run.path, "format": "jaxae.params/1"}
    return weights.save(path, run.state.params, {"jaxae": json.dumps(about, default=str)})


def import_params(run: Run, path: str):
    """The parameters of a safetensors file, checked against the run's parameter tree (names, shapes and
    dtypes; a mismatch is a DataError naming the tensor) and rebuilt in its structure."""
    return weights.load(path, like=run.state.params)
