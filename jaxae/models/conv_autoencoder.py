"""The chapter's convolutional autoencoder, with PyTorch's padding semantics, and configurable variants."""
from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError, DataError
from jaxae.models.autoencoder import ReconstructionConfig, reconstruction_task
from jaxae.nn.conv import ConvStack, output_shape, parse_spec
from jaxae.train.state import Task

CHAPTER_ENCODER = "c16k3s3p1,m2s2,c8k3s2p1,m2s1"
CHAPTER_DECODER = "t16k3s2,t8k5s3p1,t1k2s2p1"


@dataclass(frozen=True)
class ConvAEConfig(ReconstructionConfig):
    """The chapter's convolutional autoencoder: Conv(1→16,3,s3,p1) ReLU MaxPool(2,2) Conv(16→8,3,s2,p1)
    ReLU MaxPool(2,1) | ConvT(8→16,3,s2) ReLU ConvT(16→8,5,s3,p1) ReLU ConvT(8→1,2,s2,p1) Tanh; MSE on
    [-1, 1] pixels, Adam lr 1e-4, weight decay 1e-5. 28×28 in, 28×28 out.

    Attributes:
      encoder: encoder layers, e.g. c16k3s3p1,m2s2 (cFkKsSpP conv, mKsS max-pool; see jaxae.nn.conv).
      decoder: decoder layers, e.g. t16k3s2 (tFkKsSpP transposed conv); must end with 1 channel.
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam.
      pixels: "symmetric" ([-1, 1], Tanh output) or "unit" ([0, 1], sigmoid output).
      noise: input corruption for a denoising autoencoder: none, gaussian, masking, salt-and-pepper.
      noise_level: the noise's sigma (gaussian) or fraction of pixels (masking, salt-and-pepper).
    """

    encoder: str = CHAPTER_ENCODER
    decoder: str = CHAPTER_DECODER

    def __post_init__(self):
        parse_spec(self.encoder)
        decoder = parse_spec(self.decoder)
        if decoder[-1].kind == "pool" or decoder[-1].features != 1:
            raise ConfigError(f"the decoder must end with a 1-channel conv layer, got {self.decoder!r}")
        super().__post_init__()


class ConvAutoencoder(nn.Module):
    """(batch, h, w) images -> (batch, h, w) reconstructions, NHWC inside."""

    encoder: str
    decoder: str
    output: str = "tanh"

    def setup(self):
        self.enc = ConvStack(parse_spec(self.encoder), final_activation=None)
        out = jnp.tanh if self.output == "tanh" else nn.sigmoid
        self.dec = ConvStack(parse_spec(self.decoder), final_activation=out)

    def encode(self, x: jax.Array) -> jax.Array:
        """(batch, h, w) -> (batch, h', w', c') code."""
        return self.enc(x[..., None])

    def decode(self, z: jax.Array) -> jax.Array:
        return self.dec(z)[..., 0]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))


def shapes(config: ConvAEConfig, size: int = 28) -> tuple[list, list]:
    """(size, channels) after each encoder and decoder layer for a size×size input."""
    encoder = output_shape(parse_spec(config.encoder), size, 1)
    decoder = output_shape(parse_spec(config.decoder), encoder[-1][0], encoder[-1][1])
    return encoder, decoder


def task(config: ConvAEConfig = ConvAEConfig()) -> Task:
    """The trainer's Task for a convolutional autoencoder (denoising when config.noise is set)."""
    model = ConvAutoencoder(config.encoder, config.decoder, "tanh" if config.pixels == "symmetric" else "sigmoid")

    def validate(data):
        h, w = data.image_shape
        encoder, decoder = shapes(config, h)
        if h != w or decoder[-1][0] != h:
            raise DataError(
                f"the conv autoencoder maps {h}x{w} images to {decoder[-1][0]}x{decoder[-1][0]} "
                f"(encoder {encoder}, decoder {decoder}); it needs square images whose size it "
                "reproduces (the chapter's layers need 28x28), so change --encoder/--decoder"
            )

    def init(key, x):
        return model.init(key, x)["params"]

    def forward(params, x):
        return model.apply({"params": params}, x)

    def encode(params, x):
        return model.apply({"params": params}, x, method=ConvAutoencoder.encode).reshape(x.shape[0], -1)

    def decode(params, z):
        return model.apply({"params": params}, z.reshape(z.shape[0], size, size, channels), method=ConvAutoencoder.decode)

    # XLA:CPU ran this model's transposed convolutions 2.2x slower inside a scan than as separate
    # jitted steps (7.7k vs 16.7k samples/s, benchmarks/README.md), so the CPU default is "step".
    size, channels = shapes(config, 28)[0][-1]
    return reconstruction_task("conv-ae", config, init, forward, encode, decode, validate=validate,
                               modes={"cpu": "step"}, latent=size * size * channels)
