"""`jaxae train MODEL`: build the model's configs from the options, load the data, run `fit` (or the
model's own training procedure, e.g. a DBN's stack of runs) and print the last epoch."""
from __future__ import annotations

import dataclasses
import logging
import os

import jax

from jaxae import data as jdata
from jaxae.apps.options import build
from jaxae.errors import JaxaeError
from jaxae.tasks import MODELS
from jaxae.train import RunDir, TrainConfig, fit
from jaxae.train.checkpoint import state_checksum


def train_command(args) -> int:
    entry = MODELS[args.model]
    model_config = build(entry.config, args)
    train_config = build(TrainConfig, args, entry.train_defaults)
    if args.sweep:
        if train_config.lr_scales:
            raise JaxaeError("give --sweep or --lr-scales, not both")
        train_config = dataclasses.replace(train_config, lr_scales=_sweep_scales(args.sweep, model_config))
    workdir = args.workdir or f"runs/{args.model}-{args.data.replace(':', '-').replace('/', '-')}"
    dataset = jdata.load(args.data, args.data_dir, download=not args.no_download, tfds_download=args.tfds_download)
    if jdata.movielens.is_ratings(dataset):
        n_users, n_items = dataset.train_images.shape
        size = (f"{n_users} users x {n_items} movies, {int((dataset.train_images > 0).sum())} training and "
                f"{int((dataset.test_images['targets'] > 0).sum())} test ratings")
    else:
        kind = "images" if dataset.image_shape else "examples"
        size = f"{jdata.n_examples(dataset.train_images)} train, {jdata.n_examples(dataset.test_images)} test {kind}"
    logging.getLogger("jaxae").info("training %s on %s (%s) in %s", args.model, dataset.name, size, workdir)
    run_config = {"model_name": args.model, "model": dataclasses.asdict(model_config), "data": dataset.name if dataset.on_disk else args.data}
    if entry.pretrain is not None or entry.task is None:
        assert entry.pretrain is not None, f"{args.model} has neither a task nor a training procedure"
        entry.pretrain(model_config, dataset, train_config, workdir, resume=args.resume, run_config=run_config)
        return _print_stack(model_config, workdir)
    defaults = {"model": dataclasses.asdict(entry.config()), "train": entry.train_defaults}
    result = fit(entry.task(model_config), dataset, train_config, workdir, resume=args.resume, run_config=run_config,
                 config_defaults=defaults)
    if result.history:
        last = result.history[-1]
        shown = [k for k in ("train_loss", "train_recon_error") if k in last]
        shown += [k for k in last if k.startswith("test_") and not k.endswith(("_std", "_per_model"))]
        if train_config.scales():  # one line per model of the sweep
            base = model_config.learning_rate
            for i, (seed, scale) in enumerate(train_config.models()):
                values = ", ".join(f"{k}={last[k + '_per_model'][i]:.5g}" for k in shown)
                print(f"learning_rate={base * scale:.4g} seed={seed}: {values}")
            values = f"{train_config.n_models} models, mean: " + ", ".join(f"{k}={last[k]:.5g}" for k in shown)
        elif train_config.seeds > 1:  # mean ± std over the models
            values = ", ".join(f"{k}={last[k]:.5g}±{last[k + '_std']:.2g}" for k in shown)
            values = f"{train_config.seeds} models (seeds {train_config.seed}..{train_config.seed + train_config.seeds - 1}): " + values
        else:
            values = ", ".join(f"{k}={last[k]:.5g}" for k in shown)
        waited = f", {last['data_wait_s']:.2f} s waiting for data" if "data_wait_s" in last else ""
        print(f"epoch {last['epoch']}: {values}; "
              f"{last['samples_per_s']:.0f} samples/s ({last['mode']} mode{waited}); run folder: {workdir}")
        if jax.process_count() > 1:  # every process holds the same parameters: say so checkably
            print(f"process {jax.process_index()} of {jax.process_count()}: parameters sha256 "
                  f"{state_checksum(result.state.params)}")
    else:
        print(f"nothing to train: {workdir} already has {train_config.epochs} epochs; raise --epochs to go on")
    return 0


def _sweep_scales(text: str, model_config) -> str:
    """--sweep learning_rate=1e-3,3e-3 -> TrainConfig.lr_scales relative to the model's learning rate."""
    name, _, values = text.partition("=")
    if name.strip().replace("-", "_") not in ("learning_rate", "lr") or not values:
        raise JaxaeError(f"--sweep takes learning_rate=V,V,... (the learning rate is what vmapped models can vary), "
                         f"got {text!r}")
    try:
        rates = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise JaxaeError(f"--sweep values must be numbers, got {values!r}") from None
    if any(not r > 0 for r in rates):
        raise JaxaeError(f"--sweep learning rates must be positive, got {values!r}")
    return ",".join(repr(r / model_config.learning_rate) for r in rates)


def _print_stack(config, workdir: str) -> int:
    """One line per run of a model trained in stages: WORKDIR/layer_N (a DBN's or a DBM's pretraining) and
    WORKDIR/joint (a DBM's joint training)."""
    for i in range(len(config.layers)):
        folder = f"{workdir}/layer_{i + 1}"
        if not os.path.isdir(folder):
            continue
        last = RunDir(folder).last_metrics()
        gap = f", free_energy_gap={last['free_energy_gap']:.4g}" if "free_energy_gap" in last else ""
        print(f"layer {i + 1} ({config.layers[i]} hidden), epoch {last['epoch']}: test_recon_error="
              f"{last['test_recon_error']:.5g}{gap}; run folder: {folder}")
    if os.path.isdir(f"{workdir}/joint"):
        last = RunDir(f"{workdir}/joint").last_metrics()
        values = ", ".join(f"{k}={v:.5g}" for k, v in last.items() if k.startswith("test_") and isinstance(v, float))
        print(f"joint training, epoch {last['epoch']}: {values}; {last['samples_per_s']:.0f} samples/s; "
              f"run folder: {workdir}/joint")
    return 0
