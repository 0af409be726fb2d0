"""Orbax checkpoints of the whole TrainState, with a checksum so a damaged step is detected.

Before anything is read, the target's tree paths, shapes and dtypes are compared with the
checkpoint's stored metadata: a different model (a changed latent size, another optimizer) is a
ConfigError naming the first differing leaves, and nothing is touched. Only a checkpoint whose
structure matches but whose files cannot be read, or whose bytes differ from the sha256 stored at
save time (Orbax restores a same-size overwrite of a file without complaint), counts as damaged: it
is moved aside to `<workdir>/corrupt_checkpoints/` (nothing is deleted) and the previous step is
tried, each attempt with a fresh CheckpointManager (after a failed restore a manager can fail on
healthy steps too). What Orbax logs while failing goes to `<workdir>/checkpoint_errors.log`, not to
the terminal.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
import traceback
from typing import Any

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxae.errors import CheckpointError, ConfigError

log = logging.getLogger("jaxae")


def to_host(tree: Any) -> Any:
    """numpy copies of every leaf, gathered from the other processes where this one does not hold the
    whole array (with several processes)."""

    def host(x):
        if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(host, tree)


def _agree(problem: str | None) -> str | None:
    """With several processes, a problem any of them found (each checks what it read)."""
    if jax.process_count() == 1:
        return problem
    from jax.experimental import multihost_utils

    flags = multihost_utils.process_allgather(np.asarray(problem is not None))
    return problem or ("a problem in another process's read" if np.any(flags) else None)


def leaf_digests(tree: Any) -> dict[str, str]:
    """'params/encoder/kernel' -> sha256 of that leaf's dtype, shape and bytes (independent of the
    order of the tree's containers, so a checkpoint can be verified without the model that wrote it)."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(to_host(tree))[0]:
        a = np.asarray(leaf)
        out["/".join(_name(k) for k in path)] = hashlib.sha256(
            f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes()).hexdigest()
    return out


def state_checksum(state: Any) -> str:
    """sha256 over every leaf's dtype, shape and bytes, in tree order."""
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(to_host(state)):
        a = np.asarray(leaf)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _name(entry) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def leaf_table(tree: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """'params/encoder/kernel' -> (shape, dtype) for every array leaf of a tree (arrays, ShapeDtypeStructs
    or Orbax's stored metadata)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"/".join(_name(k) for k in path): (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
            for path, leaf in leaves if hasattr(leaf, "shape")}


def structure_differences(stored: dict, requested: dict, limit: int = 3) -> list[str]:
    """The first `limit` differences between two leaf tables, as 'path: stored ..., requested ...'."""
    out = []
    for path in sorted(set(stored) | set(requested)):
        a, b = stored.get(path), requested.get(path)
        if a == b:
            continue
        show = lambda v: "nothing" if v is None else (f"{v[0]}" if v[1] in ("float32",) else f"{v[0]} {v[1]}")  # noqa: E731
        out.append(f"{path}: stored {show(a)}, requested {show(b)}")
        if len(out) == limit:
            break
    return out


class Checkpointer:
    """Saves and restores TrainStates under `directory`, one Orbax step per epoch.

    Args:
      directory: the checkpoints folder (created).
      keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, directory: str, keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.keep = keep
        self.restored_meta: dict = {}  # what restore_latest read beside the state
        os.makedirs(self.directory, exist_ok=True)

    def _manager(self) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, enable_async_checkpointing=False)
        return ocp.CheckpointManager(self.directory, options=options)

    def epochs(self) -> list[int]:
        """Epochs that have a checkpoint, oldest first."""
        with self._manager() as manager:
            return sorted(manager.all_steps())

    def save(self, epoch: int, state: Any, record: dict | None = None, *, extra: dict | None = None,
             data_iterator: Any = None) -> None:
        """Saves `state` as step `epoch` with its checksums; returns once it is committed.

        `record` (the epoch's metrics.jsonl line) is stored with it, so that a run stopped between the
        commit and the writing of metrics.jsonl gets the line back when it resumes. `extra` (JSON) is
        stored beside it; `data_iterator`, a Grain iterator, is saved by Grain's Orbax handler (one file
        per process) as the item "data"."""
        host = to_host(state)  # one copy to the host for both checksums
        meta = {"sha256": state_checksum(host), "epoch": int(epoch), "step": int(np.asarray(host.step).flat[0]),
                "leaf_sha256": leaf_digests(host), "record": record, **(extra or {})}
        items: dict[str, Any] = {"state": ocp.args.StandardSave(state), "meta": ocp.args.JsonSave(meta)}
        if data_iterator is not None:
            items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
        with self._manager() as manager:
            manager.save(epoch, args=ocp.args.Composite(**items))
            manager.wait_until_finished()

    def restore_data(self, epoch: int, data_iterator: Any) -> bool:
        """Sets `data_iterator` (a Grain iterator) to the state saved with checkpoint `epoch`; False when
        that checkpoint holds no data state for this process (saved by an in-memory mode, or by
        another number of processes)."""
        folder = os.path.join(self.directory, str(epoch), "data")
        mine = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
        if not os.path.exists(os.path.join(folder, mine)):
            return False
        with self._quiet(), self._manager() as manager:
            manager.restore(epoch, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(data_iterator)))
        return True

    def stored_leaves(self, epoch: int) -> dict[str, tuple[tuple[int, ...], str]] | None:
        """The leaf table (see `leaf_table`) of the state saved at `epoch`, from Orbax's metadata; None
        when the metadata cannot be read (a damaged checkpoint)."""
        with self._quiet():
            try:
                metadata = ocp.StandardCheckpointer().metadata(os.path.join(self.directory, str(epoch), "state"))
                tree = getattr(metadata, "item_metadata", metadata)
                return leaf_table(getattr(tree, "tree", tree))
            except Exception:  # a damaged or missing metadata file
                self._log_exception(f"reading the metadata of epoch {epoch}")
                return None

    def restore_latest(self, target: Any) -> tuple[int, Any] | None:
        """Restores the newest checkpoint that reads back intact.

        Args:
          target: a state with the right structure (arrays or jax.ShapeDtypeStruct leaves).

        Returns:
          (epoch, state), or None when there is no checkpoint at all.

        Raises:
          ConfigError: the newest checkpoint holds a state of another structure (a model with other
            sizes, another optimizer): the request is wrong, not the files, so nothing is touched.
          CheckpointError: checkpoints exist but none is readable.
        """
        # Restore onto this process's first device, whatever topology saved it (a CPU run resumed
        # on a GPU, on a machine with more devices, or by another number of processes): Orbax
        # otherwise refuses a topology change.
        device = jax.sharding.make_single_device_sharding(jax.local_devices()[0])
        abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                                jax.eval_shape(lambda: target))
        requested = leaf_table(abstract)
        epochs = self.epochs()
        for epoch in reversed(epochs):
            stored = self.stored_leaves(epoch)
            differences = structure_differences(stored, requested) if stored is not None else []
            if differences:
                raise ConfigError(
                    f"the checkpoint of epoch {epoch} in {self.directory} holds a different model than requested "
                    f"({'; '.join(differences)}); resume it with the settings it was trained with, or start a new "
                    "run in another folder (the checkpoints are untouched)"
                )
            try:
                with self._quiet():
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
                self._log_exception(f"restoring epoch {epoch}")
                problem = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            problem = _agree(problem)  # decided once for all processes
            if problem is None:
                self.restored_meta = meta
                return epoch, state
            moved = self._quarantine(epoch)
            log.warning("checkpoint of epoch %d is unreadable (%s); moved it to %s and trying the previous one",
                        epoch, problem, moved)
        if epochs:
            raise CheckpointError(
                f"none of the checkpoints in {self.directory} (epochs {epochs}) could be restored; "
                "they were moved to corrupt_checkpoints/; start a new run without [[resume=True]]"
            )
        return None

    def verify(self, epoch: int) -> str:
        """Reads the checkpoint of `epoch` without a model and without changing anything: "intact" (every
        array's sha256 matches what was stored at save time), "readable" (saved before per-leaf
        checksums: its files read back, their contents are unchecked), or "damaged: <reason>"."""
        options = ocp.CheckpointManagerOptions(read_only=True, enable_async_checkpointing=False)
        try:
            with self._quiet(), ocp.CheckpointManager(self.directory, options=options) as manager:
                restored = manager.restore(
                    epoch, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore()))
        except Exception as e:  # Orbax/TensorStore raise many types for damaged files
            self._log_exception(f"verifying epoch {epoch}")
            return f"damaged: {type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        stored = restored.meta.get("leaf_sha256") if isinstance(restored.meta, dict) else None
        if not stored:
            return "readable"
        found = leaf_digests(restored.state)
        bad = sorted(p for p in set(stored) | set(found) if stored.get(p) != found.get(p))
        return f"damaged: {', '.join(bad[:3])} differ from their checksums" if bad else "intact"

    @property
    def error_log(self) -> str:
        """The file that receives the details of failed reads (checkpoint_errors.log beside checkpoints/)."""
        return os.path.join(os.path.dirname(self.directory), "checkpoint_errors.log")

    def _log_exception(self, what: str) -> None:
        with open(self.error_log, "a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {what}\n{traceback.format_exc()}\n")

    @contextlib.contextmanager
    def _quiet(self):
        """Sends the errors Orbax, TensorStore and absl log meanwhile to the error log instead of the terminal
        (their warnings, e.g. about metadata files older Orbax versions did not write, are dropped)."""
        handler = logging.FileHandler(self.error_log, delay=True)
        handler.setLevel(logging.ERROR)
        loggers = [logging.getLogger(name) for name in ("absl", "orbax")]
        saved = [(lg.handlers[:], lg.propagate) for lg in loggers]
        for lg in loggers:
            lg.handlers[:] = [handler]
            lg.propagate = False
        try:
            yield
        finally:
            for lg, (handlers, propagate) in zip(loggers, saved):
                lg.handlers[:] = handlers
                lg.propagate = propagate
            handler.close()

    def _quarantine(self, epoch: int) -> str:
        aside = os.path.join(os.path.dirname(self.directory), "corrupt_checkpoints")
        if jax.process_count() > 1:  # process 0 moves it; the others wait for that
            from jax.experimental import multihost_utils

            if jax.process_index() != 0:
                multihost_utils.sync_global_devices(f"jaxae: quarantined {epoch}")
                return aside
            dest = self._move_aside(epoch, aside)
            multihost_utils.sync_global_devices(f"jaxae: quarantined {epoch}")
            return dest
        return self._move_aside(epoch, aside)

    def _move_aside(self, epoch: int, aside: str) -> str:
        os.makedirs(aside, exist_ok=True)
        dest = os.path.join(aside, f"{epoch}-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(os.path.join(self.directory, str(epoch)), dest)
        return dest
