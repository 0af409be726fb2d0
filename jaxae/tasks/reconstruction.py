"""The task shared by the reconstruction autoencoders (MLP, convolutional, denoising): MSE on images,
optionally on corrupted inputs (jaxae.autoencoder holds the math)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax

from jaxae import autoencoder as ae
from jaxae.data.noise import corruption
from jaxae.data.transforms import to_unit
from jaxae.errors import ConfigError
from jaxae.estimators import from_loss
from jaxae.optim import adam
from jaxae.tasks.offers import Codec
from jaxae.train import Task


@dataclass(frozen=True)
class ReconstructionConfig:
    """Options every reconstruction autoencoder shares (the subclasses document them).

    Attributes:
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam (torch.optim.Adam's weight_decay).
      pixels: "symmetric" ([-1, 1], Tanh output) or "unit" ([0, 1], sigmoid output).
      noise: input corruption for a denoising autoencoder: none, gaussian, masking, salt-and-pepper.
      noise_level: the noise's sigma (gaussian) or fraction of pixels (masking, salt-and-pepper).
    """

    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    pixels: str = "symmetric"
    noise: str = "none"
    noise_level: float = 0.3

    def __post_init__(self):
        ae.check_pixels(self.pixels)
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be > 0 and weight_decay >= 0")
        corruption(self.noise, self.noise_level)  # raises on a bad noise or level


def reconstruction_task(name: str, config: ReconstructionConfig, init: Callable, forward: ae.Forward,
                        validate: Callable | None = None, modes: dict | None = None, spec: dict | None = None) -> Task:
    """A Task that trains `forward(params, images) -> images` on MSE, optionally denoising.

    Args:
      name: the model's name.
      config: has pixels, learning_rate, weight_decay, noise, noise_level.
      init: `init(key, images) -> params`, images (batch, h, w) in the model's pixel range.
      forward: `forward(params, images) -> images`, (batch, h, w) in the model's pixel range.
      validate: optional data check (see Task).
      modes: measured-faster training mode per platform (see Task).
      spec: what the run records to reopen (see Task).

    The batch the trainer hands over is (batch, h, w) float32 in [0, 1]; the loss corrupts it (fresh
    noise every step when config.noise is set), maps it to the pixel range, and compares the model's
    output with the clean images.
    """
    pixels = config.pixels
    corrupt = corruption(config.noise, config.noise_level)

    def loss_fn(key, params, x):
        return ae.reconstruction_loss(key, forward, params, x, pixels, corrupt)

    def evaluate(key, params, x):
        return ae.reconstruction_metrics(key, forward, params, x, pixels, corrupt)

    def reconstruct(params, x):
        return ae.reconstruct(forward, params, x, pixels)

    return Task(name=name, init=lambda key, x: init(key, ae.to_model(x, pixels)), estimator=from_loss(loss_fn),
                optimizer=adam(config.learning_rate, config.weight_decay), preprocess=lambda key, raw: to_unit(raw),
                evaluate=evaluate, reconstruct=reconstruct, modes=modes, validate=validate, spec=spec,
                learning_rate=config.learning_rate)


def reconstruction_codec(config: ReconstructionConfig, latent: int, encode: Callable, decode: Callable,
                         forward: ae.Forward) -> Codec:
    """The Codec of a reconstruction autoencoder: `encode(params, images)` and `decode(params, codes)` work
    in the model's pixel range; the Codec's functions take and give [0, 1] pixels."""
    pixels = config.pixels

    def reconstruct(params, x):
        return ae.reconstruct(forward, params, x, pixels)

    return Codec(latent=latent, encode=lambda params, x: encode(params, ae.to_model(x, pixels)),
                 decode=lambda params, z: ae.to_unit_range(decode(params, z), pixels),
                 corrupt=corruption(config.noise, config.noise_level), reconstruct=reconstruct)


def flat(x: jax.Array) -> jax.Array:
    """(batch, ...) -> (batch, features)."""
    return x.reshape(x.shape[0], -1)
