"""Runs every benchmark and prints JSON lines, then a Markdown table.

    python -m benchmarks [--epochs 3] [--batch-size 128]
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
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        batch = ["--batch-size", args.batch_size] if args.batch_size else []
        rows += models.main(["--model", name, "--epochs", args.epochs, *batch])
    print()
    print(markdown(rows))


if __name__ == "__main__":
    main()
