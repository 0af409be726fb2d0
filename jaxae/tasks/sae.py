"""`jaxae train sae`: a sparse autoencoder (ReLU + L1, TopK, BatchTopK, JumpReLU, Matryoshka BatchTopK)
on activation vectors (a shard set of `(d,)` floats) or on flattened images (jaxae.sae holds the math)."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxae import sae
from jaxae.errors import ConfigError
from jaxae.tasks.offers import Dictionary, Offers, spec
from jaxae.train import Task

ARCHS = ("relu", "topk", "batchtopk", "jumprelu", "matryoshka")
B_DEC_INITS = ("geometric-median", "mean", "zeros")


@dataclass(frozen=True)
class SAEConfig:
    """A sparse autoencoder with `width` latents; the defaults are SAELens's where it has one.

    Attributes:
      arch: relu (L1 penalty), topk, batchtopk, jumprelu, or matryoshka (BatchTopK with nested losses).
      width: number of latents.
      k: latents per example (topk; the batch average for batchtopk and matryoshka).
      learning_rate: Adam step size (betas 0.9, 0.999).
      aux_coefficient: weight of the AuxK loss on dead latents (topk, batchtopk, matryoshka; 0: off).
      dead_window: steps without firing after which a latent counts as dead.
      l1_coefficient: the L1 penalty's weight (relu).
      l0_coefficient: the L0 penalty's weight (jumprelu).
      target_l0: jumprelu: 0 penalises the mean L0; > 0 the quadratic penalty around this L0.
      bandwidth: the straight-through kernel's width (jumprelu).
      initial_threshold: the threshold every latent starts at (jumprelu).
      threshold_decay: the running BatchTopK threshold's EMA decay (batchtopk, matryoshka).
      matryoshka_widths: the nested prefix widths, the last being width (empty: width/8, /4, /2, 1).
      b_dec_init: geometric-median (of the init sample), mean, or zeros.
      scale: inputs are multiplied by this before the SAE sees them (activation normalisation).
    """

    arch: str = "topk"
    width: int = 1024
    k: int = 32
    learning_rate: float = 3e-4
    aux_coefficient: float = 1.0
    dead_window: int = 1000
    l1_coefficient: float = 5.0
    l0_coefficient: float = 1.0
    target_l0: float = 0.0
    bandwidth: float = 0.05
    initial_threshold: float = 0.01
    threshold_decay: float = 0.99
    matryoshka_widths: Sequence[int] = ()
    b_dec_init: str = "geometric-median"
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "matryoshka_widths", tuple(int(w) for w in self.matryoshka_widths))
        checks = [
            (self.arch in ARCHS, f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}"),
            (self.width >= 1 and 1 <= self.k <= self.width, f"need 1 <= k <= width, got k={self.k} width={self.width}"),
            (self.learning_rate > 0 and self.scale > 0, "learning_rate and scale must be > 0"),
            (min(self.aux_coefficient, self.l1_coefficient, self.l0_coefficient, self.target_l0) >= 0,
             "the loss coefficients and target_l0 must be >= 0"),
            (self.bandwidth > 0 and self.initial_threshold >= 0, "bandwidth must be > 0 and initial_threshold >= 0"),
            (self.dead_window >= 1, f"dead_window must be >= 1 step, got {self.dead_window}"),
            (0 <= self.threshold_decay < 1, f"threshold_decay must be in [0, 1), got {self.threshold_decay}"),
            (self.b_dec_init in B_DEC_INITS, f"b_dec_init must be one of {', '.join(B_DEC_INITS)}, got {self.b_dec_init!r}"),
            (not self.matryoshka_widths or self.matryoshka_widths[-1] == self.width,
             f"the last matryoshka width must be the SAE's width {self.width}, got {list(self.matryoshka_widths)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def widths(config: SAEConfig) -> tuple[int, ...]:
    """The Matryoshka prefix widths (config's, or width/8, /4, /2 and width)."""
    if config.matryoshka_widths:
        return tuple(config.matryoshka_widths)
    return tuple(sorted({max(config.width // 8, 1), max(config.width // 4, 1), max(config.width // 2, 1), config.width}))


def loss_fn(config: SAEConfig):
    """`loss(params, x, dead) -> (objective, (SAEOutput, metrics))` for config's architecture."""
    return {  # AuxK is added by the estimator (see aux_fn), only in steps with dead latents
        "relu": functools.partial(sae.l1_loss, l1_coefficient=config.l1_coefficient),
        "topk": functools.partial(sae.topk_loss, k=config.k, aux_coefficient=0.0),
        "batchtopk": functools.partial(sae.batch_topk_loss, k=config.k, aux_coefficient=0.0),
        "matryoshka": functools.partial(sae.matryoshka_loss, k=config.k, widths=widths(config), aux_coefficient=0.0),
        "jumprelu": functools.partial(sae.jumprelu_loss, l0_coefficient=config.l0_coefficient,
                                      bandwidth=config.bandwidth, target_l0=config.target_l0 or None),
    }[config.arch]


def aux_fn(config: SAEConfig):
    """The weighted AuxK term for the estimator, or None (relu, jumprelu, or aux_coefficient 0)."""
    if config.arch in ("relu", "jumprelu") or not config.aux_coefficient:
        return None
    coefficient = config.aux_coefficient

    def aux(params, x, recon, dead):
        return coefficient * sae.auxk_loss(params, x, recon, dead)

    return aux


def encode(config: SAEConfig):
    """`encode(params, x) -> (batch, width)` at inference: BatchTopK and Matryoshka use the running
    threshold (a JumpReLU), the others their training encoder."""
    if config.arch == "relu":
        return sae.relu
    if config.arch == "topk":
        return functools.partial(sae.topk, k=config.k)
    return functools.partial(sae.jumprelu, bandwidth=config.bandwidth)


def optimizer(config: SAEConfig):
    threshold = {"jumprelu": "learnt", "batchtopk": "running", "matryoshka": "running"}.get(config.arch, "fixed")
    return sae.optimizer(config.learning_rate, threshold, config.threshold_decay)


def _inputs(config: SAEConfig, raw) -> jax.Array:
    """(batch, ...) activations (any float) or uint8 pixels -> (batch, d) float32, times config.scale."""
    x = jnp.reshape(raw, (raw.shape[0], -1)).astype(jnp.float32)
    if raw.dtype == jnp.uint8:
        x = x / 255.0
    return x * config.scale


def task(config: SAEConfig = SAEConfig()) -> Task:
    """The trainer's Task for a sparse autoencoder (see SAEConfig)."""
    encoder = encode(config)

    def preprocess(key, raw):
        del key
        return _inputs(config, raw)

    def init(key, x):
        _, d = x.shape
        b_dec = {"geometric-median": sae.geometric_median, "mean": lambda s: jnp.mean(s, axis=0),
                 "zeros": lambda s: jnp.zeros((d,), jnp.float32)}[config.b_dec_init](x)
        threshold = config.initial_threshold if config.arch == "jumprelu" else 0.0
        return sae.init(key, d, config.width, b_dec=b_dec, threshold=threshold)

    def evaluate(key, params, x):
        del key
        batch, _ = x.shape
        acts = encoder(params, x)
        recon = sae.decode(params, acts)
        centred = jnp.sum(jnp.square(x - jnp.mean(x, axis=0)), axis=-1) * (batch / max(batch - 1, 1))
        return {"mse": sae.squared_error(x, recon), "l0": sae.metrics.l0(acts), "cosine": sae.metrics.cosine(x, recon),
                "shrinkage": sae.metrics.shrinkage(x, recon), "variance": centred}

    def summarize(means):
        return {"explained_variance": 1.0 - means["mse"] / means["variance"]}

    return Task(
        name="sae",
        init=init,
        estimator=sae.estimator(loss_fn(config), config.dead_window, aux_fn(config)),
        optimizer=optimizer(config),
        preprocess=preprocess,
        evaluate=evaluate,
        summarize=summarize,
        spec=spec("sae", config),
        learning_rate=config.learning_rate,
        compile_init=False,  # the documented results' op-by-op init (see Task)
    )


def offers(config: SAEConfig = SAEConfig()) -> Offers:
    """The dictionary (atoms and the inference encoder) and the latents as a layer for `jaxae activations`."""
    encoder = encode(config)

    def atoms(params):
        return params.W_dec

    def latents(params, x):
        return encoder(params, x)

    return Offers(dictionary=Dictionary(atoms=atoms, encode=latents), layers={"latents": latents})
