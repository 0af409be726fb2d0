"""TensorBoard summaries of a run, written with tensorboardX (no TensorFlow or PyTorch needed) under
RUN/tensorboard/: each epoch's scalars (train and test metrics, gradient norm, learning rate, speed)
and picture, and what `jaxae eval` and `jaxae sample` add (likelihoods, RBM filters). With several
models (--seeds, --sweep) each model has its own curves in RUN/tensorboard/<seed, learning rate>/.

metrics.jsonl stays the source of truth: when a run resumes, its summaries are rebuilt from
metrics.jsonl and images/ (the event files are derived data), so no epoch appears twice.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
from typing import Any

import numpy as np

from jaxae.errors import ConfigError
from jaxae.train.rundir import RunDir

LOGS = ("tensorboard",)
_SKIP = ("epoch", "step", "mode", "parallel", "devices", "models")
_GROUPS = {"epoch_s": "speed", "samples_per_s": "speed", "compile_s": "speed", "free_energy_gap": "monitor",
           "learning_rate": "optimizer"}


def check_logs(log: str) -> None:
    """Raises ConfigError for an unknown logger in a comma list such as "tensorboard"."""
    unknown = [name for name in log.split(",") if name.strip() and name.strip() not in LOGS]
    if unknown:
        raise ConfigError(f"unknown log {unknown[0]!r}; choose one of {', '.join(LOGS)} (or none)")


def tag(name: str) -> str:
    """A metrics.jsonl key as a TensorBoard tag: "test_mse" -> "test/mse", "samples_per_s" -> "speed/samples_per_s"."""
    if name in _GROUPS:
        return f"{_GROUPS[name]}/{name}"
    for prefix in ("train_eval", "train", "test"):
        if name.startswith(prefix + "_"):
            return f"{prefix}/{name[len(prefix) + 1:]}"
    return f"other/{name}"


_WRITERS = itertools.count()


def _writer(folder: str):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ConfigError("--log tensorboard needs tensorboardX: pip install 'jaxae[tensorboard]'") from None
    # tensorboardX names a file by the second it was opened: two writers of one second would share (and
    # truncate) one file, so each gets its own suffix
    return SummaryWriter(folder, flush_secs=5, filename_suffix=f".{os.getpid()}.{next(_WRITERS)}")


class Summaries:
    """The event-file writers of one run folder: the run's (means over models) and one per model.

    Args:
      run: the run folder.
      models: names of the vmapped models (e.g. "seed0_lr1"), [] for one model.
    """

    def __init__(self, run: RunDir, models: list[str] | None = None):
        self.run = run
        self.folder = os.path.join(run.path, "tensorboard")
        self.models = list(models or [])
        self._open()

    def _open(self) -> None:
        self._main = _writer(self.folder)
        self._per_model = [_writer(os.path.join(self.folder, name)) for name in self.models]

    def epoch(self, record: dict[str, Any], picture: str | None = None) -> None:
        """Writes one metrics.jsonl record (at step = its epoch) and, optionally, its picture (a PNG)."""
        step = int(record["epoch"])
        for name, value in record.items():
            if name in _SKIP or name.endswith("_std"):
                continue
            if name.endswith("_per_model") and isinstance(value, list) and len(value) == len(self._per_model):
                for writer, v in zip(self._per_model, value):
                    writer.add_scalar(tag(name[: -len("_per_model")]), float(v), step)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                self._main.add_scalar(tag(name), float(value), step)
        if picture and os.path.exists(picture):
            self.image("reconstructions", picture, step)

    def scalars(self, values: dict[str, Any], step: int, group: str) -> None:
        """Writes the numbers among `values` under group/ at `step` (e.g. `jaxae eval`'s likelihoods at
        the run's epoch); other values are skipped."""
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
                self._main.add_scalar(f"{group}/{name}", float(value), step)

    def image(self, name: str, png: str, step: int) -> None:
        """Writes a PNG file as an image summary."""
        from PIL import Image

        with Image.open(png) as picture:
            array = np.asarray(picture.convert("L"))
        self._main.add_image(name, array, step, dataformats="HW")

    def rebuild(self) -> None:
        """Replaces the event files with a replay of metrics.jsonl and images/ (after a resume truncated
        them), so that every epoch appears exactly once."""
        self.close()
        for path in glob.glob(os.path.join(self.folder, "**", "events.out.tfevents.*"), recursive=True):
            os.remove(path)
        for name in self.models:
            shutil.rmtree(os.path.join(self.folder, name), ignore_errors=True)
        self._open()
        for record in self.run.read_metrics():
            self.epoch(record, self.run.image(int(record["epoch"])))
        self.flush()

    def flush(self) -> None:
        for writer in (self._main, *self._per_model):
            writer.flush()

    def close(self) -> None:
        for writer in (self._main, *self._per_model):
            writer.close()


def for_run(run: RunDir, log: str, models: list[str] | None = None) -> Summaries | None:
    """The run's Summaries when `log` (TrainConfig.log) asks for TensorBoard, else None."""
    check_logs(log)
    return Summaries(run, models) if "tensorboard" in [s.strip() for s in log.split(",")] else None
