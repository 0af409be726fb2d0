"""Your own Flax model trained with `jaxae.fit`: a beta-VAE, then its importance-sampled NLL from Python.

The model is a plain Flax Linen module written here; jaxae supplies the pieces around it: `jaxae.vae`'s
densities (Bernoulli log-likelihood, Gaussian log-density, analytic KL), `jaxae.from_loss` to turn the
loss into the trainer's estimator, `jaxae.fit` (compiled epochs, checkpoints if you give a workdir), and
`jaxae.likelihood.dataset_nll` for the IS-NLL (Burda et al. 2016). With beta > 1 the KL term weighs
more (Higgins et al. 2017); the NLL is of the same model, whatever objective trained it.

    python examples/beta_vae.py [--beta 4] [--epochs 5]
"""
import argparse

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import jaxae
from jaxae import vae
from jaxae.data.transforms import dynamic_binarize


class BetaVAE(nn.Module):
    """784 -> 256 -> (mean, log-variance) of a 16-d code -> 256 -> 784 Bernoulli logits."""

    latent: int = 16

    @nn.compact
    def __call__(self, x, eps):
        h = nn.relu(nn.Dense(256)(x.reshape(x.shape[0], -1)))
        mean, log_var = nn.Dense(self.latent)(h), nn.Dense(self.latent)(h)
        z = mean + jnp.exp(0.5 * log_var) * eps  # eps: (k, batch, latent)
        logits = nn.Dense(784)(nn.relu(nn.Dense(256)(z)))
        return mean, log_var, z, logits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    model = BetaVAE()

    def terms(key, params, x, k):
        """(k, batch) log p(x|z), and (batch,) analytic KL, and (k, batch) log p(z) - log q(z|x)."""
        eps = jax.random.normal(key, (k, x.shape[0], model.latent))
        mean, log_var, z, logits = model.apply(params, x, eps)
        log_px = vae.log_likelihood("bernoulli", logits, x.reshape(x.shape[0], -1), jnp.zeros(()))
        return log_px, vae.kl_divergence(mean, log_var), vae.log_normal(z, 0.0, jnp.zeros(())) - vae.log_normal(z, mean, log_var)

    def loss_fn(key, params, x):
        log_px, kl, _ = terms(key, params, x, 1)
        return -jnp.mean(log_px[0] - args.beta * kl), {"kl": jnp.mean(kl)}

    def evaluate(key, params, x):  # one value per example: the trainer averages
        log_px, kl, _ = terms(key, params, x, 1)
        return {"neg_elbo": kl - log_px[0], "kl": kl}

    task = jaxae.Task(name="beta-vae", estimator=jaxae.from_loss(loss_fn), optimizer=optax.adam(1e-3),
                      init=lambda key, x: model.init(key, x, jnp.zeros((1, x.shape[0], model.latent))),
                      preprocess=lambda key, raw: dynamic_binarize(key, raw), evaluate=evaluate)
    data = jaxae.data.load("mnist-mini")
    result = jaxae.fit(task, data, jaxae.TrainConfig(epochs=args.epochs, progress=False))

    def log_weights(key, params, x, k):  # (k, batch) log p(x, z) - log q(z | x)
        log_px, _, log_ratio = terms(key, params, x, k)
        return log_px + log_ratio

    test = dynamic_binarize(jax.random.PRNGKey(0), jnp.asarray(data.test_images[:500]))  # a fixed draw
    nll = jaxae.likelihood.dataset_nll(jax.random.PRNGKey(1), log_weights, result.state.params, test, k=200, chunk=100)
    last = result.history[-1]
    print(f"beta-VAE (beta={args.beta:g}) after {args.epochs} epochs on mnist-mini: test -ELBO {last['test_neg_elbo']:.2f} "
          f"nats, KL {last['test_kl']:.2f}; IS-NLL (k=200, 500 test digits) {nll.mean():.2f} nats")


if __name__ == "__main__":
    main()
