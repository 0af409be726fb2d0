"""Variational autoencoders (Kingma & Welling 2014) and the importance-weighted bound (Burda et al. 2016)
as a Flax module plus top-level functions of (model, params, x) that compose with jit, vmap and grad.

A Gaussian encoder q(z|x) = N(mean, diag(exp(log_var))), a standard-normal prior, and a decoder
p(x|z): "bernoulli" on logits (binary pixels), "continuous-bernoulli" (Loaiza-Ganem & Cunningham
2019) or "gaussian" with a learned per-pixel scale (grey pixels in [0, 1]).

    model = VAE(hidden=(400,), latent=20, n_features=784)
    params = model.init(key, x, z)["params"]
    rec, kl = elbo_terms(key, model, params, x)          # per image: E_q log p(x|z), KL(q || p)
    bound = iwae_bound(key, model, params, x, k=50)      # per image: the k-sample bound
    jax.vmap(lambda p: iwae_bound(key, model, p, x, 50))(stacked_params)   # many parameter sets

x is (batch, h, w) (or (batch, n_features) for the MLP) with values in [0, 1]; the random draws go
through `jaxae.rand`, rows on the batch axis. The functions refuse integer pixels (uint8 0..255), and
concrete inputs outside [0, 1], with a DataError; under jit only the dtype can be checked and the
range is assumed. `k` (samples per image) is a static Python int >= 1.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxae import rand
from jaxae.errors import ConfigError, DataError, check_count
from jaxae.nn import MLP, ConvStack, parse_spec
from jaxae.nn.mlp import torch_linear_init

LOG_2PI = math.log(2.0 * math.pi)
DECODERS = ("bernoulli", "continuous-bernoulli", "gaussian")
ARCHS = ("mlp", "conv")


class VAE(nn.Module):
    """Gaussian encoder and a decoder producing per-pixel parameters.

    Attributes:
      hidden: encoder hidden widths (ReLU); the decoder mirrors them ("mlp" only).
      latent: latent size.
      n_features: pixels per image (the decoder's output width).
      arch: "mlp", or "conv" (28x28 images: two stride-2 convs, 32 and 64 channels, a dense 256).
      decoder: the likelihood p(x|z), one of DECODERS; "gaussian" adds a learned per-pixel `log_sigma`.
    """

    hidden: Sequence[int]
    latent: int
    n_features: int
    arch: str = "mlp"
    decoder: str = "bernoulli"

    def setup(self):
        if self.decoder not in DECODERS or self.arch not in ARCHS:
            raise ConfigError(f"VAE decoder must be one of {', '.join(DECODERS)} and arch one of {', '.join(ARCHS)}, "
                              f"got {self.decoder!r}, {self.arch!r}")
        dense = lambda n: nn.Dense(n, kernel_init=torch_linear_init)  # noqa: E731
        if self.arch == "mlp":
            self.body = MLP(tuple(self.hidden), final_activation=nn.relu)
            self.head = MLP(tuple(reversed(self.hidden)) + (self.n_features,))
        else:
            self.convs = ConvStack(parse_spec("c32k4s2p1,c64k4s2p1"), final_activation=nn.relu)
            self.body = dense(256)  # type: ignore[assignment]  # (a Dense here, an MLP for arch mlp)
            self.head_dense = MLP((256, 7 * 7 * 64), final_activation=nn.relu)
            self.deconvs = ConvStack(parse_spec("t32k4s2p1,t1k4s2p1"))
        self.mean = dense(self.latent)
        self.log_var = dense(self.latent)
        if self.decoder == "gaussian":
            self.log_sigma = self.param("log_sigma", nn.initializers.zeros, (self.n_features,))

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x: (batch, h, w) -> mean, log-variance, each (batch, latent)."""
        if self.arch == "mlp":
            h = self.body(x.reshape(x.shape[0], -1))
        else:
            h = nn.relu(self.body(self.convs(x[..., None]).reshape(x.shape[0], -1)))
        return self.mean(h), self.log_var(h)

    def decode(self, z: jax.Array) -> jax.Array:
        """z: (..., latent) -> (..., n_features) decoder logits (the mean's logits for "gaussian")."""
        if self.arch == "mlp":
            return self.head(z)
        lead = z.shape[:-1]
        h = self.head_dense(z.reshape(-1, z.shape[-1])).reshape(-1, 7, 7, 64)
        return self.deconvs(h).reshape(*lead, self.n_features)

    def noise_scale(self) -> jax.Array:
        """The Gaussian decoder's per-pixel log standard deviation (0 for the other decoders)."""
        return self.log_sigma if self.decoder == "gaussian" else jnp.zeros(())

    def __call__(self, x, z):
        return self.encode(x), self.decode(z), self.noise_scale()


# --- densities ---------------------------------------------------------------------------------


def check_decoder(decoder: str) -> None:
    """Raises ConfigError unless `decoder` is one of DECODERS."""
    if decoder not in DECODERS:
        raise ConfigError(f"decoder must be one of {', '.join(DECODERS)}, got {decoder!r}")


def check_inputs(x: jax.Array) -> None:
    """Raises DataError for integer inputs, and for concrete inputs outside [0, 1]: the likelihoods are of
    pixels in [0, 1] (jaxae.data.transforms.to_unit turns uint8 0..255 into them). Under jit only the
    dtype is checked."""
    for leaf in jax.tree.leaves(x):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise DataError(f"the VAE's x must be float pixels in [0, 1], got {dtype}; scale them first "
                            "(jaxae.data.transforms.to_unit, or x / 255.0)")
        if not isinstance(leaf, jax.core.Tracer) and leaf.size:
            values = np.asarray(leaf)  # NumPy: also a concrete array closed over by a traced function
            low, high = float(values.min()), float(values.max())
            if low < 0 or high > 1:
                raise DataError(f"the VAE's x must be pixels in [0, 1], got values in [{low:g}, {high:g}]; scale "
                                "them first (jaxae.data.transforms.to_unit, or x / 255.0)")


def log_likelihood(decoder: str, logits: jax.Array, x: jax.Array, log_sigma: jax.Array) -> jax.Array:
    """log p(x | z) summed over pixels: logits (..., n), x (..., n) in [0, 1] -> (...).

    Raises:
      ConfigError: `decoder` is not one of DECODERS.
    """
    check_decoder(decoder)
    if decoder == "gaussian":
        mean = nn.sigmoid(logits)
        return jnp.sum(-0.5 * ((x - mean) / jnp.exp(log_sigma)) ** 2 - log_sigma - 0.5 * LOG_2PI, axis=-1)
    ll = jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)
    if decoder == "continuous-bernoulli":
        ll = ll + jnp.sum(continuous_bernoulli_log_norm(logits), axis=-1)
    return ll


def continuous_bernoulli_log_norm(logits: jax.Array) -> jax.Array:
    """log C(lambda) of the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), lambda = sigmoid(logits).

    C = 2 atanh(1 - 2 lambda) / (1 - 2 lambda) = logits / (2 lambda - 1) ... written stably: with
    lambda = sigmoid(l), 1 - 2 lambda = -tanh(l / 2) and 2 atanh(1 - 2 lambda) = -l, so C = l / tanh(l / 2).
    Near l = 0 the Taylor series log 2 + l^2 / 12 is used.
    """
    small = jnp.abs(logits) < 1e-3
    safe = jnp.where(small, 1.0, logits)
    exact = jnp.log(safe / jnp.tanh(safe / 2.0))
    return jnp.where(small, jnp.log(2.0) + logits**2 / 12.0, exact)


def log_normal(z: jax.Array, mean: jax.Array | float, log_var: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(log_var))) summed over the last axis."""
    return jnp.sum(-0.5 * (LOG_2PI + log_var + (z - mean) ** 2 / jnp.exp(log_var)), axis=-1)


def kl_divergence(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)), analytic, summed over the last axis."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


# --- the model's functions -----------------------------------------------------------------------


def encode(model: VAE, params, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """q(z|x)'s mean and log-variance, each (batch, latent)."""
    out: Any = model.apply({"params": params}, x, method="encode")
    return out


def decode(model: VAE, params, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Decoder logits (..., n_features) for codes z (..., latent), and the Gaussian decoder's log_sigma."""
    logits: Any = model.apply({"params": params}, z, method="decode")
    log_sigma: Any = model.apply({"params": params}, method="noise_scale")
    return logits, log_sigma


def sample_latent(key: jax.Array, mean: jax.Array, log_var: jax.Array, k: int) -> jax.Array:
    """k reparameterized draws z = mean + exp(log_var / 2) * eps: (k, batch, latent)."""
    k = check_count("k", k, where="sample_latent")
    return mean + jnp.exp(0.5 * log_var) * rand.normal(key, (k,) + mean.shape, mean.dtype, axis=1)


def _log_px(model: VAE, params, z: jax.Array, x: jax.Array) -> jax.Array:
    logits, log_sigma = decode(model, params, z)
    return log_likelihood(model.decoder, logits, x.reshape(x.shape[0], -1), log_sigma)


def elbo_terms(key: jax.Array, model: VAE, params, x: jax.Array, k: int = 1) -> tuple[jax.Array, jax.Array]:
    """Per-image reconstruction log-likelihood E_q log p(x|z) (mean over k samples) and analytic KL;
    the ELBO is rec - kl. Both (batch,).

    Raises:
      ConfigError: k is not an int >= 1. DataError: x is not float pixels in [0, 1].
    """
    check_inputs(x)
    mean, log_var = encode(model, params, x)
    rec = mean_log_px(lambda z: _log_px(model, params, z, x), sample_latent(key, mean, log_var, k))
    return rec, kl_divergence(mean, log_var)


def mean_log_px(log_px, z: jax.Array) -> jax.Array:
    """`mean(log_px(z), axis=0)` for k samples z (k, batch, latent): (batch,). One sample is decoded as
    (batch, latent), without the sample axis: the same value, a faster program on XLA:CPU (the chapter's
    VAE step, benchmarks/README.md)."""
    return log_px(z[0]) if z.shape[0] == 1 else jnp.mean(log_px(z), axis=0)


def log_weights(key: jax.Array, model: VAE, params, x: jax.Array, k: int) -> jax.Array:
    """(k, batch) importance log-weights log p(x, z_i) - log q(z_i | x), z_i ~ q(z | x).

    Raises:
      ConfigError: k is not an int >= 1. DataError: x is not float pixels in [0, 1].
    """
    check_inputs(x)
    mean, log_var = encode(model, params, x)
    z = sample_latent(key, mean, log_var, k)
    return _log_px(model, params, z, x) + log_normal(z, 0.0, jnp.zeros(())) - log_normal(z, mean, log_var)


def iwae_bound(key: jax.Array, model: VAE, params, x: jax.Array, k: int) -> jax.Array:
    """The k-sample importance-weighted bound log (1/k) sum_i w_i on log p(x) (Burda et al. 2016, eq. 8),
    (batch,); k = 1 is the ELBO (with a sampled rather than analytic KL)."""
    k = check_count("k", k, where="iwae_bound")
    return jax.nn.logsumexp(log_weights(key, model, params, x, k), axis=0) - jnp.log(k)


def reconstruct(model: VAE, params, x: jax.Array) -> jax.Array:
    """The decoder's mean at the posterior mean: images shaped like x, in [0, 1]."""
    mean, _ = encode(model, params, x)
    logits, _ = decode(model, params, mean)
    return nn.sigmoid(logits).reshape(x.shape)
