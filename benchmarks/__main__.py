"""Runs every benchmark and prints JSON lines, then a Markdown table.

    python -m benchmarks [--epochs 3] [--batch-size 128] [--torch-compile] [--bf16] [--scaling PLOT.png]
"""
from __future__ import annotations

import argparse

from benchmarks import models


def markdown(rows: list[dict]) -> str:
    lines = ["| model | impl | batch | samples/s | epoch s | compile s |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if "impl" in r:
            compile_s = f"{r['compile_s']:.2f}" if "compile_s" in r else "-"
            lines.append(f"| {r['model']} | {r['impl']} | {r['batch']} | {r['samples_per_s']:,.0f} | "
                         f"{r['epoch_s']:.3f} | {compile_s} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="jaxae throughput benchmarks")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--batch-size", default=None, help="default: each model's (128; RBMs 100)")
    parser.add_argument("--models", default=",".join(models.MODELS), help="comma list of models")
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile (ae, conv-ae, vae)")
    parser.add_argument("--bf16", action="store_true", help="also time jaxae with --precision bfloat16")
    parser.add_argument("--scaling", default=None, metavar="PLOT.png",
                        help="then run benchmarks.scaling (vmap of 8 VAEs vs 8 runs, batch size, devices) and plot it")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        batch = ["--batch-size", args.batch_size] if args.batch_size else []
        flags = ["--torch-compile"] * args.torch_compile + ["--bf16"] * args.bf16
        rows += models.main(["--model", name, "--epochs", args.epochs, *batch, *flags])
    print()
    print(markdown(rows))
    if args.scaling:
        from benchmarks import scaling

        scaling.main(["--epochs", args.epochs, "--plot", args.scaling])


if __name__ == "__main__":
    main()
