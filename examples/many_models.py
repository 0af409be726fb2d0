"""Many models in one program: `vmap` over seeds and a learning-rate sweep, reported as mean +- std.

`TrainConfig(seeds=N, lr_scales="a,b,c")` stacks N x 3 models on a leading axis and trains them as one
compiled program (each model equals its own single run; the learning rate is a per-model multiplier in
the optimizer state). The same works from the command line: `jaxae train ae --seeds 4 --sweep
learning_rate=...`. On a GPU this is how small models fill the chip.

    python examples/many_models.py [--seeds 4] [--epochs 3]
"""
import argparse

import numpy as np

import jaxae
from jaxae.tasks import ae


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    scales = (0.3, 1.0, 3.0)
    config = jaxae.AEConfig(hidden=(128, 64, 12), latent=3, learning_rate=1e-3)
    train = jaxae.TrainConfig(epochs=args.epochs, seeds=args.seeds, lr_scales=",".join(map(str, scales)),
                              progress=False)
    result = jaxae.fit(ae.task(config), jaxae.data.load("mnist-mini"), train)
    last = result.history[-1]
    mse = np.asarray(last["test_mse_per_model"]).reshape(len(scales), args.seeds)  # models: scale-major
    print(f"{train.n_models} autoencoders in one program, {args.epochs} epochs, "
          f"{last['samples_per_s']:.0f} samples/s over all of them:")
    for scale, row in zip(scales, mse):
        print(f"  learning rate {config.learning_rate * scale:.1e}: test MSE {row.mean():.4f} +- {row.std():.4f} "
              f"over seeds 0..{args.seeds - 1}")
    best = scales[int(np.argmin(mse.mean(axis=1)))]
    print(f"best learning rate: {config.learning_rate * best:.1e}")


if __name__ == "__main__":
    main()
