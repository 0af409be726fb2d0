"""`jaxae train ae` and `dae`: the chapter's MLP autoencoder and a denoising MLP autoencoder."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jaxae.autoencoder import Autoencoder
from jaxae.errors import ConfigError
from jaxae.tasks.offers import Offers, spec
from jaxae.tasks.reconstruction import ReconstructionConfig, flat, reconstruction_codec, reconstruction_task
from jaxae.train import Task


@dataclass(frozen=True)
class AEConfig(ReconstructionConfig):
    """The chapter's standard autoencoder: 784-128-64-12-3, ReLU, linear code, Tanh output.

    It trains on MSE on [-1, 1] pixels with Adam (lr 1e-4, PyTorch-style L2 weight decay 1e-5).

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
    """A denoising MLP autoencoder: 784-512-128-64, sigmoid output on [0, 1] pixels, masking noise 0.3.

    It is AEConfig with other defaults (Adam lr 1e-3); every AE option applies.

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


def _functions(config: AEConfig):
    output = "tanh" if config.pixels == "symmetric" else "sigmoid"

    def module(params):  # the data width is read off the decoder's last layer
        n_features = params["decoder"][f"dense_{len(config.hidden)}"]["kernel"].shape[-1]
        return Autoencoder(n_features, config.hidden, config.latent, output)

    def init(key, x):
        return Autoencoder(flat(x).shape[-1], config.hidden, config.latent, output).init(key, flat(x))["params"]

    def forward(params, x):
        return module(params).apply({"params": params}, flat(x)).reshape(x.shape)

    def encode(params, x):
        return module(params).apply({"params": params}, flat(x), method=Autoencoder.encode)

    def decode(params, z):
        return module(params).apply({"params": params}, z, method=Autoencoder.decode)

    return init, forward, encode, decode


def task(config: AEConfig = AEConfig()) -> Task:
    """The trainer's Task for an MLP autoencoder with MSE loss (denoising when config.noise is set)."""
    init, forward, _, _ = _functions(config)
    return reconstruction_task("dae" if config.noise != "none" else "ae", config, init, forward,
                               spec=spec("dae" if isinstance(config, DAEConfig) else "ae", config))


def offers(config: AEConfig = AEConfig()) -> Offers:
    """A latent codec (and, for a denoising model, its corruption)."""
    _, forward, encode, decode = _functions(config)
    return Offers(codec=reconstruction_codec(config, config.latent, encode, decode, forward))
