"""Conditional VAEs (Sohn, Lee & Yan 2015): q(z | x, y), a standard-normal prior p(z), p(x | z, y), with
y a class label fed to both networks as a one-hot vector. Functions of (model, params, x, y) like
jaxae.vae's, whose densities they reuse; the importance-sampled likelihood they give is log p(x | y).

    model = CVAE(hidden=(400,), latent=20, n_features=784, classes=10)
    params = model.init(key, x, y, z)["params"]
    rec, kl = elbo_terms(key, model, params, x, y)       # per image: E_q log p(x|z,y), KL(q(z|x,y) || p(z))
    lw = log_weights(key, model, params, x, y, k=50)     # (k, batch) log p(x, z | y) - log q(z | x, y)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError
from jaxae.nn import MLP
from jaxae.nn.mlp import torch_linear_init
from jaxae.vae import DECODERS, check_inputs, kl_divergence, log_likelihood, log_normal, mean_log_px, sample_latent


class CVAE(nn.Module):
    """A Gaussian encoder of (image, one-hot label) and a decoder of (code, one-hot label).

    Attributes:
      hidden: encoder hidden widths (ReLU); the decoder mirrors them.
      latent: latent size.
      n_features: pixels per image.
      classes: number of labels.
      decoder: the likelihood p(x | z, y), one of jaxae.vae.DECODERS.
    """

    hidden: Sequence[int]
    latent: int
    n_features: int
    classes: int
    decoder: str = "bernoulli"

    def setup(self):
        if self.decoder not in DECODERS or self.classes < 2:
            raise ConfigError(f"CVAE needs a decoder in {', '.join(DECODERS)} and at least 2 classes, got "
                              f"{self.decoder!r}, {self.classes}")
        self.body = MLP(tuple(self.hidden), final_activation=nn.relu)
        self.head = MLP(tuple(reversed(self.hidden)) + (self.n_features,))
        self.mean = nn.Dense(self.latent, kernel_init=torch_linear_init)
        self.log_var = nn.Dense(self.latent, kernel_init=torch_linear_init)
        if self.decoder == "gaussian":
            self.log_sigma = self.param("log_sigma", nn.initializers.zeros, (self.n_features,))

    def _onehot(self, y: jax.Array, lead: tuple) -> jax.Array:
        return jnp.broadcast_to(jax.nn.one_hot(y, self.classes), lead + (self.classes,))

    def encode(self, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x: (batch, ...) images, y: (batch,) int labels -> mean, log-variance, each (batch, latent)."""
        flat = x.reshape(x.shape[0], -1)
        h = self.body(jnp.concatenate([flat, self._onehot(y, flat.shape[:1])], axis=-1))
        return self.mean(h), self.log_var(h)

    def decode(self, z: jax.Array, y: jax.Array) -> jax.Array:
        """z: (..., batch, latent), y: (batch,) -> (..., batch, n_features) decoder logits."""
        return self.head(jnp.concatenate([z, self._onehot(y, z.shape[:-1])], axis=-1))

    def noise_scale(self) -> jax.Array:
        return self.log_sigma if self.decoder == "gaussian" else jnp.zeros(())

    def __call__(self, x, y, z):
        return self.encode(x, y), self.decode(z, y), self.noise_scale()


def encode(model: CVAE, params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """q(z | x, y)'s mean and log-variance, each (batch, latent)."""
    out: Any = model.apply({"params": params}, x, y, method=CVAE.encode)
    return out


def decode(model: CVAE, params, z: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Decoder logits (..., batch, n_features) for codes z (..., batch, latent) and labels y (batch,),
    and the Gaussian decoder's log_sigma."""
    logits: Any = model.apply({"params": params}, z, y, method=CVAE.decode)
    log_sigma: Any = model.apply({"params": params}, method=CVAE.noise_scale)
    return logits, log_sigma


def _log_px(model: CVAE, params, z: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    logits, log_sigma = decode(model, params, z, y)
    return log_likelihood(model.decoder, logits, x.reshape(x.shape[0], -1), log_sigma)


def elbo_terms(key: jax.Array, model: CVAE, params, x: jax.Array, y: jax.Array,
               k: int = 1) -> tuple[jax.Array, jax.Array]:
    """Per-image E_q log p(x | z, y) (mean over k samples) and the analytic KL(q(z | x, y) || N(0, I));
    the conditional ELBO, a bound on log p(x | y), is rec - kl. Both (batch,). Refuses what
    `jaxae.vae.elbo_terms` refuses (integer or out-of-range pixels, k < 1)."""
    check_inputs(x)
    mean, log_var = encode(model, params, x, y)
    rec = mean_log_px(lambda z: _log_px(model, params, z, x, y), sample_latent(key, mean, log_var, k))
    return rec, kl_divergence(mean, log_var)


def log_weights(key: jax.Array, model: CVAE, params, x: jax.Array, y: jax.Array, k: int) -> jax.Array:
    """(k, batch) importance log-weights log p(x, z_i | y) - log q(z_i | x, y), z_i ~ q(z | x, y)."""
    check_inputs(x)
    mean, log_var = encode(model, params, x, y)
    z = sample_latent(key, mean, log_var, k)
    return _log_px(model, params, z, x, y) + log_normal(z, 0.0, jnp.zeros(())) - log_normal(z, mean, log_var)


def reconstruct(model: CVAE, params, x: jax.Array, y: jax.Array) -> jax.Array:
    """The decoder's mean at the posterior mean: images shaped like x, in [0, 1]."""
    mean, _ = encode(model, params, x, y)
    logits, _ = decode(model, params, mean, y)
    return nn.sigmoid(logits).reshape(x.shape)
