"""The run folder, the one module that reads and writes it: config.json, metrics.jsonl, checkpoints/,
checkpoints_partial/ (mid-epoch), images/, loss_curve.png, eval.json, samples/ and profile/. Everything else (the
trainer, `load_run`, the DBN's
stack of runs, the command line) goes through RunDir."""
from __future__ import annotations

import json
import os
from typing import Any

from jaxae.errors import CheckpointError, ConfigError
from jaxae.train.checkpoint import Checkpointer
from jaxae.train.config import RESUMABLE_CHANGES


class RunDir:
    """Paths and files of one run's folder."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.config = os.path.join(self.path, "config.json")
        self.metrics = os.path.join(self.path, "metrics.jsonl")
        self.checkpoints = os.path.join(self.path, "checkpoints")
        self.partial = os.path.join(self.path, "checkpoints_partial")  # mid-epoch (streaming, checkpoint_steps)
        self.images = os.path.join(self.path, "images")
        self.samples = os.path.join(self.path, "samples")
        self.curves = os.path.join(self.path, "loss_curve.png")
        self.eval = os.path.join(self.path, "eval.json")
        self.profile = os.path.join(self.path, "profile")  # --profile's trace (jaxae.train.cost)

    def image(self, epoch: int) -> str:
        """The path of epoch `epoch`'s reconstruction picture."""
        return os.path.join(self.images, f"epoch_{epoch:03d}.png")

    def sample(self, name: str) -> str:
        """The path of a picture written by `jaxae sample`, e.g. sample("prior.png")."""
        return os.path.join(self.samples, name)

    def checkpointer(self, keep: int = 3) -> Checkpointer:
        """The Checkpointer of this run's checkpoints/ folder."""
        return Checkpointer(self.checkpoints, keep)

    def partial_checkpointer(self, create: bool = True) -> Checkpointer | None:
        """The Checkpointer of mid-epoch checkpoints (one Orbax step per global step; the newest is kept);
        with create=False, None unless the folder exists already."""
        return Checkpointer(self.partial, keep=1) if create or os.path.isdir(self.partial) else None

    def read_config(self) -> dict:
        """The stored config.json.

        Raises:
          CheckpointError: the folder holds no run, or its config.json is not readable JSON.
        """
        if not os.path.exists(self.config):
            raise CheckpointError(f"{self.path} is not a run folder (no config.json); pass the [[workdir]] of a "
                                  "training run")
        try:
            with open(self.config) as f:
                stored = json.load(f)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{self.config} is not readable JSON ({e}); restore it from a backup") from None
        if not isinstance(stored, dict):
            raise CheckpointError(f"{self.config} does not hold a run's configuration (a JSON object)")
        return stored

    def last_metrics(self) -> dict:
        """The last epoch's record of metrics.jsonl ({} before the first epoch)."""
        records = self.read_metrics()
        return records[-1] if records else {}

    def write_eval(self, result: dict[str, Any]) -> str:
        """Writes `jaxae eval`'s result to eval.json; returns its path."""
        with open(self.eval, "w") as f:
            json.dump(result, f, indent=2)
        return self.eval

    def has_checkpoints(self) -> bool:
        return any(os.path.isdir(d) and any(name.isdigit() for name in os.listdir(d))
                   for d in (self.checkpoints, self.partial))

    def prepare(self, config: dict, resume: bool, defaults: dict | None = None, write: bool = True) -> None:
        """Creates the folder, or checks that resuming it is consistent; writes config.json.

        `defaults` (nested like config) gives the value of an option that a run written by an older
        jaxae did not record, so such runs resume when the option keeps its default.

        Raises:
          CheckpointError: the folder holds a run and resume is False (nothing is overwritten).
          ConfigError: resuming with a configuration that differs in more than RESUMABLE_CHANGES.
        """
        config = json.loads(json.dumps(config))  # tuples become lists, as in the stored file
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise CheckpointError(f"workdir {self.path} is a file; choose a folder")
        if not resume and (self.has_checkpoints() or os.path.exists(self.metrics)):
            raise CheckpointError(
                f"workdir {self.path} already holds a run; pass [[resume=True]] to continue it or choose a new [[workdir]]"
            )
        if resume and os.path.exists(self.config):
            with open(self.config) as f:
                old = json.load(f)
            diffs = _differences(old, config, defaults or {})
            if diffs:
                raise ConfigError(
                    f"cannot resume {self.path}: its config differs in {', '.join(diffs)}; "
                    "use the same settings (only " + ", ".join(RESUMABLE_CHANGES + MODEL_RESUMABLE)
                    + " may change) or a new [[workdir]]"
                )
        if write:  # (one process of several only checks: process 0 writes)
            os.makedirs(self.path, exist_ok=True)
            with open(self.config, "w") as f:
                json.dump(config, f, indent=2, sort_keys=True)

    def record_cost(self, cost: dict[str, Any]) -> None:
        """Adds what a step costs (FLOPs per example, from jaxae.train.cost) to config.json under "cost"
        (not compared on resume: it follows from the rest and from the JAX version)."""
        config = self.read_config()
        config["cost"] = cost
        with open(self.config, "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)

    def read_metrics(self) -> list[dict]:
        if not os.path.exists(self.metrics):
            return []
        with open(self.metrics) as f:
            return [json.loads(line) for line in f if line.strip()]

    def truncate_metrics(self, last_epoch: int) -> None:
        """Drops records of epochs after `last_epoch` (those are trained again on resume)."""
        kept = [r for r in self.read_metrics() if r.get("epoch", 0) <= last_epoch]
        with open(self.metrics, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in kept)

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(record) + "\n")


# where the data were found may change between sessions (a moved folder, --data-dir); what a step costs
# (measured, jaxae.train.cost) may change with the JAX version
NOT_COMPARED = ("data_dir", "cost")
# model options that say how the same function is computed, not which (jaxae.nn.conv.conv_transpose)
MODEL_RESUMABLE = ("transposed",)


def _differences(old: dict, new: dict, defaults: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        name = prefix + key
        if (key in RESUMABLE_CHANGES and prefix == "train.") or (key in NOT_COMPARED and not prefix) or (
                key in MODEL_RESUMABLE and prefix == "model."):
            continue
        if not prefix and key not in old and key not in defaults:  # recorded only by newer versions
            continue
        default = defaults.get(key) if isinstance(defaults, dict) else None
        a, b = old.get(key, default if not isinstance(default, dict) else None), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, default if isinstance(default, dict) else {}, name + ".")
        elif a != b:
            diffs.append(f"{name} ({a!r} -> {b!r})")
    return diffs
