"""Data parallelism: `jax.jit` over a Mesh of devices with the batch axis sharded; and, for many
vmapped models (--seeds, --sweep), the models spread over the devices instead.

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

    def __init__(self, devices=None, models: bool = False):
        self.devices = list(devices or jax.devices())
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch = NamedSharding(self.mesh, PartitionSpec(AXIS))
        # models=True: the state is a stack of vmapped models, split along its first axis; batches are
        # not split (each device trains its models on whole batches)
        self.models = models
        self.state_sharding = self.batch if models else self.replicated

    @property
    def size(self) -> int:
        return len(self.devices)

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise ConfigError(f"batch_size {batch_size} does not split over {self.size} devices; use a multiple of "
                              f"{self.size} (e.g. {batch_size - batch_size % self.size or self.size}) or "
                              "--parallel none")

    def check_models(self, n: int) -> None:
        if n % self.size:
            raise ConfigError(f"{n} models do not split over {self.size} devices; train a multiple of {self.size} "
                              "(--seeds, --sweep) or use --parallel none")

    def replicate(self, tree, sharding=None):
        """Puts every leaf of `tree` on all devices (or as `sharding` says). Built from host copies with
        `jax.make_array_from_callback`, which also works when the mesh spans several hosts (every
        process passes the same values: the same data and seed)."""
        sharding = sharding or self.replicated

        def put(x):
            host = np.asarray(x)
            return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

        return jax.tree.map(put, tree)

    def put_state(self, state):
        """The TrainState on the devices: replicated, or split along the model axis."""
        return self.replicate(state, self.state_sharding)

    def pin(self, fn):
        """`fn(state, ...) -> (state, metrics)` whose returned state keeps the input's layout (otherwise
        XLA may shard, e.g., PCD chains, and the next call's input layout would differ)."""

        def pinned(*args, **kwargs):
            state, metrics = fn(*args, **kwargs)
            return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.state_sharding), state), metrics

        return pinned

    def constrain(self, batch):
        """Inside jit: split every leaf of a batch along its first axis over the devices."""
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self.batch), batch)


def choose(parallel: str, models: bool = False) -> DataParallel | None:
    """Resolves TrainConfig.parallel: "auto" uses a mesh when more than one device is visible."""
    if parallel == "none" or (parallel == "auto" and jax.device_count() == 1):
        return None
    return DataParallel(models=models)
