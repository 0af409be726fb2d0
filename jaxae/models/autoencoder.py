"""The chapter's standard autoencoder: an MLP encoder to a small linear code and an MLP decoder."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxae.data.transforms import preprocessor
from jaxae.errors import ConfigError
from jaxae.estimators import from_loss
from jaxae.nn import MLP
from jaxae.train.state import Task


@dataclass(frozen=True)
class AEConfig:
    """The chapter's defaults: 784-128-64-12-3, ReLU, linear code, Tanh output, MSE on [-1, 1] pixels,
    Adam lr 1e-4 with (L2, PyTorch-style) weight decay 1e-5.

    Attributes:
      hidden: encoder hidden widths; the decoder mirrors them.
      latent: code size (linear).
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam (torch.optim.Adam's weight_decay).
      pixels: "symmetric" ([-1, 1], Tanh output) or "unit" ([0, 1], sigmoid output).
    """

    hidden: Sequence[int] = (128, 64, 12)
    latent: int = 3
    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    pixels: str = "symmetric"

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.latent < 1 or any(h < 1 for h in self.hidden):
            raise ConfigError(f"layer widths must be positive, got hidden={self.hidden} latent={self.latent}")
        if self.pixels not in ("symmetric", "unit"):
            raise ConfigError(f"pixels must be 'symmetric' or 'unit', got {self.pixels!r}")
        if self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate must be > 0 and weight_decay >= 0")


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


def task(config: AEConfig = AEConfig()) -> Task:
    """The trainer's Task for an MLP autoencoder with MSE loss."""
    symmetric = config.pixels == "symmetric"

    def flat(batch):
        b = batch.shape[0]
        return batch.reshape(b, -1)

    def model_for(x):
        return Autoencoder(x.shape[-1], config.hidden, config.latent, "tanh" if symmetric else "sigmoid")

    def init(key, batch):
        x = flat(batch)
        return model_for(x).init(key, x)["params"]

    def apply(params, batch):
        x = flat(batch)
        return x, model_for(x).apply({"params": params}, x)

    def loss_fn(key, params, batch):
        del key
        x, y = apply(params, batch)
        return jnp.mean((y - x) ** 2), {}

    def evaluate(key, params, batch):
        del key
        x, y = apply(params, batch)
        return {"mse": jnp.mean((y - x) ** 2, axis=-1)}

    def reconstruct(params, batch):
        _, y = apply(params, batch)
        y = (y + 1.0) / 2.0 if symmetric else y
        return jnp.clip(y, 0.0, 1.0).reshape(batch.shape)

    optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay), optax.adam(config.learning_rate))
    return Task(
        name="ae",
        init=init,
        estimator=from_loss(loss_fn),
        optimizer=optimizer,
        preprocess=preprocessor(config.pixels),
        evaluate=evaluate,
        reconstruct=reconstruct,
    )
