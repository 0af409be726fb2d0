"""Deterministic autoencoders and their reconstruction losses as pure functions.

The chapter's MLP autoencoder (`Autoencoder`) and convolutional autoencoder (`ConvAutoencoder`, PyTorch's
padding semantics), and the mean-squared-error objective they train on, optionally denoising:

    forward = lambda params, x: model.apply({"params": params}, x)
    loss, _ = reconstruction_loss(key, forward, params, x, pixels="symmetric", corrupt=None)

x is a batch of images in [0, 1]; `pixels` says the range the network works in ("symmetric": [-1, 1],
the chapter's Normalize(0.5, 0.5) with a Tanh output; "unit": [0, 1] with a sigmoid output), and
`corrupt(key, x)` (see jaxae.data.noise) makes it a denoising autoencoder (Vincent et al. 2008).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError
from jaxae.nn import MLP
from jaxae.nn.conv import ConvStack, output_shape, parse_spec

PIXELS = ("symmetric", "unit")
CHAPTER_ENCODER = "c16k3s3p1,m2s2,c8k3s2p1,m2s1"
CHAPTER_DECODER = "t16k3s2,t8k5s3p1,t1k2s2p1"


class Autoencoder(nn.Module):
    """MLP autoencoder. Input and output: (batch, n_features) float32.

    Attributes:
      n_features: input (and output) width.
      hidden: encoder hidden widths (ReLU); the decoder mirrors them.
      latent: code size (linear).
      output: "tanh" (pixels in [-1, 1]) or "sigmoid" ([0, 1]).
    """

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


class ConvAutoencoder(nn.Module):
    """(batch, h, w) images -> (batch, h, w) reconstructions, NHWC inside.

    Attributes:
      encoder: the encoder's layer spec (see jaxae.nn.conv), e.g. CHAPTER_ENCODER.
      decoder: the decoder's layer spec, e.g. CHAPTER_DECODER.
      output: "tanh" or "sigmoid".
      transposed: how the transposed convolutions are computed (see jaxae.nn.conv.conv_transpose;
        "auto": per backend). The parameters and the function are the same for every choice.
    """

    encoder: str
    decoder: str
    output: str = "tanh"
    transposed: str = "auto"

    def setup(self):
        self.enc = ConvStack(parse_spec(self.encoder), final_activation=None)
        out = jnp.tanh if self.output == "tanh" else nn.sigmoid
        self.dec = ConvStack(parse_spec(self.decoder), final_activation=out, transposed=self.transposed)

    def encode(self, x: jax.Array) -> jax.Array:
        """(batch, h, w) -> (batch, h', w', c') code."""
        return self.enc(x[..., None])

    def decode(self, z: jax.Array) -> jax.Array:
        """(batch, h', w', c') -> (batch, h, w)."""
        return self.dec(z)[..., 0]

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.decode(self.encode(x))


def conv_shapes(encoder: str, decoder: str, size: int = 28) -> tuple[list, list]:
    """(size, channels) after each encoder and decoder layer for a size x size one-channel input."""
    enc = output_shape(parse_spec(encoder), size, 1)
    dec = output_shape(parse_spec(decoder), enc[-1][0], enc[-1][1])
    return enc, dec


# --- the reconstruction objective ----------------------------------------------------------------


def check_pixels(pixels: str) -> None:
    if pixels not in PIXELS:
        raise ConfigError(f"pixels must be 'symmetric' or 'unit', got {pixels!r}")


def to_model(x: jax.Array, pixels: str) -> jax.Array:
    """[0, 1] pixels -> the network's range ([-1, 1] for "symmetric")."""
    return 2.0 * x - 1.0 if pixels == "symmetric" else x


def to_unit_range(y: jax.Array, pixels: str) -> jax.Array:
    """The network's output -> [0, 1] pixels (clipped)."""
    return jnp.clip((y + 1.0) / 2.0 if pixels == "symmetric" else y, 0.0, 1.0)


Forward = Callable[[dict, jax.Array], jax.Array]
Corrupt = Callable[[jax.Array, jax.Array], jax.Array]


def reconstruct(forward: Forward, params, x: jax.Array, pixels: str = "symmetric") -> jax.Array:
    """The network's reconstruction of [0, 1] images x, in [0, 1] (clipped)."""
    return to_unit_range(forward(params, to_model(x, pixels)), pixels)


def reconstruction_loss(key: jax.Array, forward: Forward, params, x: jax.Array, pixels: str = "symmetric",
                        corrupt: Corrupt | None = None) -> tuple[jax.Array, dict]:
    """The mean squared error of `forward(params, x_in)` against the clean x, in the network's range.

    Args:
      key: PRNG key of the corruption (unused without one).
      forward: `forward(params, images) -> images` in the network's range, images (batch, ...).
      params: the network's parameters.
      x: (batch, ...) clean images in [0, 1].
      pixels: the network's range, "symmetric" or "unit".
      corrupt: optional `corrupt(key, x) -> x_noisy` (a denoising autoencoder: fresh noise per key).

    Returns:
      (loss, {}): a scalar, in the (loss, metrics) form of `jaxae.estimators.from_loss`.
    """
    noisy = corrupt(key, x) if corrupt else x
    y = forward(params, to_model(noisy, pixels))
    return jnp.mean((y - to_model(x, pixels)) ** 2), {}


def reconstruction_metrics(key: jax.Array, forward: Forward, params, x: jax.Array, pixels: str = "symmetric",
                           corrupt: Corrupt | None = None) -> dict:
    """Per-example metrics, each (batch,): "mse" in the network's range; with a corruption also
    "noisy_mse" (the corrupted input's error), "psnr" and "noisy_psnr" in dB on [0, 1] pixels."""
    noisy = corrupt(key, x) if corrupt else x
    y = forward(params, to_model(noisy, pixels))
    axes = tuple(range(1, x.ndim))
    metrics = {"mse": jnp.mean((y - to_model(x, pixels)) ** 2, axis=axes)}
    if corrupt:
        denoised_unit = jnp.mean((to_unit_range(y, pixels) - x) ** 2, axis=axes)
        noisy_unit = jnp.mean((noisy - x) ** 2, axis=axes)
        metrics.update(
            noisy_mse=jnp.mean((to_model(noisy, pixels) - to_model(x, pixels)) ** 2, axis=axes),
            psnr=10.0 * jnp.log10(1.0 / jnp.maximum(denoised_unit, 1e-10)),
            noisy_psnr=10.0 * jnp.log10(1.0 / jnp.maximum(noisy_unit, 1e-10)),
        )
    return metrics
