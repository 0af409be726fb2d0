"""Data parallelism: `jax.jit` over a Mesh of devices with the batch axis sharded.

The parameters, optimizer and estimator state are replicated; every batch is constrained to be split
over the mesh's "data" axis, so XLA (GSPMD) runs each device on its slice and all-reduces the
gradient. With `jax_threefry_partitionable` (on by default since JAX 0.5) a random draw of a given
shape gives the same numbers however it is sharded, so one device and eight devices train the same
model, up to the order of floating-point sums. Multi-host: call `jax.distributed.initialize()` first
(see the README); `jax.devices()` then lists every host's devices and the same code runs on each host.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxae.errors import ConfigError

AXIS = "data"


class DataParallel:
    """The mesh and shardings of a data-parallel run over `devices` (default: all)."""

    def __init__(self, devices=None):
        self.devices = list(devices or jax.devices())
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch = NamedSharding(self.mesh, PartitionSpec(AXIS))

    @property
    def size(self) -> int:
        return len(self.devices)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ConfigError(f"batch_size {batch_size} does not split over {self.size} devices; use a multiple of "
                              f"{self.size} (e.g. {batch_size - batch_size % self.size or self.size}) or "
                              "--parallel none")

    def replicate(self, tree):
        """Puts every leaf of `tree` on all devices. Built from host copies with
        `jax.make_array_from_callback`, which also works when the mesh spans several hosts (every
        process passes the same values: the same data and seed)."""

        def put(x):
            host = np.asarray(x)
            return jax.make_array_from_callback(host.shape, self.replicated, lambda index: host[index])

        return jax.tree.map(put, tree)

    def pin(self, fn):
        """`fn(state, ...) -> (state, metrics)` whose returned state stays replicated (otherwise XLA may
        shard, e.g., PCD chains, and the next call's input layout would differ)."""

        def pinned(*args, **kwargs):
            state, metrics = fn(*args, **kwargs)
            return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.replicated), state), metrics

        return pinned

    def constrain(self, batch):
        """Inside jit: split every leaf of a batch along its first axis over the devices."""
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.batch), batch)


def choose(parallel: str) -> DataParallel | None:
    """Resolves TrainConfig.parallel: "auto" uses a mesh when more than one device is visible."""
    if parallel == "none" or (parallel == "auto" and jax.device_count() == 1):
        return None
    return DataParallel()
