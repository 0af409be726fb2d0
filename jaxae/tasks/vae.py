"""`jaxae train vae` and `iwae`: the chapter's VAE and the importance-weighted autoencoder (jaxae.vae holds the math)."""
from __future__ import annotations

import functools

from collections.abc import Sequence
from typing import Any
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import vae
from jaxae.data.dataset import images_of
from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
from jaxae.errors import ConfigError, DataError
from jaxae.estimators import from_scheduled_loss
from jaxae.optim import adam
from jaxae.tasks.offers import Codec, ImportanceLikelihood, Offers, spec
from jaxae.train import Task

BINARIZE = ("dynamic", "static", "none")
TEST_INPUTS = {"dynamic": "each test digit binarized once by a Bernoulli draw with a key fixed by the run's seed",
               "static": "threshold 0.5", "none": "grey pixels"}


@dataclass(frozen=True)
class VAEConfig:
    """The chapter's VAE: 784-400-20 with ReLU and a Bernoulli decoder on logits.

    Its loss is the summed BCE plus the analytic KL per image (Adam lr 1e-4), on dynamically binarized
    pixels so that the BCE is a real likelihood.

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
            (self.decoder in vae.DECODERS, f"decoder must be one of {', '.join(vae.DECODERS)}, got {self.decoder!r}"),
            (self.binarize in BINARIZE, f"binarize must be one of {', '.join(BINARIZE)}, got {self.binarize!r}"),
            (self.arch in vae.ARCHS, f"arch must be mlp or conv, got {self.arch!r}"),
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


def model(config: VAEConfig, n_features: int) -> vae.VAE:
    """The Flax module for images of n_features pixels."""
    return vae.VAE(config.hidden, config.latent, n_features, config.arch, config.decoder)


def _model_for(config: VAEConfig, x: jax.Array) -> vae.VAE:
    return model(config, int(np.prod(x.shape[1:])))


def _width(config: VAEConfig, params) -> int:
    """The pixels per image, read off the decoder's parameters."""
    if config.arch == "conv":
        return 28 * 28
    return params["head"][f"dense_{len(config.hidden)}"]["kernel"].shape[-1]


def task(config: VAEConfig = VAEConfig(), module=None) -> Task:
    """The trainer's Task for a VAE or IWAE (see VAEConfig).

    module: the network, instead of the built-in Linen `vae.VAE` from config's sizes: anything with
    Linen's `init`/`apply` and the VAE's `encode`, `decode` and `noise_scale` methods, e.g. an NNX
    module behind `jaxae.nnx_bridge.NNXModel` (config's hidden, latent and arch are then unused; its
    decoder, binarization, objective and optimizer still apply)."""
    model_for = (lambda x: module) if module is not None else functools.partial(_model_for, config)

    def preprocess(key, raw):
        if config.binarize == "dynamic":
            return dynamic_binarize(key, raw)
        if config.binarize == "static":
            return binarize(raw)
        return to_unit(raw)

    def init(key, x):
        k_init, _ = jax.random.split(key)  # kept so that reported runs reproduce bit for bit
        z = jnp.zeros((x.shape[0], config.latent))
        return model_for(x).init(k_init, x, z)["params"]

    def loss_fn(key, params, x, step):
        m = model_for(x)
        if config.objective == "iwae":
            return -jnp.mean(vae.iwae_bound(key, m, params, x, config.samples)), {}
        rec, kl = vae.elbo_terms(key, m, params, x, config.samples)
        weight: Any = config.beta
        if config.kl_warmup:
            weight = config.beta * jnp.minimum(1.0, (step + 1) / config.kl_warmup)
        return -jnp.mean(rec - weight * kl), {"kl": jnp.mean(kl)}

    def evaluate(key, params, x):
        rec, kl = vae.elbo_terms(key, model_for(x), params, x, 1)
        return {"neg_elbo": kl - rec, "rec_nll": -rec, "kl": kl}

    def reconstruct(params, x):
        return vae.reconstruct(model_for(x), params, x)

    def validate(data):
        if module is None and config.arch == "conv" and data.image_shape != (28, 28):
            raise DataError(f"the conv VAE is built for 28x28 images, got examples of shape "
                            f"{images_of(data.train_images).shape[1:]}; use --arch mlp")
        if config.decoder == "bernoulli" and config.binarize == "none" and not config.allow_nonbinary:
            sample = np.asarray(images_of(data.train_images)[:1000])
            top = 255 if sample.dtype == np.uint8 else 1.0
            if not np.all((sample == 0) | (sample == top)):
                raise DataError(
                    "a Bernoulli decoder needs binary pixels but the data has grey levels, so BCE would not be a "
                    "likelihood; use --binarize dynamic (default) or static, or --decoder continuous-bernoulli "
                    "or gaussian, or pass --allow-nonbinary to train on grey pixels anyway"
                )

    return Task(
        name="iwae" if config.objective == "iwae" else "vae",
        init=init,
        estimator=from_scheduled_loss(loss_fn),
        optimizer=adam(config.learning_rate, config.weight_decay),
        preprocess=preprocess,
        evaluate=evaluate,
        reconstruct=reconstruct,
        modes={"cpu": "step"} if config.arch == "conv" else None,
        validate=validate,
        # a module of the user's is reopened with load_run(workdir, task=...), not from config.json
        spec=None if module is not None else spec("iwae" if isinstance(config, IWAEConfig) else "vae", config),
        learning_rate=config.learning_rate,
    )


def offers(config: VAEConfig = VAEConfig(), module=None) -> Offers:
    """A latent codec with a N(0, I) prior, and the importance-sampled likelihood (module: as in `task`)."""
    model_for = (lambda x: module) if module is not None else functools.partial(_model_for, config)

    def encode(params, x):
        return vae.encode(model_for(x), params, x)[0]

    def decode(params, z):
        return jax.nn.sigmoid(vae.decode(module if module is not None else model(config, _width(config, params)), params, z)[0])

    def reconstruct(params, x):
        return vae.reconstruct(model_for(x), params, x)

    def log_weights(key, params, x, k):
        return vae.log_weights(key, model_for(x), params, x, k)

    return Offers(codec=Codec(latent=config.latent, encode=encode, decode=decode, prior=True, reconstruct=reconstruct),
                  likelihood=ImportanceLikelihood(log_weights, TEST_INPUTS[config.binarize]))
