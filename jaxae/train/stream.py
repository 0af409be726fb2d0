"""The streaming mode: training examples read on the host (a shard set on disk, or arrays in memory),
assembled into chunks of K batches by a Grain pipeline in a background thread, put on the devices
there, and trained by one compiled `lax.scan` over each chunk, so the Python loop runs once per chunk.

How the examples are split and ordered (the same on one process or many):
  - With D data-parallel devices (1 without a mesh) the split's first D * (n // D) examples form D
    equal *parts* of consecutive examples; device d's rows of every batch come from part d, and each
    process reads only the parts of its own devices (with shards of about equal size and D processes,
    each reads its 1/D of the shards). So a run depends on the number of devices, not on how they are
    spread over processes: 2 processes of 1 device train the model of 1 process with 2 devices.
  - Each part is shuffled per epoch by `jaxae.train.steps.shuffle(key, epoch * D + d, n // D)` (with
    TrainConfig.shuffle), so with one device streaming sees exactly the batches of the in-memory scan.
  - Record j of the Grain dataset is chunk j of the whole run (epoch j // chunks_per_epoch); the
    iterator's state ({"next_index": j}) is saved in every checkpoint by Grain's Orbax handler, and a
    resumed run continues at the chunk after the checkpoint.
"""
from __future__ import annotations

import functools
import threading
import time
from typing import Any, NamedTuple

import grain
import jax
import numpy as np
from jax.sharding import NamedSharding
from tqdm.auto import tqdm

from jaxae.data.dataset import gather, n_examples, nbytes, take
from jaxae.errors import CheckpointError, ConfigError
from jaxae.train import programs, steps
from jaxae.train.checkpoint import Checkpointer, to_host
from jaxae.train.parallel import AXIS

IN_FLIGHT = 1  # chunks dispatched ahead of the one the device is computing (async dispatch)
CHUNK_BYTES = 32 << 20  # automatic chunk size: K batches of at most this many bytes (and a device's 1/16)


class Plan(NamedTuple):
    """How an epoch is cut: D parts of `part_size` examples, `rows` rows of each part per batch,
    `steps` batches per epoch, `chunk` batches per compiled call."""

    parts: int
    part_size: int
    rows: int
    steps: int
    chunk: int

    @property
    def chunks_per_epoch(self) -> int:
        return -(-self.steps // self.chunk)

    def chunk_steps(self, c: int) -> tuple[int, int]:
        """The first and one-past-last step of chunk c of an epoch."""
        return c * self.chunk, min(self.steps, (c + 1) * self.chunk)


def plan(n: int, batch_size: int, parts: int, batch_bytes: int, chunk_steps: int = 0, device_bytes: int | None = None) -> Plan:
    """The Plan for n examples (see the module docstring); chunk_steps 0 chooses K from the batch's bytes.

    Raises:
      ConfigError: the parts are too small for one batch.
    """
    part_size, rows = n // parts, batch_size // parts
    steps_per_epoch = part_size // rows if rows else 0
    if steps_per_epoch < 1:
        raise ConfigError(f"{n} training examples in {parts} parts of {part_size} are fewer than one batch's "
                          f"{rows} rows each; lower [[batch_size]]")
    if chunk_steps:
        k = min(chunk_steps, steps_per_epoch)
    else:
        budget = min(CHUNK_BYTES, (device_bytes or CHUNK_BYTES * 16) // 16)
        k_max = max(1, min(steps_per_epoch, budget // max(1, batch_bytes)))
        k = -(-steps_per_epoch // -(-steps_per_epoch // k_max))  # equal chunks, each at most k_max
    return Plan(parts, part_size, rows, steps_per_epoch, k)


class ChunkSource:
    """Grain's random-access source: record j is chunk j of the run, {"epoch", "chunk", "data"} with data
    this process's rows of K batches, every leaf (k, local rows, ...)."""

    def __init__(self, examples: Any, key: np.ndarray, plan: Plan, parts: list[int], epochs: int, shuffle: bool):
        self.examples, self.key, self.plan, self.parts = examples, key, plan, parts
        self.epochs, self.shuffle = epochs, shuffle
        self._perms: dict = {}
        self._lock = threading.Lock()
        self._cpu = jax.local_devices(backend="cpu")[0]
        self._permute = jax.jit(functools.partial(steps.shuffle, n=plan.part_size))

    def __len__(self) -> int:
        return self.epochs * self.plan.chunks_per_epoch

    def order(self, epoch: int, part: int) -> np.ndarray:
        """(part_size,) int64 example indices of part `part` in the order of epoch `epoch`."""
        p = self.plan
        with self._lock:
            if (epoch, part) not in self._perms:
                if self.shuffle:
                    with jax.default_device(self._cpu):  # on the host, whatever the accelerator
                        local = np.asarray(self._permute(self.key, epoch * p.parts + part))
                else:
                    local = np.arange(p.part_size)
                self._perms = {k: v for k, v in self._perms.items() if k[0] >= epoch}  # drop past epochs
                self._perms[(epoch, part)] = part * p.part_size + local.astype(np.int64)
            return self._perms[(epoch, part)]

    def __getitem__(self, j: int) -> dict:
        p = self.plan
        epoch, c = divmod(int(j), p.chunks_per_epoch)
        first, last = p.chunk_steps(c)
        rows = [self.order(epoch, d)[first * p.rows : last * p.rows].reshape(last - first, p.rows) for d in self.parts]
        index = np.concatenate(rows, axis=1)  # (k, local rows): this process's parts side by side
        data = gather(self.examples, index.reshape(-1))  # aligned: on the CPU, _place does not copy it
        data = jax.tree.map(lambda a: a.reshape(index.shape + a.shape[1:]), data)
        return {"epoch": epoch, "chunk": c, "data": data}


class Stream:
    """The streaming mode of one run: its Plan, its Grain iterator, and the chunk step compiled once per
    chunk length.

    Args:
      task, config: the run's (configured) Task and TrainConfig.
      state: the initial state (for compiling; the key's host copy seeds the shuffles).
      examples: the training examples (a ShardArray, arrays, or a pytree of them).
      dp: the DataParallel of the run (None: one device).
    """

    def __init__(self, task, config, state, examples, dp=None):
        self.task, self.config, self.dp = task, config, dp
        n = n_examples(examples)
        parts = dp.size if dp is not None and not dp.models and dp.name == "mesh" else 1
        device = jax.local_devices()[0]
        stats = device.memory_stats() if hasattr(device, "memory_stats") else None
        batch_bytes = nbytes(take(examples, slice(0, 1))) * config.batch_size
        self.plan = plan(n, config.batch_size, parts, batch_bytes, config.chunk_steps,
                         (stats or {}).get("bytes_limit"))
        mine = _local_parts(dp, parts)
        key = np.asarray(jax.device_get(_first_copy(state.key)))
        self.source = ChunkSource(examples, key, self.plan, mine, config.epochs, config.shuffle)
        self._examples = examples
        self._compiled: dict[int, Any] = {}
        # chunks are split over the mesh's devices along their rows; pmap takes them replicated
        self._sharding = NamedSharding(dp.mesh, jax.P(None, AXIS)) if parts > 1 else None
        self._replicated = dp.replicated if dp is not None and parts == 1 else None
        kw: dict[str, Any] = {"constrain": dp.constrain if dp is not None and not dp.models else None,
                              "reduce": dp.reduce if dp is not None and not dp.models else None,
                              "grad_norm": config.grad_norm}
        chunk_fn = functools.partial(steps.train_chunk, task, **kw)
        self._jit = dp.jit(chunk_fn, 1) if dp is not None else jax.jit(chunk_fn, donate_argnums=0)
        t0 = time.perf_counter()
        self._compile(state, self.plan.chunk)
        last = self.plan.steps - (self.plan.chunks_per_epoch - 1) * self.plan.chunk
        if last != self.plan.chunk:
            self._compile(state, last)
        self.compile_s = time.perf_counter() - t0
        self.dataset = grain.MapDataset.source(self.source).map(self._place)
        self.iterator = None

    def _compile(self, state, k: int):
        p = self.plan
        local = take(self._examples, np.zeros(k * p.rows * len(self.source.parts), np.int64))
        shaped = jax.tree.map(lambda a: np.zeros((k, p.rows * p.parts) + a.shape[1:], a.dtype), local)
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=self._sharding)
                                if self._sharding is not None else jax.ShapeDtypeStruct(a.shape, a.dtype), shaped)
        lowered = self._jit.lower(state, abstract)
        self._compiled[k] = (self.dp.compile(lowered) if self.dp is not None
                             else programs.compile(lowered, programs.devices_of(state)))

    def _place(self, record: dict) -> dict:
        """Runs in Grain's thread: the chunk on the devices (each process gives its own rows)."""
        data = record["data"]
        if self._sharding is None:
            placed = jax.device_put(data, self._replicated)
        elif jax.process_count() == 1:
            placed = jax.device_put(data, self._sharding)
        else:
            k = next(iter(jax.tree.leaves(data))).shape[0]
            placed = jax.tree.map(lambda a: jax.make_array_from_process_local_data(
                self._sharding, a, (k, self.plan.rows * self.plan.parts) + a.shape[2:]), data)
        return {**record, "data": placed}

    def start(self, next_chunk: int = 0):
        """The iterator, positioned at chunk `next_chunk` of the run (Grain's state {"next_index": j})."""
        self.iterator = self.dataset.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=2)).__iter__()
        if next_chunk:
            self.iterator.set_state({"next_index": next_chunk})
        return self.iterator

    def position(self, epoch_index: int, steps_done: int) -> int:
        """The run's chunk index of step `steps_done` of epoch `epoch_index` (a chunk boundary)."""
        if steps_done % self.plan.chunk:
            raise ConfigError(f"step {steps_done} of an epoch is not at a chunk boundary of {self.plan.chunk} steps")
        return epoch_index * self.plan.chunks_per_epoch + steps_done // self.plan.chunk

    def run_epoch(self, state, epoch_index: int, first_chunk: int = 0, on_chunk=None, bar=None):
        """Trains chunks first_chunk.. of epoch `epoch_index` from the iterator.

        on_chunk(state, first_step, last_step, outs) is called after each chunk (outs: the chunks'
        metrics so far); it may save a checkpoint. Returns (state, per-step metrics as device arrays per
        chunk, seconds waited for data)."""
        assert self.iterator is not None, "call start() first"
        outs, waited = [], 0.0
        for c in range(first_chunk, self.plan.chunks_per_epoch):
            t0 = time.perf_counter()
            record = next(self.iterator)
            waited += time.perf_counter() - t0
            if (record["epoch"], record["chunk"]) != (epoch_index, c):
                raise RuntimeError(f"the data iterator is at epoch {record['epoch']} chunk {record['chunk']}, "
                                   f"expected {epoch_index} chunk {c}")
            k = next(iter(jax.tree.leaves(record["data"]))).shape[0]
            state, metrics = self._compiled[k](state, record["data"])
            outs.append(metrics)
            if len(outs) > IN_FLIGHT:  # bounded: each queued chunk holds its input on the device
                jax.block_until_ready(outs[-1 - IN_FLIGHT])
            if bar is not None:
                bar.update(k * self.config.batch_size)
            if on_chunk is not None:
                on_chunk(state, *self.plan.chunk_steps(c), outs)
        return state, outs, waited


def concat(outs: list) -> dict:
    """Per-step metrics of an epoch from its chunks' (k,) arrays: {name: (steps,) numpy}."""
    host = [jax.tree.map(np.asarray, jax.device_get(o)) for o in outs]
    return {k: np.concatenate([h[k] for h in host]) for k in host[0]} if host else {}


def _local_parts(dp, parts: int) -> list[int]:
    """The parts this process reads: those of its own devices on the mesh's data axis."""
    if parts == 1:
        return [0]
    mine = {d.id for d in jax.local_devices()}
    return [i for i, d in enumerate(dp.devices) if d.id in mine]


def _first_copy(x):
    """A host-fetchable copy of a (possibly replicated, multi-process) array."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return x.addressable_data(0)
    return x


def restore_partial(partial: Checkpointer, state, start: int):
    """(state, meta) of the newest mid-epoch checkpoint when it continues epoch start + 1 past `state`,
    else None."""
    if not partial.epochs():
        return None
    restored = partial.restore_latest(state)
    meta = partial.restored_meta
    if restored is None or meta.get("epoch_index") != start:
        return None
    if int(np.asarray(to_host(restored[1].step)).flat[0]) <= int(np.asarray(to_host(state.step)).flat[0]):
        return None
    return restored[1], meta


def start_feed(feed: Stream, ckpt: Checkpointer | None, partial: Checkpointer | None, start: int, resumed) -> None:
    """Starts the Grain iterator at the chunk after the restored checkpoint; where the checkpoint holds
    the iterator's state (Grain's Orbax handler), that state is restored and must agree."""
    steps_done = resumed[1]["steps_done"] if resumed is not None else 0
    position = feed.position(start, steps_done)
    iterator = feed.start(position)
    source, step = (partial, int(resumed[1]["step"])) if resumed is not None else (ckpt, start)
    if source is not None and step and source.restore_data(step, iterator):
        found = iterator.get_state().get("next_index")
        if found != position:
            raise CheckpointError(f"the data iterator saved in {source.directory}/{step} is at chunk {found} but the "
                                  f"training state is at chunk {position}; the checkpoint is inconsistent: resume from "
                                  "an earlier one or start a new run")


def streamed_epoch(feed: Stream, state, epoch: int, resumed, partial: Checkpointer | None, config, primary: bool):
    """One streamed epoch (continuing a mid-epoch checkpoint when `resumed`), saving mid-epoch checkpoints
    every config.checkpoint_steps. Returns (state, per-step host metrics, data wait s, steps run)."""
    plan = feed.plan
    before = _metrics_from_json(resumed[1]["metrics"]) if resumed is not None else {}
    first_step = resumed[1]["steps_done"] if resumed is not None else 0

    def on_chunk(state, first, last, outs):
        every = config.checkpoint_steps
        if partial is not None and every and last < plan.steps and last // every > first // every:
            so_far = _merge(before, concat(outs))
            partial.save(int(np.asarray(to_host(state.step)).flat[0]), state, extra={
                "epoch_index": epoch - 1, "steps_done": last, "metrics": _metrics_to_json(so_far)},
                data_iterator=feed.iterator)

    bar = tqdm(total=(plan.steps - first_step) * config.batch_size, desc=f"epoch {epoch}", unit="samples",
               unit_scale=True, leave=False, disable=not (config.progress and primary))
    state, outs, waited = feed.run_epoch(state, epoch - 1, first_step // plan.chunk, on_chunk,
                                         bar if not bar.disable else None)
    bar.close()
    return state, _merge(before, concat(outs)), waited, plan.steps - first_step


def _merge(before: dict, after: dict) -> dict:
    return {k: np.concatenate([before[k], after[k]]) for k in after} if before else after


def _metrics_to_json(metrics: dict) -> dict:
    return {k: {"dtype": str(v.dtype), "values": v.tolist()} for k, v in metrics.items()}


def _metrics_from_json(stored: dict) -> dict:
    return {k: np.asarray(v["values"], dtype=v["dtype"]) for k, v in stored.items()}
