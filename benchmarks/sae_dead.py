"""Dead latents of a TopK SAE, with and without AuxK, on MNIST pixels.

    python -m benchmarks.sae_dead                                    # k 8, 4,096 latents, window 1,000, 10 epochs
    python -m benchmarks.sae_dead --width 1024 --k 32                # the sizes of experiments/sae_mnist's pixel SAE
    python -m benchmarks.sae_dead --dead-window 50 --epochs 2        # a short window

For each AuxK weight in --aux (0 turns AuxK off) it trains `jaxae.tasks.sae` (Adam, batch 256) and
prints one JSON line: `test_dead`, the fraction of latents that never fire on the test split;
`train_dead`, the fraction the estimator counts dead (no firing for --dead-window steps), averaged over
the last epoch's steps; and the test explained variance. Full MNIST when $JAXAE_DATA_DIR has it, else
the bundled mnist-mini.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxae
from benchmarks.common import emit, load_data
from jaxae.errors import ConfigError, JaxaeError
from jaxae.tasks.sae import SAEConfig, encode, task


def never_fired(config: SAEConfig, params, images: np.ndarray, chunk: int = 1000) -> float:
    """The fraction of latents that are 0 for every image, the images prepared as the task prepares them."""
    preprocess, enc = task(config).preprocess, encode(config)
    acts = jax.jit(lambda raw: enc(params, preprocess(None, raw)))
    fired = np.zeros(config.width, bool)
    for start in range(0, len(images), chunk):
        fired |= np.asarray(acts(jnp.asarray(images[start:start + chunk])) != 0).any(0)
    return float(1.0 - fired.mean())


def run(data, config: SAEConfig, train: jaxae.TrainConfig) -> dict:
    t0 = time.perf_counter()
    result = jaxae.fit(task(config), data, train)
    last = result.history[-1]
    return {"test_dead": never_fired(config, result.state.params, np.asarray(data.test_images)),
            "train_dead": last.get("train_dead"), "test_explained_variance": last.get("test_explained_variance"),
            "seconds": time.perf_counter() - t0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="mnist (default with $JAXAE_DATA_DIR) or mnist-mini")
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--dead-window", type=int, default=SAEConfig.dead_window,
                        help="steps without firing that make a latent dead (default: the task's, as SAELens's)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--aux", default="0,1", help="AuxK weights, comma-separated (0: off)")
    args = parser.parse_args(argv)
    try:
        weights = [float(a) for a in args.aux.split(",") if a]
    except ValueError:
        parser.error(f"--aux takes numbers separated by commas, got {args.aux!r}")
    if not weights or args.epochs < 1:
        parser.error("give at least one --aux weight and --epochs >= 1")
    try:
        data = load_data(args.data)
    except JaxaeError as error:
        parser.error(str(error))
    for weight in weights:
        try:
            config = SAEConfig(arch="topk", k=args.k, width=args.width, learning_rate=args.learning_rate,
                               aux_coefficient=weight, dead_window=args.dead_window)
            train = jaxae.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, progress=False)
        except ConfigError as error:
            parser.error(str(error))
        emit({"bench": "sae_dead", "data": data.name, "k": args.k, "width": args.width, "lr": args.learning_rate,
              "dead_window": args.dead_window, "epochs": args.epochs, "batch": args.batch_size, "aux": weight,
              "jax": jax.__version__, **run(data, config, train)})


if __name__ == "__main__":
    main()
