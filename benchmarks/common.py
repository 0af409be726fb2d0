"""Shared helpers: data, timing, JSON-lines output."""
from __future__ import annotations

import json
import os
import platform
import time

import jax
import numpy as np

import jaxae


def load_data(name: str | None = None):
    """Full MNIST when $JAXAE_DATA_DIR (or the cache) has it, else the bundled mnist-mini."""
    name = name or ("mnist" if os.environ.get("JAXAE_DATA_DIR") else "mnist-mini")
    return jaxae.data.load(name, download=False)


def emit(record: dict) -> dict:
    """Prints one JSON line with the machine's facts attached."""
    device = jax.devices()[0]
    record = {**record, "backend": device.platform, "device": getattr(device, "device_kind", str(device)),
              "host": platform.processor() or platform.machine(), "cpus": os.cpu_count()}
    print(json.dumps(record), flush=True)
    return record


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


def jaxae_throughput(task, images: np.ndarray, batch_size: int, mode: str, epochs: int, seed: int = 0,
                     seeds: int = 1, dp=None, precision: str = "float32") -> dict:
    """samples/s of jaxae's compiled training in `mode` on `images`, compile time separate; with
    seeds > 1, of that many vmapped models (samples/s over all of them); with a DataParallel `dp`,
    over its devices."""
    from jaxae.train.loop import compile_epoch, configured, init_states

    config = jaxae.TrainConfig(batch_size=batch_size, mode=mode, seed=seed, seeds=seeds,
                               parallel=dp.name if dp else "none", precision=precision)
    task = configured(task, config)
    state = init_states(task, config, images[:batch_size])
    state = dp.put_state(state) if dp else jax.device_put(state)
    data = images if mode == "stream" else (dp.replicate(images) if dp else jax.device_put(images))
    run_epoch, compile_s = compile_epoch(task, config, mode, state, data, dp)
    _, epoch_s, warmup_s = timed_epochs(lambda s, e: run_epoch(s, data, e), state, epochs)
    samples = seeds * (images.shape[0] // batch_size) * batch_size
    return {"samples_per_s": samples / epoch_s, "epoch_s": epoch_s, "compile_s": compile_s,
            "first_epoch_s": warmup_s}
