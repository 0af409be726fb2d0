"""Deterministic autoencoders trained on reconstruction: the chapter's MLP autoencoder, and the
shared task builder that the convolutional and denoising variants use."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.data.noise import corruption
from jaxae.data.transforms import to_unit
from jaxae.errors import ConfigError
from jaxae.estimators import adam, from_loss
from jaxae.nn import MLP
from jaxae.train.state import Codec, Task

PIXELS = ("symmetric", "unit")


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
        if self.pixels not in PIXELS:
            raise ConfigError(f"pixels must be 'symmetric' or 'unit', got {self.pixels!r}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be > 0 and weight_decay >= 0")
        corruption(self.noise, self.noise_level)  # raises on a bad noise or level


@dataclass(frozen=True)
class AEConfig(ReconstructionConfig):
    """The chapter's standard autoencoder: 784-128-64-12-3, ReLU, linear code, Tanh output, MSE on
    [-1, 1] pixels, Adam lr 1e-4 with (L2, PyTorch-style) weight decay 1e-5.

    Attributes:
      hidden: encoder hidden widths; the decoder mirrors them.
      latent: code size (linear).
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam (torch.optim.Adam's weight_decay).
      pixels: "symmetric" ([-1, 1], Tanh output) or "unit" ([0, 1], sigmoid output).
      noise: input corruption for a denoising autoencoder: none, gaussian, masking, salt-and-pepper.
      noise_level: the noise's sigma (gaussian) or fraction of pixels (masking, salt-and-pepper).
    """

    hidden: Sequence[int] = (128, 64, 12)
    latent: int = 3

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.latent < 1 or any(h < 1 for h in self.hidden):
            raise ConfigError(f"layer widths must be positive, got hidden={self.hidden} latent={self.latent}")
        super().__post_init__()


@dataclass(frozen=True)
class DAEConfig(AEConfig):
    """A denoising MLP autoencoder: 784-512-128-64 with sigmoid output on [0, 1] pixels, masking noise
    0.3, Adam lr 1e-3 (AEConfig with other defaults; every AE option applies).

    Attributes:
      hidden: encoder hidden widths; the decoder mirrors them.
      latent: code size (linear).
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam.
      pixels: "unit" ([0, 1], sigmoid output) or "symmetric" ([-1, 1], Tanh output).
      noise: gaussian, masking, salt-and-pepper (or none).
      noise_level: the noise's sigma (gaussian) or fraction of pixels (masking, salt-and-pepper).
    """

    hidden: Sequence[int] = (512, 128)
    latent: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    pixels: str = "unit"
    noise: str = "masking"
    noise_level: float = 0.3


class Autoencoder(nn.Module):
    """MLP autoencoder. Input and output: (batch, n_features) float32."""

    n_features: int
    hidden: Sequence[int]
    latent: int
    output: str = "tanh"

    def setup(self):
        self.encoder = MLP(tuple(self.hidden) + (self.latent,))
        out = jnp.tanh if self.output == "tanh" else nn.sigmoid
        self.decoder = MLP(tuple(reversed(self.hidden)) + (self.n_features,), final_activation=out)

    def encode(self, x: jax.Array) -> jax.Array:
        """(batch, n_features) -> (batch, latent) code."""
        return self.encoder(x)

    def decode(self, z: jax.Array) -> jax.Array:
        """(batch, latent) -> (batch, n_features) in the pixel range."""
        return self.decoder(z)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))


def reconstruction_task(
    name: str,
    config,
    init: Callable[[jax.Array, jax.Array], dict],
    forward: Callable[[dict, jax.Array], jax.Array],
    encode: Callable[[dict, jax.Array], jax.Array] | None = None,
    decode: Callable[[dict, jax.Array], jax.Array] | None = None,
    validate: Callable | None = None,
    modes: dict | None = None,
    latent: int | None = None,
) -> Task:
    """A Task that trains `forward(params, images) -> images` on MSE, optionally denoising.

    Args:
      name: the model's name.
      config: has pixels, learning_rate, weight_decay, noise, noise_level.
      init: `init(key, images) -> params`, images (batch, h, w) in the model's pixel range.
      forward: `forward(params, images) -> images`, (batch, h, w) in the model's pixel range.
      encode: optional `encode(params, images) -> (batch, latent)` (images in the model's range).
      decode: optional `decode(params, codes) -> (batch, ...)` images in the model's range.
      validate: optional data check (see Task).
      modes: measured-faster training mode per platform (see Task).
      latent: the code size (default: config.latent).

    The batch the trainer hands over is (batch, h, w) float32 in [0, 1]; the loss corrupts it (fresh
    noise every step when config.noise is set), maps it to the pixel range, and compares the model's
    output with the clean images.
    """
    symmetric = config.pixels == "symmetric"
    corrupt = corruption(config.noise, config.noise_level)

    def to_model(x):
        return 2.0 * x - 1.0 if symmetric else x

    def to_unit_range(y):
        return jnp.clip((y + 1.0) / 2.0 if symmetric else y, 0.0, 1.0)

    def inputs(key, x):
        return corrupt(key, x) if corrupt else x

    def loss_fn(key, params, x):
        y = forward(params, to_model(inputs(key, x)))
        return jnp.mean((y - to_model(x)) ** 2), {}

    def evaluate(key, params, x):
        noisy = inputs(key, x)
        y = forward(params, to_model(noisy))
        axes = tuple(range(1, x.ndim))
        metrics = {"mse": jnp.mean((y - to_model(x)) ** 2, axis=axes)}
        if corrupt:
            denoised_unit = jnp.mean((to_unit_range(y) - x) ** 2, axis=axes)
            noisy_unit = jnp.mean((noisy - x) ** 2, axis=axes)
            metrics.update(
                noisy_mse=jnp.mean((to_model(noisy) - to_model(x)) ** 2, axis=axes),
                psnr=10.0 * jnp.log10(1.0 / jnp.maximum(denoised_unit, 1e-10)),
                noisy_psnr=10.0 * jnp.log10(1.0 / jnp.maximum(noisy_unit, 1e-10)),
            )
        return metrics

    def reconstruct(params, x):
        return to_unit_range(forward(params, to_model(x)))

    codec = None
    if encode and decode:
        codec = Codec(
            latent=latent or config.latent,
            encode=lambda params, x: encode(params, to_model(x)),
            decode=lambda params, z: to_unit_range(decode(params, z)),
            corrupt=corrupt,
        )
    optimizer = adam(config.learning_rate, config.weight_decay)
    return Task(
        name=name,
        init=lambda key, x: init(key, to_model(x)),
        estimator=from_loss(loss_fn),
        optimizer=optimizer,
        preprocess=lambda key, raw: to_unit(raw),
        evaluate=evaluate,
        reconstruct=reconstruct,
        codec=codec,
        modes=modes,
        validate=validate,
    )


def task(config: AEConfig = AEConfig()) -> Task:
    """The trainer's Task for an MLP autoencoder with MSE loss (denoising when config.noise is set)."""

    output = "tanh" if config.pixels == "symmetric" else "sigmoid"

    def module(params):  # the data width is read off the decoder's last layer
        n_features = params["decoder"][f"dense_{len(config.hidden)}"]["kernel"].shape[-1]
        return Autoencoder(n_features, config.hidden, config.latent, output)

    def init(key, x):
        flat = x.reshape(x.shape[0], -1)
        return Autoencoder(flat.shape[-1], config.hidden, config.latent, output).init(key, flat)["params"]

    def forward(params, x):
        return module(params).apply({"params": params}, x.reshape(x.shape[0], -1)).reshape(x.shape)

    def encode(params, x):
        return module(params).apply({"params": params}, x.reshape(x.shape[0], -1), method=Autoencoder.encode)

    def decode(params, z):
        return module(params).apply({"params": params}, z, method=Autoencoder.decode)

    name = "dae" if config.noise != "none" else "ae"
    return reconstruction_task(name, config, init, forward, encode, decode)
