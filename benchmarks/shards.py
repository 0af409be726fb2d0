"""Shard sets on disk (jaxae.data.shards) streamed through the trainer's Grain pipeline.

    python -m benchmarks.shards --formats             # gather speed: .npy memory map vs ArrayRecord
    JAXAE_DATA_DIR=... python -m benchmarks.shards --throughput   # full MNIST from shards vs in memory
    JAXAE_DATA_DIR=... python -m benchmarks.shards --scale DIR    # >= 6 GB of shards, a VAE epoch, peak RSS

--throughput trains the AE, the VAE and RBM CD-1 on full MNIST in this process, once from memory (the
scan mode, data on the device) and once streamed from a shard set, and prints samples/s of the timed
epochs (after the first) and their ratio. --scale writes MNIST tiled with random shifts of up to 2
pixels (8M images, 6.3 GB) as shards in DIR (kept for reruns), then trains the VAE for one epoch from
them in a child process under /usr/bin/time -v and prints its peak resident memory. The generated
shards are written at run time, never committed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import jaxae
from benchmarks.common import emit, load_data
from jaxae.data import shards


def formats(images: np.ndarray, batches: int = 100) -> None:
    """Random batches (128 images, and a chunk of 4096) gathered from a .npy shard set and from an
    ArrayRecord file of the same images."""
    from array_record.python.array_record_module import ArrayRecordReader, ArrayRecordWriter

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        npy = shards.write(os.path.join(folder, "npy"), images).splits["train"]["image"]
        path = os.path.join(folder, "images.array_record")
        writer = ArrayRecordWriter(path, "group_size:1")
        for x in images:
            writer.write(x.tobytes())
        writer.close()
        reader = ArrayRecordReader(path)
        shape = images.shape[1:]
        readers = {"npy-mmap": lambda idx: npy[idx],
                   "array_record": lambda idx: np.stack([np.frombuffer(r, np.uint8).reshape(shape)
                                                         for r in reader.read(idx.tolist())])}
        for batch, (name, read) in [(b, item) for b in (128, 4096) for item in readers.items()]:
            index = [rng.integers(0, len(images), batch) for _ in range(batches)]
            check = read(index[0])
            assert np.array_equal(check, images[index[0]])
            t0 = time.perf_counter()
            for idx in index:
                read(idx)
            seconds = time.perf_counter() - t0
            emit({"bench": "shard-format", "format": name, "batch": batch,
                  "examples_per_s": batch * batches / seconds, "us_per_batch": 1e6 * seconds / batches})


TASKS = {
    "ae": lambda: jaxae.tasks.ae.task(jaxae.AEConfig()),
    "vae": lambda: jaxae.tasks.vae.task(jaxae.VAEConfig()),
    "rbm-cd1": lambda: jaxae.tasks.rbm.task(jaxae.tasks.RBMConfig(k=1)),
}


def throughput(epochs: int, models: list[str], repeats: int = 2) -> None:
    """Each model trained `repeats` times from memory and from shards, alternating; each run's rate is
    the median of its timed epochs and each side's the best of its runs (this machine's other tenants
    move single runs by 15%)."""
    mnist = load_data("mnist")
    with tempfile.TemporaryDirectory() as folder:
        data = jaxae.data.load(f"shards:{shards.write(os.path.join(folder, 'mnist'), mnist).path}")
        for name in models:
            task = TASKS[name]()
            batch = 100 if name.startswith("rbm") else 128
            rates: dict[str, list[float]] = {"memory-scan": [], "shards-stream": []}
            for _ in range(repeats):
                for label, dataset, mode in (("memory-scan", mnist, "scan"), ("shards-stream", data, "auto")):
                    config = jaxae.TrainConfig(epochs=epochs + 1, batch_size=batch, mode=mode, progress=False)
                    history = jaxae.fit(task, dataset, config).history
                    timed = history[1:]  # the first epoch holds the compilation's warm-up
                    rates[label].append(float(np.median([h["samples_per_s"] for h in timed])))
                    emit({"bench": "shards-throughput", "model": name, "impl": label, "batch": batch,
                          "samples_per_s": rates[label][-1], "epochs": epochs, "mode": history[-1]["mode"],
                          "data_wait_s": float(np.mean([h.get("data_wait_s", 0.0) for h in timed])),
                          "chunk_steps": history[-1].get("chunk_steps")})
            emit({"bench": "shards-throughput", "model": name, "ratio": "shards-stream / memory-scan (best of "
                  f"{repeats})", "value": max(rates["shards-stream"]) / max(rates["memory-scan"])})


def shifted_mnist(images: np.ndarray, total: int, seed: int = 0, batch: int = 100_000):
    """Batches of MNIST digits tiled to `total` images, each shifted by up to 2 pixels each way."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < total:
        n = min(batch, total - done)
        x = images[rng.integers(0, len(images), n)]
        shifts = rng.integers(-2, 3, (n, 2))
        out = np.empty_like(x)
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                sel = np.nonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))[0]
                out[sel] = np.roll(x[sel], (dy, dx), axis=(1, 2))
        done += n
        yield {"image": out}


def scale(folder: str, total: int) -> None:
    mnist = load_data("mnist")
    sets = os.path.join(folder, "shifted")
    if not os.path.exists(os.path.join(sets, shards.INDEX)):
        t0 = time.perf_counter()
        shards.write(sets, {"train": shifted_mnist(mnist.train_images, total), "test": {"image": mnist.test_images}},
                     name=f"mnist-shifted-{total}")
        emit({"bench": "shards-scale-write", "images": total, "seconds": time.perf_counter() - t0})
    size = sum(os.path.getsize(os.path.join(sets, f)) for f in os.listdir(sets))
    with tempfile.TemporaryDirectory(prefix="jaxae-scale-run-") as run:
        command = ["/usr/bin/time", "-v", sys.executable, "-m", "jaxae", "train", "vae", "--data", f"shards:{sets}",
                   "--epochs", "1", "--workdir", os.path.join(run, "vae"), "--no-progress"]
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    speed = re.search(r"(\d+) samples/s \(stream mode, ([\d.]+) s waiting", done.stdout)
    emit({"bench": "shards-scale", "model": "vae", "images": total, "shard_set_bytes": size,
          "peak_rss_bytes": rss_kb * 1024, "wall_s": wall, "samples_per_s": float(speed.group(1)),
          "data_wait_s": float(speed.group(2)), "stdout": done.stdout.strip().splitlines()[-1]})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", action="store_true")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--scale", default=None, metavar="DIR", help="folder for the generated shards (kept)")
    parser.add_argument("--images", type=int, default=8_000_000, help="--scale: images to generate")
    parser.add_argument("--epochs", type=int, default=3, help="--throughput: timed epochs (after one warm-up)")
    parser.add_argument("--models", default=",".join(TASKS))
    parser.add_argument("--repeats", type=int, default=2, help="--throughput: runs of each side, alternating")
    args = parser.parse_args(argv)
    if args.formats:
        formats(load_data().train_images)
    if args.throughput:
        throughput(args.epochs, args.models.split(","), args.repeats)
    if args.scale:
        scale(args.scale, args.images)


if __name__ == "__main__":
    main()
