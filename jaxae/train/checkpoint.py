"""Orbax checkpoints of the whole TrainState, with a checksum so a damaged step is detected.

Orbax restores a same-size overwrite of a checkpoint file without complaint, so each save also
stores the sha256 of the state's bytes; a restore that fails or whose bytes differ is moved aside to
`<workdir>/corrupt_checkpoints/` (nothing is deleted) and the previous step is tried, each attempt
with a fresh CheckpointManager (after a failed restore a manager can fail on healthy steps too).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxae.errors import CheckpointError

log = logging.getLogger("jaxae")


def state_checksum(state: Any) -> str:
    """sha256 over every leaf's dtype, shape and bytes, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(jax.device_get(state)):
        a = np.asarray(leaf)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Checkpointer:
    """Saves and restores TrainStates under `directory`, one Orbax step per epoch.

    Args:
      directory: the checkpoints folder (created).
      keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, directory: str, keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.keep = keep
        os.makedirs(self.directory, exist_ok=True)

    def _manager(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, enable_async_checkpointing=False)
        return ocp.CheckpointManager(self.directory, options=options)

    def epochs(self) -> list[int]:
        """Epochs that have a checkpoint, oldest first."""
        with self._manager() as manager:
            return sorted(manager.all_steps())

    def save(self, epoch: int, state: Any) -> None:
        """Saves `state` as step `epoch` with its checksum; returns once it is on disk."""
        meta = {"sha256": state_checksum(state), "epoch": int(epoch), "step": int(np.asarray(state.step).flat[0])}
        with self._manager() as manager:
            manager.save(
                epoch,
                args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            )
            manager.wait_until_finished()

    def restore_latest(self, target: Any) -> tuple[int, Any] | None:
        """Restores the newest checkpoint that reads back intact.

        Args:
          target: a state with the right structure (arrays or jax.ShapeDtypeStruct leaves).

        Returns:
          (epoch, state), or None when there is no checkpoint at all.

        Raises:
          CheckpointError: checkpoints exist but none is readable.
        """
        # Restore onto this process's first device, whatever topology saved it (a CPU run resumed
        # on a GPU, or on a machine with more devices): Orbax otherwise refuses a topology change.
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                                jax.eval_shape(lambda: target))
        epochs = self.epochs()
        for epoch in reversed(epochs):
            try:
                with self._manager() as manager:
                    restored = manager.restore(
                        epoch,
                        args=ocp.args.Composite(
                            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
                        ),
                    )
                state, meta = restored.state, restored.meta
                problem = None if state_checksum(state) == meta.get("sha256") else "checksum mismatch"
            except Exception as e:  # Orbax/TensorStore raise many types for damaged files
                problem = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if problem is None:
                return epoch, state
            moved = self._quarantine(epoch)
            log.warning("checkpoint of epoch %d is unreadable (%s); moved it to %s and trying the previous one",
                        epoch, problem, moved)
        if epochs:
            raise CheckpointError(
                f"none of the checkpoints in {self.directory} (epochs {epochs}) could be restored; "
                "they were moved to corrupt_checkpoints/; start a new run without --resume"
            )
        return None

    def _quarantine(self, epoch: int) -> str:
        aside = os.path.join(os.path.dirname(self.directory), "corrupt_checkpoints")
        os.makedirs(aside, exist_ok=True)
        dest = os.path.join(aside, f"{epoch}-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(os.path.join(self.directory, str(epoch)), dest)
        return dest
