"""Data parallelism: `jax.jit` over a Mesh of devices with the batch axis sharded (the default); the
classic `jax.pmap` with `lax.pmean` of the gradients (--parallel pmap, for comparison); and, for many
vmapped models (--seeds, --sweep), the models spread over the devices instead.

The parameters, optimizer and estimator state are replicated; every batch is constrained to be split
over the mesh's "data" axis, so XLA (GSPMD) runs each device on its slice and all-reduces the
gradient. With `jax_threefry_partitionable` (on by default since JAX 0.5) a random draw of a given
shape gives the same numbers however it is sharded, so one device and eight devices train the same
model, up to the order of floating-point sums. No mesh context (`jax.set_mesh`) is needed: every sharding
is an explicit NamedSharding, passed where it is used. Multi-host: call `jax.distributed.initialize()` first
(see the README); `jax.devices()` then lists every host's devices and the same code runs on each host.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding

from jaxae.errors import ConfigError
from jaxae import rand
from jaxae.train import programs

AXIS = "data"  # the mesh's (and pmap's) device axis


class DataParallel:
    """The mesh and shardings of a data-parallel run over `devices` (default: all): `jit` with the
    batch constrained to be split over the mesh (GSPMD inserts the gradient all-reduce)."""

    name = "mesh"

    def __init__(self, devices=None, models: bool = False):
        self.devices = list(devices or jax.devices())
        self.mesh = Mesh(np.array(self.devices), (AXIS,))
        self.replicated = NamedSharding(self.mesh, jax.P())
        self.batch = NamedSharding(self.mesh, jax.P(AXIS))
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
                              '[[parallel="none"]]')

    def check_models(self, n: int) -> None:
        if n % self.size:
            raise ConfigError(f"{n} models do not split over {self.size} devices; train a multiple of {self.size} "
                              "([[seeds]], [[lr_scales]]) or use [[parallel=\"none\"]]")

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

    reduce = None  # GSPMD reduces the gradients itself

    def check_state(self, state) -> None:
        """Raises ConfigError when `state` cannot be laid out on the devices (any state can on a mesh)."""
        del state

    def place_batch(self, batch):
        """A host batch of the streaming mode on the devices. With several processes each process
        copies only its own rows (every process holds the same global batch order)."""
        if jax.process_count() == 1:
            return jax.device_put(batch, self.batch)
        count, index = jax.process_count(), jax.process_index()

        def mine(x):
            rows = x.shape[0] // count
            return jax.make_array_from_process_local_data(self.batch, x[index * rows : (index + 1) * rows], x.shape)

        return jax.tree.map(mine, batch)

    def jit(self, fn, n_args: int):
        """`fn(state, *args) -> (state, metrics)` compiled for the mesh (state donated)."""
        del n_args
        return jax.jit(self.pin(fn), donate_argnums=0)

    def compile(self, lowered):
        """The executable of a lowering of `self.jit(...)`, reused when an identical one was compiled
        before (jaxae.train.programs)."""
        return programs.compile(lowered, tuple(d.id for d in self.devices))


class Pmap(DataParallel):
    """`jax.pmap` (in maintenance mode since JAX 0.8, where it became jit over shard_map; kept as the
    labelled comparison backend it is) over the devices under the axis name "data": each device takes its slice of every
    batch's rows (`constrain`), computes its gradients, and `lax.pmean` averages them (`reduce`) before
    the optimizer step, so every device applies the same update.

    The state stays replicated between calls (pmap's `in_axes=None` / `out_axes=None`); per-chain
    estimator state (PCD chains: leaves with a leading chain axis) is split over the devices inside
    and gathered back at the end of each call. Random draws over rows go through jaxae.rand, which
    gives each device its rows of the whole batch's draw, so the result does not depend on the device
    count (tested against one device on 8 forced CPU devices); the step is traced inside
    `jaxae.rand.rows_split_over("data")`, which asks for that explicitly.
    """

    name = "pmap"

    def __init__(self, devices=None, models: bool = False):
        if models:
            raise ConfigError('[[parallel="pmap"]] trains one model split over the devices; for several models '
                              '([[seeds]], [[lr_scales]]) use [[parallel="mesh"]], which spreads the models over the devices')
        if jax.process_count() > 1:
            raise ConfigError('[[parallel="pmap"]] runs within one process; with several processes use [[parallel="mesh"]] '
                              "(the default), which spans every process's devices")
        super().__init__(devices)

    def _slice(self, x):
        rows = x.shape[0] // self.size
        return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(AXIS) * rows, rows)

    def constrain(self, batch):
        """Inside pmap: this device's rows of the (replicated) global batch."""
        return jax.tree.map(self._slice, batch)

    def reduce(self, tree):  # type: ignore[override]  # (the mesh backend needs none: reduce = None)
        """Inside pmap: the mean over devices (gradients, and the metrics that go with them)."""
        return jax.lax.pmean(tree, AXIS)

    def check_state(self, state) -> None:
        """Raises ConfigError unless the per-chain estimator state (PCD chains) splits evenly over the devices."""
        for x in jax.tree.leaves(state.est_state):
            if np.ndim(x) and np.shape(x)[0] % self.size:
                raise ConfigError(f"the estimator's {np.shape(x)[0]} persistent chains do not split over {self.size} "
                                  f"devices; use a multiple of {self.size} ([[n_chains]]) or [[parallel=\"mesh\"]]")

    def place_batch(self, batch):
        return jax.device_put(batch, self.replicated)

    def jit(self, fn, n_args: int):
        """`fn(state, *args) -> (state, metrics)` mapped over the devices, every argument replicated."""

        def per_device(lane, state, *args):
            del lane  # the one mapped argument pmap needs; the device's place comes from axis_index

            def mine(x):
                return self._slice(x) if x.ndim else x

            def gather(x):
                return jax.lax.all_gather(x, AXIS, tiled=True) if x.ndim else x

            with rand.rows_split_over(AXIS):  # each device keeps its rows of every batch-wide draw
                state, metrics = fn(state._replace(est_state=jax.tree.map(mine, state.est_state)), *args)
            return state._replace(est_state=jax.tree.map(gather, state.est_state)), metrics

        mapped = jax.pmap(per_device, axis_name=AXIS, in_axes=(0,) + (None,) * (1 + n_args), out_axes=None,
                          devices=self.devices, donate_argnums=1)
        lanes = jax.device_put(np.arange(self.size), self.batch)
        return _WithLanes(mapped, lanes)

    def compile(self, lowered):
        return _WithLanes(programs.compile(lowered.mapped, tuple(d.id for d in self.devices)), lowered.lanes)


class _WithLanes:
    """A pmapped function called (and lowered) without its leading per-device argument."""

    def __init__(self, mapped, lanes):
        self.mapped, self.lanes = mapped, lanes

    def __call__(self, *args):
        return self.mapped(self.lanes, *args)

    def lower(self, *args):
        return _WithLanes(self.mapped.lower(self.lanes, *args), self.lanes)

    def compile(self):
        return _WithLanes(self.mapped.compile(), self.lanes)


BACKENDS = {"mesh": DataParallel, "pmap": Pmap}


def choose(parallel: str, models: bool = False) -> DataParallel | None:
    """Resolves TrainConfig.parallel: "auto" uses a mesh when more than one device is visible."""
    if parallel == "none" or (parallel == "auto" and jax.device_count() == 1):
        return None
    return BACKENDS["mesh" if parallel == "auto" else parallel](models=models)
