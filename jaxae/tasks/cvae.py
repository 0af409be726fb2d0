"""`jaxae train cvae`: a conditional VAE (Sohn et al. 2015) on images and their labels (jaxae.cvae holds
the math). `jaxae eval` reports the IS-NLL of p(x | y); `jaxae sample` draws a grid by class."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import cvae
from jaxae.data.dataset import with_labels
from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
from jaxae.errors import ConfigError, DataError
from jaxae.estimators import from_loss
from jaxae.optim import adam
from jaxae.tasks.offers import Codec, ImportanceLikelihood, Offers, spec
from jaxae.tasks.vae import BINARIZE, TEST_INPUTS
from jaxae.train import Task
from jaxae.vae import DECODERS


@dataclass(frozen=True)
class CVAEConfig:
    """A conditional VAE: q(z|x,y) and p(x|z,y) with one-hot labels, 784-400-20 like the chapter's VAE.

    It trains on the summed BCE plus the analytic KL per image (Adam), on dynamically binarized pixels.

    Attributes:
      hidden: encoder hidden widths (ReLU); the decoder mirrors them.
      latent: latent size.
      classes: number of labels (10 for MNIST).
      learning_rate: Adam step size.
      decoder: "bernoulli", "continuous-bernoulli" or "gaussian".
      binarize: "dynamic" (a fresh Bernoulli sample each step; test images sampled once), "static" or "none".
    """

    hidden: Sequence[int] = (400,)
    latent: int = 20
    classes: int = 10
    learning_rate: float = 1e-4
    decoder: str = "bernoulli"
    binarize: str = "dynamic"

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.latent < 1 or any(h < 1 for h in self.hidden) or self.classes < 2 or self.learning_rate <= 0:
            raise ConfigError(f"need positive widths, classes >= 2 and learning_rate > 0, got hidden={self.hidden}, "
                              f"latent={self.latent}, classes={self.classes}, learning_rate={self.learning_rate}")
        if self.decoder not in DECODERS or self.binarize not in BINARIZE:
            raise ConfigError(f"decoder must be one of {', '.join(DECODERS)} and binarize one of {', '.join(BINARIZE)}; "
                              f"got {self.decoder!r}, {self.binarize!r}")


def _model(config: CVAEConfig, x: jax.Array) -> cvae.CVAE:
    return cvae.CVAE(config.hidden, config.latent, int(np.prod(x.shape[1:])), config.classes, config.decoder)


def task(config: CVAEConfig = CVAEConfig()) -> Task:
    """The trainer's Task: batches are {"image", "label"} (jaxae.data.with_labels)."""

    def preprocess(key, batch):
        raw = batch["image"]
        pixels = (dynamic_binarize(key, raw) if config.binarize == "dynamic"
                  else binarize(raw) if config.binarize == "static" else to_unit(raw))
        return {"image": pixels, "label": batch["label"]}

    def init(key, batch):
        x, y = batch["image"], batch["label"]
        return _model(config, x).init(key, x, y, jnp.zeros((x.shape[0], config.latent)))["params"]

    def loss_fn(key, params, batch):
        x, y = batch["image"], batch["label"]
        rec, kl = cvae.elbo_terms(key, _model(config, x), params, x, y)
        return -jnp.mean(rec - kl), {"kl": jnp.mean(kl)}

    def evaluate(key, params, batch):
        x, y = batch["image"], batch["label"]
        rec, kl = cvae.elbo_terms(key, _model(config, x), params, x, y)
        return {"neg_elbo": kl - rec, "rec_nll": -rec, "kl": kl}

    def reconstruct(params, batch):
        return cvae.reconstruct(_model(config, batch["image"]), params, batch["image"], batch["label"])

    def validate(data):
        labels = np.concatenate([np.asarray(data.train_labels), np.asarray(data.test_labels)])
        if labels.min() < 0 or labels.max() >= config.classes:
            raise DataError(f"{data.name} has labels {labels.min()}..{labels.max()} but the CVAE has {config.classes} "
                            "classes; set --classes")

    return Task(name="cvae", init=init, estimator=from_loss(loss_fn), optimizer=adam(config.learning_rate),
                preprocess=preprocess, evaluate=evaluate, reconstruct=reconstruct, validate=validate,
                adapt_data=with_labels, spec=spec("cvae", config), learning_rate=config.learning_rate)


def offers(config: CVAEConfig = CVAEConfig()) -> Offers:
    """A conditional codec (decode takes labels; a grid by class from the prior) and the IS-NLL of p(x | y)."""

    def width(params):
        return params["head"][f"dense_{len(config.hidden)}"]["kernel"].shape[-1]

    def encode(params, batch):
        return cvae.encode(_model(config, batch["image"]), params, batch["image"], batch["label"])[0]

    def decode(params, z, labels):
        model = cvae.CVAE(config.hidden, config.latent, width(params), config.classes, config.decoder)
        return jax.nn.sigmoid(cvae.decode(model, params, z, labels)[0])

    def reconstruct(params, batch):
        return cvae.reconstruct(_model(config, batch["image"]), params, batch["image"], batch["label"])

    def log_weights(key, params, batch, k):
        x = batch["image"]
        return cvae.log_weights(key, _model(config, x), params, x, batch["label"], k)

    return Offers(codec=Codec(latent=config.latent, encode=encode, decode=decode, prior=True, reconstruct=reconstruct,
                              classes=config.classes),
                  likelihood=ImportanceLikelihood(log_weights, TEST_INPUTS[config.binarize] + "; log p(x | y)"))
