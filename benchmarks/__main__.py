"""Runs every benchmark and prints JSON lines, then a Markdown table.

    python -m benchmarks [--epochs 3] [--rounds 5] [--batch-size 128] [--torch-compile] [--bf16] [--transposed ...]
        [--scaling PLOT.png]
"""
from __future__ import annotations

import argparse

from benchmarks import models
from benchmarks.table import throughput


def main(argv=None):
    parser = argparse.ArgumentParser(description="jaxae throughput benchmarks")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--rounds", default="5", help="interleaved rounds of each default mode and its floor")
    parser.add_argument("--batch-size", default=None, help="default: each model's (128; RBMs 100)")
    parser.add_argument("--models", default=",".join(models.MODELS), help="comma list of models")
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile (ae, conv-ae, vae)")
    parser.add_argument("--torch-compile-mode", default="default", help="torch.compile's mode (see benchmarks.models)")
    parser.add_argument("--modes", default="scan,step", help="jaxae modes to time")
    parser.add_argument("--bf16", action="store_true", help="also time jaxae with --precision bfloat16")
    parser.add_argument("--transposed", default="auto",
                        help="conv-ae: comma list of transposed-convolution formulations to time (see benchmarks.models)")
    parser.add_argument("--scaling", default=None, metavar="PLOT.png",
                        help="then run benchmarks.scaling (vmap of 8 VAEs vs 8 runs, batch size, devices) and plot it")
    args = parser.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        batch = ["--batch-size", args.batch_size] if args.batch_size else []
        flags = ["--torch-compile"] * args.torch_compile + ["--bf16"] * args.bf16 + [
            "--torch-compile-mode", args.torch_compile_mode, "--modes", args.modes]
        transposed = ["--transposed", args.transposed] if name == "conv-ae" else []
        rows += models.main(["--model", name, "--epochs", args.epochs, "--rounds", args.rounds, *batch, *flags, *transposed])
    print()
    print(throughput(rows))
    if args.scaling:
        from benchmarks import scaling

        scaling.main(["--epochs", args.epochs, "--plot", args.scaling])


if __name__ == "__main__":
    main()
