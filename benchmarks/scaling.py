"""Scaling: N vmapped models vs N sequential runs, batch size, and device count.

    python -m benchmarks.scaling [--model vae] [--seeds 8] [--batches 128,512,1024,4096] [--devices 1,2,4,8]
        [--backends mesh,pmap] [--epochs 3] [--plot benchmarks/results/scaling_cpu.png]

Every measurement is one JSON line; a Markdown table and (with --plot) a picture follow. Device counts
above the machine's are forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count=N, one
subprocess each): on a CPU they share the same cores, so that row shows the cost of sharding, not a
speed-up; on a multi-GPU or TPU host the real devices are used.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import jax

from benchmarks.common import emit, jaxae_throughput, load_data
from benchmarks.models import MODELS
from jaxae.train.parallel import BACKENDS


def _epoch_seconds(task, images, batch: int, epochs: int, seeds: int = 1, dp=None) -> dict:
    """Steady-state scan epochs (after a warm-up epoch); samples/s over all models."""
    return jaxae_throughput(task, images, batch, "scan", epochs, seeds=seeds, dp=dp)


def seeds_row(model: str, images, batch: int, seeds: int, epochs: int) -> list[dict]:
    task = MODELS[model][0]()
    one = _epoch_seconds(task, images, batch, epochs)
    many = _epoch_seconds(task, images, batch, epochs, seeds=seeds)
    rows = [emit({"bench": "seeds", "model": model, "impl": "one model", "batch": batch, "seeds": 1, **one}),
            emit({"bench": "seeds", "model": model, "impl": f"{seeds} sequential runs", "batch": batch, "seeds": seeds,
                  "epoch_s": seeds * one["epoch_s"], "samples_per_s": one["samples_per_s"]}),
            emit({"bench": "seeds", "model": model, "impl": f"vmap of {seeds} (--seeds {seeds})", "batch": batch,
                  "seeds": seeds, **many})]
    emit({"bench": "seeds", "model": model, "ratio": f"vmap of {seeds} vs {seeds} sequential",
          "value": seeds * one["epoch_s"] / many["epoch_s"]})
    return rows


def batch_rows(model: str, images, batches: list[int], epochs: int) -> list[dict]:
    task = MODELS[model][0]()
    return [emit({"bench": "batch", "model": model, "impl": "jaxae-scan", "batch": b, **_epoch_seconds(task, images, b, epochs)})
            for b in batches]


def device_rows(model: str, batch: int, counts: list[int], epochs: int, backends=("mesh",)) -> list[dict]:
    rows = []
    for n, backend in [(count, b) for count in counts for b in (backends if count > 1 else backends[:1])]:
        env = dict(os.environ)
        if jax.devices()[0].platform == "cpu":
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}".strip()
        code = ("import json, sys; from benchmarks.scaling import one_device_count as f; "
                f"print(json.dumps(f({model!r}, {batch}, {n}, {epochs}, {backend!r})))")
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"the {n}-device run failed:\n{proc.stderr[-2000:]}")
        rows.append(emit(json.loads(proc.stdout.strip().splitlines()[-1])))
    return rows


def one_device_count(model: str, batch: int, n: int, epochs: int, backend: str = "mesh") -> dict:
    """In a process that sees n devices: the data-parallel epoch (mesh or pmap) over the first n of them."""
    if jax.device_count() < n:
        raise SystemExit(f"{n} devices asked, {jax.device_count()} visible")
    dp = BACKENDS[backend](jax.devices()[:n]) if n > 1 else None
    timing = _epoch_seconds(MODELS[model][0](), load_data().train_images, batch, epochs, dp=dp)
    impl = f"{backend} over {n}" if n > 1 else "one device"
    return {"bench": "devices", "model": model, "impl": impl, "devices": n, "batch": batch, **timing}


def markdown(rows: list[dict]) -> str:
    lines = ["| bench | model | impl | batch | samples/s | epoch s |", "|---|---|---|---:|---:|---:|"]
    lines += [f"| {r['bench']} | {r['model']} | {r['impl']} | {r['batch']} | {r['samples_per_s']:,.0f} | "
              f"{r['epoch_s']:.3f} |" for r in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benches = [b for b in ("seeds", "batch", "devices") if any(r["bench"] == b for r in rows)]
    fig, axes = plt.subplots(1, len(benches), figsize=(4.5 * len(benches), 3.6), squeeze=False)
    for ax, bench in zip(axes[0], benches):
        part = [r for r in rows if r["bench"] == bench]
        labels = [str(r["batch"]) if bench == "batch" else r["impl"] for r in part]
        ax.bar(range(len(part)), [r["samples_per_s"] for r in part], color="tab:blue")
        ax.set_xticks(range(len(part)), labels, rotation=0 if bench == "batch" else 20, fontsize=8)
        ax.set_ylabel("samples/s (all models)" if bench == "seeds" else "samples/s")
        ax.set_xlabel({"seeds": "", "batch": "batch size", "devices": "backend and devices"}[bench])
        ax.set_title(f"{part[0]['model']}: {bench}")
    device = jax.devices()[0]
    fig.suptitle(f"jaxae scaling on {getattr(device, 'device_kind', device.platform)}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vae", choices=sorted(m for m in MODELS if not m.startswith("cf-")))
    parser.add_argument("--seeds", type=int, default=8, help="vmapped models (0: skip)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch of the seeds and devices rows")
    parser.add_argument("--batches", default="128,512,1024,4096", help="batch sizes to time ('': skip)")
    parser.add_argument("--devices", default="1,2,4,8", help="device counts ('': skip)")
    parser.add_argument("--backends", default="mesh,pmap", help="data-parallel backends of the device rows")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--plot", default=None, help="write a PNG of the rows here")
    args = parser.parse_args(argv)
    unknown = set(args.backends.split(",")) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(sorted(unknown))}; use a comma list of {', '.join(BACKENDS)}")
    images = load_data().train_images
    rows = []
    if args.seeds:
        rows += seeds_row(args.model, images, args.batch_size, args.seeds, args.epochs)
    if args.batches:
        rows += batch_rows(args.model, images, [int(b) for b in args.batches.split(",")], args.epochs)
    if args.devices:
        rows += device_rows(args.model, args.batch_size, [int(n) for n in args.devices.split(",")], args.epochs,
                            tuple(args.backends.split(",")))
    if not rows:
        raise SystemExit("nothing was measured: give --seeds, --batches or --devices")
    print()
    print(markdown(rows))
    if args.plot:
        plot(rows, args.plot)
        print(f"\n{args.plot}")
    return rows


if __name__ == "__main__":
    main()
