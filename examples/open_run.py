"""Open a trained run, decode latent vectors, interpolate between two digits and save a picture.

`jaxae.load_run` rebuilds a run's model from its folder (whether it was trained with `jaxae train` or
from Python) and restores the newest intact checkpoint; `run.offers.codec` is the model's latent space.
Without --run this trains a small VAE on the bundled digits first (one epoch, a few seconds).

    python examples/open_run.py [--run RUN] [--out interpolation.png]
"""
import argparse
import os
import tempfile

import jax.numpy as jnp
import numpy as np

import jaxae
from jaxae.tasks import vae


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a run folder (default: train a small VAE first)")
    parser.add_argument("--out", default="interpolation.png")
    args = parser.parse_args()
    workdir = args.run
    if workdir is None:
        workdir = os.path.join(tempfile.mkdtemp(prefix="jaxae-example-"), "vae")
        config = jaxae.VAEConfig(hidden=(256,), latent=8, learning_rate=1e-3)
        jaxae.fit(vae.task(config), jaxae.data.load("mnist-mini"), jaxae.TrainConfig(epochs=2, progress=False), workdir)
    run = jaxae.load_run(workdir)
    codec = run.offers.codec
    if codec is None:
        raise SystemExit(f"{workdir} is a {run.model} run, which has no latent space")
    x = jaxae.train.steps.eval_inputs(run.task, run.state.key, jnp.asarray(run.data.test_images[:100]))
    labels = np.asarray(run.data.test_labels[:100])
    first, last = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 7)[0])
    codes = codec.encode(run.state.params, x[jnp.array([first, last])])  # (2, latent)
    t = jnp.linspace(0.0, 1.0, 10)[:, None]
    path_codes = (1 - t) * codes[0] + t * codes[1]  # (10, latent): a straight line in latent space
    images = np.asarray(codec.decode(run.state.params, path_codes)).reshape(-1, *run.data.image_shape)
    jaxae.viz.save_grid(images, args.out, columns=10)
    print(f"{run.model} run {workdir} (epoch {run.epoch}, latent {codec.latent}): decoded 10 codes from a 1 to a 7 "
          f"into {os.path.abspath(args.out)} (pixel means {images.mean(axis=(1, 2)).min():.3f}..."
          f"{images.mean(axis=(1, 2)).max():.3f})")


if __name__ == "__main__":
    main()
