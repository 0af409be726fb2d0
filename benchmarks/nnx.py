"""The NNX path against the Linen path for the same VAE (784-400-20, the VAE task's defaults).

    JAXAE_DATA_DIR=... python -m benchmarks.nnx [--epochs 3] [--repeats 2]

The Linen `jaxae.vae.VAE` and the NNX VAE of examples/nnx_vae.py (behind `jaxae.nnx_bridge.NNXModel`)
are trained by `fit` in this process, alternately, `--repeats` times each. Each run counts as the median
samples/s of its timed epochs (those after the first), each path as the better of its runs.
"""
from __future__ import annotations

import argparse
import os
import runpy

import numpy as np

import jaxae
from benchmarks.common import emit, load_data
from jaxae.nnx_bridge import NNXModel
from jaxae.tasks import vae as vae_task

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "nnx_vae.py")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    nnx_vae = runpy.run_path(EXAMPLE)["NNXVAE"]
    config = jaxae.VAEConfig()
    tasks = {"linen": vae_task.task(config),
             "nnx": vae_task.task(config, module=NNXModel(lambda rngs: nnx_vae(784, tuple(config.hidden),
                                                                                  config.latent, rngs=rngs)))}
    data = load_data()
    rates: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(args.repeats):
        for name, task in tasks.items():
            history = jaxae.fit(task, data, jaxae.TrainConfig(epochs=args.epochs + 1, mode="scan", progress=False)).history
            rates[name].append(float(np.median([h["samples_per_s"] for h in history[1:]])))
            emit({"bench": "nnx", "model": "vae", "impl": name, "batch": 128, "samples_per_s": rates[name][-1],
                  "epochs": args.epochs, "data": data.name})
    emit({"bench": "nnx", "model": "vae", "ratio": f"nnx / linen (best of {args.repeats})",
          "value": max(rates["nnx"]) / max(rates["linen"])})


if __name__ == "__main__":
    main()
