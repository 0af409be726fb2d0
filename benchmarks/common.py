"""Shared helpers: data, timing, JSON-lines output."""
from __future__ import annotations

import functools
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxae


def load_data(name: str | None = None):
    """Full MNIST when $JAXAE_DATA_DIR (or the cache) has it, else the bundled mnist-mini."""
    name = name or ("mnist" if os.environ.get("JAXAE_DATA_DIR") else "mnist-mini")
    return jaxae.data.load(name, download=False)


# CPU features that decide which kernels XLA (and oneDNN) can use
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


@functools.cache
def machine() -> dict:
    """Facts that tell two machines' tables apart: CPU model and the features XLA's code generator can
    target, the CPUs this process may run on, the cgroup's CPU quota, the thread settings and XLA flags
    in the environment, and the library versions."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    quota = None
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:  # "max 100000" or "200000 100000" (2 CPUs)
            limit, period = f.read().split()
            quota = None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    device = jax.devices()[0]
    facts = {"backend": device.platform, "device": getattr(device, "device_kind", str(device)),
             "cpu_model": model, "cpu_flags": [f for f in CPU_FLAGS if f in flags],
             "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count(), "cpu_quota": quota, "jax": jax.__version__,
             "env": {k: os.environ[k] for k in ("XLA_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS")
                     if os.environ.get(k)}}
    return facts


@functools.cache
def matmul_rate() -> dict:
    """This machine's float32 matrix-product rate, timed in this run: the best of 5 jitted n x n products
    after a warm-up (n = 2048 on a CPU, 8192 on an accelerator), in FLOP/s (2 n^3 per product)."""
    n = 2048 if jax.default_backend() == "cpu" else 8192
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.float32)
    product = jax.jit(jnp.matmul)
    jax.block_until_ready(product(a, b))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(product(a, b))
        best = min(best, time.perf_counter() - t0)
    return {"matmul_n": n, "matmul_flop_per_s": 2 * n**3 / best}


def emit(record: dict) -> dict:
    """Prints one JSON line with the machine's facts attached; a throughput row (samples_per_s) with
    `flops_per_example` also gets its achieved FLOP/s and their fraction of this machine's matmul rate
    (timed once per run, see matmul_rate)."""
    record = {**record, **machine()}
    if record.get("samples_per_s") and record.get("flops_per_example"):
        rate = matmul_rate()
        record["flop_per_s"] = record["flops_per_example"] * record["samples_per_s"]
        record.update(rate, matmul_fraction=record["flop_per_s"] / rate["matmul_flop_per_s"])
    print(json.dumps(record), flush=True)
    return record


def flops_per_example(task, images, batch_size: int) -> float:
    """FLOPs per example of `task`'s optimizer step (matrix products and convolutions; jaxae.train.cost)."""
    from jaxae.data.dataset import take
    from jaxae.train import init_state
    from jaxae.train.cost import step_flops

    batch = take(images, slice(0, batch_size))
    return step_flops(task, init_state(task, 0, batch), batch) / batch_size


def timed_epochs(run_epoch, state, epochs: int):
    """Runs `epochs` epochs after one warm-up epoch; returns (state, seconds per epoch, warm-up s)."""
    t0 = time.perf_counter()
    state, metrics = run_epoch(state, 0)
    jax.block_until_ready(metrics)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        state, metrics = run_epoch(state, epoch)
    jax.block_until_ready((state, metrics))
    return state, (time.perf_counter() - t0) / epochs, warmup


def compiled_epoch(task, images: np.ndarray, batch_size: int, mode: str, seed: int = 0, seeds: int = 1, dp=None,
                   precision: str = "float32"):
    """jaxae's training epoch in `mode`, compiled ahead of time: (run_epoch(state, epoch) -> (state, metrics),
    the initial state on the devices, compile seconds). Arguments as in jaxae_throughput."""
    from jaxae.train.loop import compile_epoch, configured, init_states

    config = jaxae.TrainConfig(batch_size=batch_size, mode=mode, seed=seed, seeds=seeds,
                               parallel=dp.name if dp else "none", precision=precision)
    task = configured(task, config)
    state = init_states(task, config, images[:batch_size])
    state = dp.put_state(state) if dp else jax.device_put(state)
    data = images if mode == "stream" else (dp.replicate(images) if dp else jax.device_put(images))
    run_epoch, compile_s = compile_epoch(task, config, mode, state, data, dp)
    return (lambda s, epoch: run_epoch(s, data, epoch)), state, compile_s


def interleaved(runs: dict, rounds: int) -> dict[str, list[float]]:
    """Times `runs` ({name: (epoch_fn(carry, epoch) -> (carry, out), carry)}) epoch by epoch in turn: epoch 0
    of each compiles and warms up and is not counted, then `rounds` rounds of one epoch of each, so that a
    machine whose speed drifts moves every run alike. Returns each run's epoch seconds."""
    state = {name: list(run) for name, run in runs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for epoch in range(rounds + 1):
        for name, run in state.items():
            t0 = time.perf_counter()
            run[1], out = run[0](run[1], epoch)
            jax.block_until_ready((run[1], out))
            if epoch:
                seconds[name].append(time.perf_counter() - t0)
    return seconds


def jaxae_throughput(task, images: np.ndarray, batch_size: int, mode: str, epochs: int, seed: int = 0,
                     seeds: int = 1, dp=None, precision: str = "float32") -> dict:
    """samples/s of jaxae's compiled training in `mode` on `images`, compile time separate; with
    seeds > 1, of that many vmapped models (samples/s over all of them); with a DataParallel `dp`,
    over its devices."""
    run_epoch, state, compile_s = compiled_epoch(task, images, batch_size, mode, seed, seeds, dp, precision)
    _, epoch_s, warmup_s = timed_epochs(run_epoch, state, epochs)
    samples = seeds * (images.shape[0] // batch_size) * batch_size
    return {"samples_per_s": samples / epoch_s, "epoch_s": epoch_s, "compile_s": compile_s,
            "first_epoch_s": warmup_s}
