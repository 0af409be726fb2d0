"""`jaxae train conv-ae`: the chapter's convolutional autoencoder (PyTorch padding semantics), or your own layers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jaxae.autoencoder import CHAPTER_DECODER, CHAPTER_ENCODER, ConvAutoencoder, conv_shapes
from jaxae.errors import ConfigError, DataError
from jaxae.nn.conv import check_transposed, parse_spec
from jaxae.tasks.offers import Offers, spec
from jaxae.tasks.reconstruction import ReconstructionConfig, reconstruction_codec, reconstruction_task
from jaxae.train import Task


@dataclass(frozen=True)
class ConvAEConfig(ReconstructionConfig):
    """The chapter's convolutional autoencoder, 28x28 in and out, or your own layers.

    Encoder Conv(1→16,3,s3,p1) ReLU MaxPool(2,2) Conv(16→8,3,s2,p1) ReLU MaxPool(2,1); decoder
    ConvT(8→16,3,s2) ReLU ConvT(16→8,5,s3,p1) ReLU ConvT(8→1,2,s2,p1) Tanh; MSE on [-1, 1] pixels,
    Adam lr 1e-4, weight decay 1e-5.

    Attributes:
      encoder: encoder layers, e.g. c16k3s3p1,m2s2 (cFkKsSpP conv, mKsS max-pool; see jaxae.nn.conv).
      decoder: decoder layers, e.g. t16k3s2 (tFkKsSpP transposed conv); must end with 1 channel.
      learning_rate: Adam step size.
      weight_decay: L2 coefficient added to the gradient before Adam.
      pixels: "symmetric" ([-1, 1], Tanh output) or "unit" ([0, 1], sigmoid output).
      noise: input corruption for a denoising autoencoder: none, gaussian, masking, salt-and-pepper.
      noise_level: the noise's sigma (gaussian) or fraction of pixels (masking, salt-and-pepper).
      transposed: how transposed convolutions are computed: auto (per backend), dilated, matmul or
        subpixel (see jaxae.nn.conv.conv_transpose); the same function and parameters for each.
    """

    encoder: str = CHAPTER_ENCODER
    decoder: str = CHAPTER_DECODER
    transposed: str = "auto"

    def __post_init__(self):
        check_transposed(self.transposed)
        parse_spec(self.encoder)
        decoder = parse_spec(self.decoder)
        if decoder[-1].kind == "pool" or decoder[-1].features != 1:
            raise ConfigError(f"the decoder must end with a 1-channel conv layer, got {self.decoder!r}")
        super().__post_init__()


def shapes(config: ConvAEConfig, size: int = 28) -> tuple[list, list]:
    """(size, channels) after each encoder and decoder layer for a size×size input."""
    return conv_shapes(config.encoder, config.decoder, size)


def _functions(config: ConvAEConfig):
    model = ConvAutoencoder(config.encoder, config.decoder, "tanh" if config.pixels == "symmetric" else "sigmoid",
                            config.transposed)
    size, channels = shapes(config, 28)[0][-1]

    def init(key, x):
        return model.init(key, x)["params"]

    def forward(params, x):
        return model.apply({"params": params}, x)

    def encode(params, x):
        code: Any = model.apply({"params": params}, x, method=ConvAutoencoder.encode)
        return code.reshape(x.shape[0], -1)

    def decode(params, z):
        return model.apply({"params": params}, z.reshape(z.shape[0], size, size, channels),
                           method=ConvAutoencoder.decode)

    return init, forward, encode, decode, size * size * channels


def task(config: ConvAEConfig = ConvAEConfig()) -> Task:
    """The trainer's Task for a convolutional autoencoder (denoising when config.noise is set)."""
    init, forward, _, _, _ = _functions(config)

    def validate(data):
        if data.image_shape is None:
            raise DataError(f"the conv autoencoder needs images (n, height, width); {data.name} holds vectors: "
                            "reshape them, or use jaxae train ae")
        h, w = data.image_shape
        encoder, decoder = shapes(config, h)
        if h != w or decoder[-1][0] != h:
            raise DataError(
                f"the conv autoencoder maps {h}x{w} images to {decoder[-1][0]}x{decoder[-1][0]} "
                f"(encoder {encoder}, decoder {decoder}); it needs square images whose size it "
                "reproduces (the chapter's layers need 28x28), so change --encoder/--decoder"
            )

    # XLA:CPU runs this model slower inside a scan than as separate jitted steps (33.1k vs 51.2k
    # samples/s on 2 cores, benchmarks/results/cpu_floor_1.jsonl), so the CPU default is "step".
    return reconstruction_task("conv-ae", config, init, forward, validate=validate, modes={"cpu": "step"},
                               spec=spec("conv-ae", config))


def offers(config: ConvAEConfig = ConvAEConfig()) -> Offers:
    """A latent codec: the flattened feature maps after the encoder (of a 28x28 image)."""
    _, forward, encode, decode, latent = _functions(config)
    return Offers(codec=reconstruction_codec(config, latent, encode, decode, forward))
