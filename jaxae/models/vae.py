"""Variational autoencoders (Kingma & Welling 2014) and importance-weighted autoencoders (Burda et al.
2016): Gaussian encoder q(z|x), standard-normal prior, Bernoulli (default), continuous-Bernoulli or
Gaussian decoder p(x|z)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxae import rand
from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
from jaxae.errors import ConfigError, DataError
from jaxae.estimators import adam, from_scheduled_loss
from jaxae.nn import MLP, ConvStack, parse_spec
from jaxae.nn.mlp import torch_linear_init
from jaxae.train.state import Codec, Task

LOG_2PI = math.log(2.0 * math.pi)
DECODERS = ("bernoulli", "continuous-bernoulli", "gaussian")
BINARIZE = ("dynamic", "static", "none")


@dataclass(frozen=True)
class VAEConfig:
    """The chapter's VAE: 784-400-20 with ReLU, mean and log-variance heads, Bernoulli decoder on
    logits, loss = summed BCE + analytic KL per image, Adam lr 1e-4; trained on dynamically binarized
    pixels so the BCE is a real likelihood.

    Attributes:
      hidden: encoder hidden widths (ReLU); the decoder mirrors them. Ignored when arch is "conv".
      latent: latent size.
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam.
      beta: weight of the KL term (beta-VAE; 1 is the ELBO). ELBO objective only.
      kl_warmup: steps over which the KL weight rises linearly from 0 to beta (0: off). ELBO only.
      objective: "elbo" (VAE) or "iwae" (the importance-weighted bound with `samples` samples).
      samples: latent samples per image in the training objective (k for IWAE).
      decoder: "bernoulli" (binary pixels), "continuous-bernoulli" or "gaussian" (learned per-pixel
        variance) for grey pixels in [0, 1].
      binarize: "dynamic" (a fresh Bernoulli sample of each image every step; test images sampled once
        with a fixed key), "static" (threshold 0.5) or "none" (grey pixels).
      arch: "mlp" or "conv" (for 28x28 images: two stride-2 convs, 32 and 64 channels, and a dense 256).
      allow_nonbinary: let a Bernoulli decoder see grey pixels (the PyTorch example's BCE), knowing it
        is not a likelihood.
    """

    hidden: Sequence[int] = (400,)
    latent: int = 20
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    beta: float = 1.0
    kl_warmup: int = 0
    objective: str = "elbo"
    samples: int = 1
    decoder: str = "bernoulli"
    binarize: str = "dynamic"
    arch: str = "mlp"
    allow_nonbinary: bool = False

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        checks = [
            (self.latent >= 1 and all(h >= 1 for h in self.hidden), f"layer widths must be positive, got hidden={self.hidden} latent={self.latent}"),
            (self.learning_rate > 0 and self.weight_decay >= 0, "learning_rate must be > 0 and weight_decay >= 0"),
            (self.objective in ("elbo", "iwae"), f"objective must be elbo or iwae, got {self.objective!r}"),
            (self.samples >= 1, f"samples must be at least 1, got {self.samples}"),
            (self.decoder in DECODERS, f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}"),
            (self.binarize in BINARIZE, f"binarize must be one of {', '.join(BINARIZE)}, got {self.binarize!r}"),
            (self.arch in ("mlp", "conv"), f"arch must be mlp or conv, got {self.arch!r}"),
            (self.beta > 0 and self.kl_warmup >= 0, "beta must be > 0 and kl_warmup >= 0"),
            (self.objective == "elbo" or (self.beta == 1.0 and self.kl_warmup == 0),
             "beta and kl_warmup apply to the elbo objective only; leave them at 1 and 0 for iwae"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


@dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    """The chapter's VAE trained on the importance-weighted bound with k = 5 samples (Burda et al.).

    Attributes:
      hidden: encoder hidden widths (ReLU); the decoder mirrors them.
      latent: latent size.
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam.
      beta: must stay 1 for iwae.
      kl_warmup: must stay 0 for iwae.
      objective: "iwae" (or "elbo").
      samples: k, the number of importance samples per image.
      decoder: "bernoulli", "continuous-bernoulli" or "gaussian".
      binarize: "dynamic", "static" or "none".
      arch: "mlp" or "conv".
      allow_nonbinary: let a Bernoulli decoder see grey pixels.
    """

    objective: str = "iwae"
    samples: int = 5


class VAE(nn.Module):
    """Gaussian encoder and a decoder producing per-pixel parameters. Images (batch, h, w) in [0, 1]."""

    hidden: Sequence[int]
    latent: int
    n_features: int
    arch: str = "mlp"
    gaussian: bool = False

    def setup(self):
        dense = lambda n: nn.Dense(n, kernel_init=torch_linear_init)  # noqa: E731
        if self.arch == "mlp":
            self.body = MLP(tuple(self.hidden), final_activation=nn.relu)
            self.head = MLP(tuple(reversed(self.hidden)) + (self.n_features,))
        else:
            self.convs = ConvStack(parse_spec("c32k4s2p1,c64k4s2p1"), final_activation=nn.relu)
            self.body = dense(256)
            self.head_dense = MLP((256, 7 * 7 * 64), final_activation=nn.relu)
            self.deconvs = ConvStack(parse_spec("t32k4s2p1,t1k4s2p1"))
        self.mean = dense(self.latent)
        self.log_var = dense(self.latent)
        if self.gaussian:
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
        return self.log_sigma if self.gaussian else jnp.zeros(())

    def __call__(self, x, z):
        return self.encode(x), self.decode(z), self.noise_scale()


def log_likelihood(decoder: str, logits: jax.Array, x: jax.Array, log_sigma: jax.Array) -> jax.Array:
    """log p(x | z) summed over pixels: logits (..., n), x (..., n) in [0, 1] -> (...)."""
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


def log_normal(z: jax.Array, mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """log N(z; mean, diag(exp(log_var))) summed over the last axis."""
    return jnp.sum(-0.5 * (LOG_2PI + log_var + (z - mean) ** 2 / jnp.exp(log_var)), axis=-1)


def task(config: VAEConfig = VAEConfig()) -> Task:
    """The trainer's Task for a VAE or IWAE (see VAEConfig)."""

    def module(n_features):
        return VAE(config.hidden, config.latent, n_features, config.arch, config.decoder == "gaussian")

    def n_of(x):
        return x.shape[1] * x.shape[2]

    def preprocess(key, raw):
        if config.binarize == "dynamic":
            return dynamic_binarize(key, raw)
        if config.binarize == "static":
            return binarize(raw)
        return to_unit(raw)

    def init(key, x):
        k_init, _ = jax.random.split(key)  # kept so that reported runs reproduce bit for bit
        z = jnp.zeros((x.shape[0], config.latent))
        return module(n_of(x)).init(k_init, x, z)["params"]

    def width(params):
        if config.arch == "conv":
            return 28 * 28
        return params["head"][f"dense_{len(config.hidden)}"]["kernel"].shape[-1]

    def encode(params, x):
        return module(n_of(x)).apply({"params": params}, x, method=VAE.encode)

    def decode(params, z, n_features):
        m = module(n_features)
        return m.apply({"params": params}, z, method=VAE.decode), m.apply({"params": params}, method=VAE.noise_scale)

    def log_weights(key, params, x, k):
        """(k, batch) log p(x, z_i) - log q(z_i | x) for z_i ~ q(z | x)."""
        mean, log_var = encode(params, x)
        z = mean + jnp.exp(0.5 * log_var) * rand.normal(key, (k,) + mean.shape, mean.dtype, axis=1)
        logits, log_sigma = decode(params, z, n_of(x))
        flat = x.reshape(x.shape[0], -1)
        log_px = log_likelihood(config.decoder, logits, flat, log_sigma)
        return log_px + log_normal(z, 0.0, jnp.zeros(())) - log_normal(z, mean, log_var)

    def elbo_terms(key, params, x, k):
        """Per-image reconstruction log-likelihood (mean over k samples) and analytic KL."""
        mean, log_var = encode(params, x)
        z = mean + jnp.exp(0.5 * log_var) * rand.normal(key, (k,) + mean.shape, mean.dtype, axis=1)
        logits, log_sigma = decode(params, z, n_of(x))
        rec = jnp.mean(log_likelihood(config.decoder, logits, x.reshape(x.shape[0], -1), log_sigma), axis=0)
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)
        return rec, kl

    def loss_fn(key, params, x, step):
        if config.objective == "iwae":
            lw = log_weights(key, params, x, config.samples)
            bound = jax.nn.logsumexp(lw, axis=0) - jnp.log(config.samples)
            return -jnp.mean(bound), {}
        rec, kl = elbo_terms(key, params, x, config.samples)
        weight = config.beta
        if config.kl_warmup:
            weight = config.beta * jnp.minimum(1.0, (step + 1) / config.kl_warmup)
        return -jnp.mean(rec - weight * kl), {"kl": jnp.mean(kl)}

    def evaluate(key, params, x):
        rec, kl = elbo_terms(key, params, x, 1)
        return {"neg_elbo": kl - rec, "rec_nll": -rec, "kl": kl}

    def reconstruct(params, x):
        mean, _ = encode(params, x)
        logits, _ = decode(params, mean, n_of(x))
        return nn.sigmoid(logits).reshape(x.shape)

    def validate(data):
        h, w = data.image_shape
        if config.arch == "conv" and (h, w) != (28, 28):
            raise DataError(f"the conv VAE is built for 28x28 images, got {h}x{w}; use --arch mlp")
        if config.decoder == "bernoulli" and config.binarize == "none" and not config.allow_nonbinary:
            sample = np.asarray(data.train_images[:1000])
            top = 255 if sample.dtype == np.uint8 else 1.0
            if not np.all((sample == 0) | (sample == top)):
                raise DataError(
                    "a Bernoulli decoder needs binary pixels but the data has grey levels, so BCE would not be a "
                    "likelihood; use --binarize dynamic (default) or static, or --decoder continuous-bernoulli "
                    "or gaussian, or pass --allow-nonbinary to train on grey pixels anyway"
                )

    optimizer = adam(config.learning_rate, config.weight_decay)
    return Task(
        name="iwae" if config.objective == "iwae" else "vae",
        init=init,
        estimator=from_scheduled_loss(loss_fn),
        optimizer=optimizer,
        preprocess=preprocess,
        evaluate=evaluate,
        reconstruct=reconstruct,
        codec=Codec(
            latent=config.latent,
            encode=lambda params, x: encode(params, x)[0],
            decode=lambda params, z: nn.sigmoid(decode(params, z, width(params))[0]),
            prior=True,
        ),
        log_weights=log_weights,
        modes={"cpu": "step"} if config.arch == "conv" else None,
        validate=validate,
    )
