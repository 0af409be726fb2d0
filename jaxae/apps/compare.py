"""`jaxae compare RUN [RUN ...] --metric NAME`: one figure overlaying the runs' curves (mean +- std bands
for runs of several models), and a Markdown table of each run's final and best values, epochs, wall
time and speed. `jaxae runs [FOLDER]`: a table of the run folders under FOLDER."""
from __future__ import annotations

import math
import os
import sys

import numpy as np

from jaxae.errors import CheckpointError, ConfigError, JaxaeError
from jaxae.train import Checkpointer, RunDir

LOWER_IS_BETTER = ("loss", "nll", "error", "mse", "rmse", "mae", "neg_elbo", "kl", "recon", "free_energy",
                   "squared_error", "epoch_s", "compile_s")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of `metric` are better (losses, errors), judged by its name."""
    return any(word in metric for word in LOWER_IS_BETTER)


def _run(path: str) -> tuple[str, list[dict]]:
    run = RunDir(path)
    if not os.path.isdir(run.path):
        raise CheckpointError(f"{path} does not exist; pass run folders (the --workdir of jaxae train)")
    stored = run.read_config()
    model = str(stored.get("model_name") or stored.get("task") or "?")
    records = run.read_metrics()
    if not records:
        raise CheckpointError(f"{path} has no finished epoch yet (metrics.jsonl is empty)")
    return model, records


def compare(paths: list[str], metric: str, out: str | None = None) -> tuple[str, str]:
    """Draws `metric` per epoch for every run into `out` (a PNG) and returns (the Markdown table, out).

    Raises:
      CheckpointError: a path is not a run folder, or has no epoch yet.
      ConfigError: no run has the metric (the message lists the metrics they have).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(path, *_run(path)) for path in paths]
    having = [(p, m, r) for p, m, r in runs if any(metric in rec for rec in r)]
    if not having:
        names = sorted({k for _, _, r in runs for k, v in r[-1].items() if isinstance(v, (int, float))})
        raise ConfigError(f"no run has the metric {metric!r}; they have: {', '.join(names)}")
    for path, model, _ in runs:
        if (path, model) not in [(p, m) for p, m, _ in having]:
            print(f"jaxae: {path} ({model}) has no {metric!r}; left out", file=sys.stderr)
    lower = lower_is_better(metric)
    out = out or f"compare_{metric}.png"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = ["| run | model | models | epochs | final | best | wall time (s) | samples/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for path, model, records in having:
        points = [r for r in records if metric in r]
        epochs = np.array([r["epoch"] for r in points])
        values = np.array([r[metric] for r in points], np.float64)
        label = f"{os.path.basename(os.path.normpath(path))} ({model})"
        line, = ax.plot(epochs, values, marker="o", markersize=3, label=label)
        if f"{metric}_std" in points[-1]:  # several models: mean +- std over them
            std = np.array([r.get(f"{metric}_std", 0.0) for r in points])
            ax.fill_between(epochs, values - std, values + std, color=line.get_color(), alpha=0.2)
        n_models = int(points[-1].get("models", 1))
        final = f"{values[-1]:.5g}" + (f" ± {points[-1][metric + '_std']:.2g}" if n_models > 1 else "")
        best = values.min() if lower else values.max()
        wall = sum(r.get("epoch_s", 0.0) for r in records)
        speed = np.mean([r["samples_per_s"] for r in records if "samples_per_s" in r])
        rows.append(f"| {path} | {model} | {n_models} | {records[-1]['epoch']} | {final} | {best:.5g} | "
                    f"{wall:.1f} | {speed:.0f} |")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric + (" (lower is better)" if lower else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return "\n".join(rows), out


def list_runs(folder: str, verify: bool = True) -> str:
    """A Markdown table of every run folder (a folder with config.json) under `folder`: model, data,
    epochs done, the last test metrics, and whether it resumes (its newest checkpoint, verified).

    Raises:
      CheckpointError: `folder` does not exist.
    """
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder} is not a folder; pass the folder that holds your runs")
    found = sorted(d for d, _, files in os.walk(folder) if "config.json" in files)
    rows = ["| run | model | data | epochs | last test metrics | checkpoint |", "|---|---|---|---:|---|---|"]
    for path in found:
        run = RunDir(path)
        try:
            stored = run.read_config()
        except CheckpointError as e:
            rows.append(f"| {os.path.relpath(path, folder)} | ? | ? | ? | | config unreadable: {e} |")
            continue
        last = run.last_metrics()
        train = stored["train"] if isinstance(stored.get("train"), dict) else {}
        tests = [f"{k[5:]} {v:.4g}" for k, v in last.items() if k.startswith("test_") and isinstance(v, (int, float))
                 and not k.endswith("_std") and math.isfinite(v)][:3]
        epochs = f"{last.get('epoch', 0)}/{train.get('epochs', '?')}"
        status = "none"
        ckpt = Checkpointer(run.checkpoints) if run.has_checkpoints() else None
        if ckpt is not None:
            newest = ckpt.epochs()[-1]
            state = ckpt.verify(newest) if verify else "not verified"
            status = f"epoch {newest}: {state}" + ("" if state.startswith("damaged") else ", resumable")
        rows.append(f"| {os.path.relpath(path, folder)} | {stored.get('model_name') or stored.get('task', '?')} | "
                    f"{stored.get('data', '?')} | {epochs} | {', '.join(tests)} | {status} |")
    if len(rows) == 2:
        raise CheckpointError(f"{folder} holds no run folders (folders with a config.json)")
    return "\n".join(rows)


def compare_command(args) -> int:
    if not args.run:
        raise JaxaeError("jaxae compare needs at least one run folder")
    table, out = compare(args.run, args.metric, args.out)
    print(table)
    print(f"figure: {out}")
    return 0


def runs_command(args) -> int:
    print(list_runs(args.folder, verify=not args.no_verify))
    return 0
