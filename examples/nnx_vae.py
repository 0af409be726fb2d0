"""A Flax NNX VAE trained by `jaxae.fit`, its IS-NLL, then its weights exported as safetensors and read back.

The module is plain NNX (`nnx.Linear` layers, `encode` / `decode` / `noise_scale` methods as jaxae's VAE
functions call them). `jaxae.nnx_bridge.NNXModel` splits it once into a static graph and a parameter
dict; the built-in VAE task (dynamic binarization, the ELBO, Adam) then trains it like the Linen VAE, and
`jaxae.vae.log_weights` gives its importance-sampled NLL through the same path.

    python examples/nnx_vae.py [--epochs 3] [--workdir runs/nnx-vae]
"""
import argparse
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxae
from jaxae.nnx_bridge import NNXModel
from jaxae.tasks import vae as vae_task


class NNXVAE(nnx.Module):
    """n_features -> hidden (ReLU) -> (mean, log-variance) of the code -> hidden (ReLU) -> Bernoulli logits;
    the layers mirror jaxae.vae.VAE's MLP (body, mean, log_var, head)."""

    def __init__(self, n_features=784, hidden=(400,), latent=20, *, rngs: nnx.Rngs):
        down, up = (n_features, *hidden), (latent, *reversed(hidden), n_features)
        self.body = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(down, down[1:])])
        self.mean = nnx.Linear(hidden[-1], latent, rngs=rngs)
        self.log_var = nnx.Linear(hidden[-1], latent, rngs=rngs)
        self.head = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(up, up[1:])])
        self.decoder = "bernoulli"

    def encode(self, x):
        h = x.reshape(x.shape[0], -1)
        for layer in self.body:
            h = jax.nn.relu(layer(h))
        return self.mean(h), self.log_var(h)

    def decode(self, z):
        for i, layer in enumerate(self.head):
            z = layer(z) if i == len(self.head) - 1 else jax.nn.relu(layer(z))
        return z

    def noise_scale(self):
        return jnp.zeros(())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workdir", default=None, help="run folder (default: a temporary one)")
    args = parser.parse_args()
    workdir = args.workdir or os.path.join(tempfile.mkdtemp(), "nnx-vae")
    model = NNXModel(lambda rngs: NNXVAE(rngs=rngs))
    config = jaxae.VAEConfig(learning_rate=1e-3)
    task = vae_task.task(config, module=model)
    data = jaxae.data.load("mnist-mini")
    jaxae.fit(task, data, jaxae.TrainConfig(epochs=args.epochs, progress=False), workdir)

    run = jaxae.load_run(workdir, task=task, offers=vae_task.offers(config, module=model))
    module = model.merge(run.state.params)  # a trained nnx.Module again
    x = jaxae.data.transforms.binarize(jnp.asarray(data.test_images[:500]))
    log_weights = run.offers.likelihood.log_weights
    nll = jaxae.likelihood.dataset_nll(jax.random.PRNGKey(1), log_weights, run.state.params, x, k=200, chunk=100)
    mean, _ = module.encode(x[:2])
    print(f"NNX VAE after {run.epoch} epochs on mnist-mini: IS-NLL (k=200, 500 test digits) {float(nll.mean()):.2f} "
          f"nats; the merged module encodes 2 digits to codes of shape {tuple(mean.shape)}")

    path = jaxae.tasks.export_run(run, os.path.join(workdir, "params.safetensors"))
    back = jaxae.tasks.import_params(run, path)
    same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(run.state.params), jax.tree.leaves(back)))
    print(f"exported {len(jax.tree.leaves(back))} tensors to {path}; read back bitwise equal: {same}")


if __name__ == "__main__":
    main()
