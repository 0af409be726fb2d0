"""`jaxae train dbn-classifier` and `dbn-autoencoder` (= `jaxae finetune dbn --as classifier|autoencoder`):
a pretrained DBN unrolled into a feed-forward network and fine-tuned by backprop."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from jaxae import rbm
from jaxae.data.dataset import with_labels
from jaxae.data.transforms import binarize, to_unit
from jaxae.errors import ConfigError
from jaxae.estimators import from_loss
from jaxae.nn import MLP
from jaxae.optim import linear_decay
from jaxae.tasks.dbn import DBNConfig, bottom_layer, load_stack
from jaxae.tasks.offers import Classifier, Codec, Offers, spec
from jaxae.train import Task


@dataclass(frozen=True)
class ClassifierConfig:
    """A DBN unrolled into an MLP with a 10-way softmax on top, fine-tuned by backprop (the chapter's
    "feed-forward network for fine-tuning"), or the same MLP from random initialisation.

    Attributes:
      layers: hidden sizes, bottom up; must match the pretrained stack.
      pretrained: the --workdir of `jaxae train dbn` to start from; empty: random initialisation.
      classes: output classes.
      learning_rate: SGD step size.
      lr_decay_steps: with > 0, the learning rate falls linearly to final_learning_rate over this many
        steps (600 per epoch on MNIST at batch 100; 0: constant).
      final_learning_rate: the learning rate at the end of the decay.
      momentum: SGD momentum.
      weight_decay: L2 coefficient on the weights (added to the gradient).
      pixels: "auto" (what the pretrained stack's bottom layer saw; thresholded at 0.5 without a
        stack), "grey" (values in [0, 1]) or "binary" (thresholded at 0.5).
    """

    layers: tuple[int, ...] = (500, 500, 2000)
    pretrained: str = ""
    classes: int = 10
    learning_rate: float = 0.1
    lr_decay_steps: int = 0
    final_learning_rate: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    pixels: str = "auto"

    def __post_init__(self):
        DBNConfig(layers=self.layers)  # the same checks
        if self.pixels not in ("auto", "grey", "binary"):
            raise ConfigError(f"pixels must be auto, grey or binary, got {self.pixels!r}")
        if self.classes < 2 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("need classes >= 2, learning_rate > 0 and weight_decay >= 0")
        if self.lr_decay_steps < 0 or self.final_learning_rate < 0:
            raise ConfigError("lr_decay_steps and final_learning_rate must be >= 0")


def classifier_task(config: ClassifierConfig = ClassifierConfig()):
    """The trainer's Task: pixels binarized at 0.5 (grey levels for a stack pretrained on
    probabilities) -> sigmoid MLP -> softmax."""
    stack, pixels = _pretrained(config.pretrained, config.layers)
    if stack is not None and stack[-1].units.hidden != "bernoulli":
        raise ConfigError(f"{config.pretrained} has a linear (gaussian) code layer: fine-tune it as an autoencoder")
    model, pixels = _classifier(config, pixels)

    def split(batch):  # {"image": (n, h, w) or (n, pixels), "label": (n,) int32}, see jaxae.data.with_labels
        images = batch["image"]
        return pixels(images.reshape(images.shape[0], -1)), batch["label"]

    def init(key, batch):
        params = model.init(key, batch[0])
        if stack is not None:
            pretrained = rbm.dbn.unroll(stack)["params"]
            params = {"params": {**params["params"], **pretrained}}
        return params

    def loss_fn(key, params, batch):
        x, y = batch
        logits = model.apply(params, x)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
        return loss, {"error": jnp.mean(jnp.argmax(logits, -1) != y)}

    def evaluate(key, params, batch):
        x, y = batch
        logits = model.apply(params, x)
        return {"error": (jnp.argmax(logits, -1) != y).astype(jnp.float32),
                "nll": optax.softmax_cross_entropy_with_integer_labels(logits, y)}

    learning_rate = linear_decay(config.learning_rate, config.lr_decay_steps, config.final_learning_rate)
    optimizer = optax.sgd(learning_rate, momentum=config.momentum or None)
    if config.weight_decay:
        optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay), optimizer)
    return Task(name="dbn-classifier", init=init, estimator=from_loss(loss_fn), optimizer=optimizer,
                preprocess=lambda key, batch: split(batch), evaluate=evaluate, adapt_data=with_labels,
                spec=spec("dbn-classifier", config), learning_rate=learning_rate)


def _classifier(config: ClassifierConfig, pixels: Callable):
    """The MLP and the pixel transform (`pixels` unless config.pixels says otherwise)."""
    if config.pixels != "auto":
        pixels = to_unit if config.pixels == "grey" else binarize
    return MLP(features=(*config.layers, config.classes), activation=jax.nn.sigmoid), pixels


def classifier_offers(config: ClassifierConfig = ClassifierConfig()) -> Offers:
    """Class predictions for images (n, n_pixels) in [0, 1]."""
    _, pixels = _pretrained(config.pretrained, config.layers, load=False)
    model, pixels = _classifier(config, pixels)

    def predict(params, images):
        return jnp.argmax(model.apply(params, pixels(images)), axis=-1)

    def hidden(i):  # the i-th hidden layer's sigmoid units (1-based), from a preprocessed batch (pixels, labels)
        def layer(params, batch):
            h, _ = batch
            for j in range(i):
                dense = params["params"][f"dense_{j}"]
                h = jax.nn.sigmoid(h @ dense["kernel"] + dense["bias"])
            return h

        return layer

    layers = {f"hidden{i}": hidden(i) for i in range(1, len(config.layers) + 1)}
    return Offers(classifier=Classifier(predict), layers=layers)


def _pretrained(workdir: str, layers, load: bool = True) -> tuple[list[rbm.RBMParams] | None, Callable]:
    """The stack in `workdir` (None for "", or without `load`) checked against --layers, and the pixel
    transform its bottom layer was trained with (threshold 0.5, or grey levels for binarize=probabilities)."""
    if not workdir:
        return None, binarize
    pixels = to_unit if bottom_layer(workdir).binarize == "probabilities" else binarize
    if not load:
        return None, pixels
    stack = load_stack(workdir)
    if tuple(p.W.shape[1] for p in stack) != tuple(layers):
        raise ConfigError(f"--layers {','.join(map(str, layers))} does not match the pretrained stack in "
                          f"{workdir} ({','.join(str(p.W.shape[1]) for p in stack)})")
    return stack, pixels


# --- fine-tuning as a deep autoencoder -----------------------------------------------------------


@dataclass(frozen=True)
class AutoencoderConfig:
    """A DBN unrolled into a deep autoencoder (Hinton & Salakhutdinov 2006): the encoder is the
    bottom-up pass, the decoder the transposed stack, fine-tuned on the pixels' cross-entropy with
    Adam; or the same network from random initialisation.

    Attributes:
      layers: encoder sizes bottom up, the last being the code; must match the pretrained stack.
      pretrained: the --workdir of `jaxae train dbn` to start from; empty: random initialisation.
      code: the code layer's units when not pretrained: "gaussian" (linear) or "bernoulli" (sigmoid);
        a pretrained stack must agree.
      learning_rate: Adam step size.
      lr_decay_steps: with > 0, the learning rate falls linearly to final_learning_rate over this many
        steps (0: constant).
      final_learning_rate: the learning rate at the end of the decay.
    """

    layers: tuple[int, ...] = (1000, 500, 250, 30)
    pretrained: str = ""
    code: str = "gaussian"
    learning_rate: float = 1e-3
    lr_decay_steps: int = 0
    final_learning_rate: float = 0.0

    def __post_init__(self):
        DBNConfig(layers=self.layers, code=self.code)  # the same checks
        if self.learning_rate <= 0 or self.lr_decay_steps < 0 or self.final_learning_rate < 0:
            raise ConfigError("need learning_rate > 0, lr_decay_steps >= 0 and final_learning_rate >= 0")


def autoencoder_task(config: AutoencoderConfig = AutoencoderConfig()):
    """The trainer's Task: grey pixels in [0, 1] -> sigmoid encoder -> code -> sigmoid decoder, loss the
    summed Bernoulli cross-entropy per image; metric "squared_error", the summed squared error per
    image that Hinton & Salakhutdinov report (compare it with `jaxae.pca` at the same code size)."""
    stack, _ = _pretrained(config.pretrained, config.layers)
    if stack is not None and stack[-1].units.hidden != config.code:
        raise ConfigError(f"the stack in {config.pretrained} has a {stack[-1].units.hidden} code layer but --code "
                          f"is {config.code}; pass --code {stack[-1].units.hidden}")
    encoder, decoder, encode, logits, _ = _autoencoder(config)

    def init(key, x):
        k_enc, k_dec = jax.random.split(key)
        if stack is not None:
            return {"encoder": rbm.dbn.unroll(stack), "decoder": rbm.dbn.unroll_decoder(stack)}
        z = encoder.init(k_enc, x)
        return {"encoder": z, "decoder": decoder(x.shape[1]).init(k_dec, jnp.zeros((1, config.layers[-1])))}

    def per_image(params, x):
        out = logits(params, x)
        return (jnp.sum(optax.sigmoid_binary_cross_entropy(out, x), axis=-1),
                jnp.sum((jax.nn.sigmoid(out) - x) ** 2, axis=-1))

    def loss_fn(key, params, x):
        bce, squared = per_image(params, x)
        return jnp.mean(bce), {"squared_error": jnp.mean(squared)}

    def evaluate(key, params, x):
        bce, squared = per_image(params, x)
        return {"bce": bce, "squared_error": squared}

    def reconstruct(params, x):
        side = int(round(x.shape[1] ** 0.5))
        return jax.nn.sigmoid(logits(params, x)).reshape(x.shape[0], side, side)

    learning_rate = linear_decay(config.learning_rate, config.lr_decay_steps, config.final_learning_rate)
    return Task(name="dbn-autoencoder", init=init, estimator=from_loss(loss_fn), optimizer=optax.adam(learning_rate),
                preprocess=lambda key, raw: to_unit(raw).reshape(raw.shape[0], -1), evaluate=evaluate,
                reconstruct=reconstruct, spec=spec("dbn-autoencoder", config), learning_rate=learning_rate)


def _autoencoder(config: AutoencoderConfig):
    """The encoder MLP, the decoder MLP (by pixel count) and the functions encode(params, x),
    logits(params, x), decode(params, z). Without a pretrained stack, config.code gives the code units
    (a pretrained stack must agree, which task() checks)."""
    encoder = MLP(features=config.layers, activation=jax.nn.sigmoid,
                  final_activation=None if config.code == "gaussian" else jax.nn.sigmoid)

    def decoder(n_pixels):
        return MLP(features=(*config.layers[-2::-1], n_pixels), activation=jax.nn.sigmoid)

    def n_pixels(params):
        return params["decoder"]["params"][f"dense_{len(config.layers) - 1}"]["bias"].shape[0]

    def encode(params, x):
        return encoder.apply(params["encoder"], x)

    def logits(params, x):
        return decoder(n_pixels(params)).apply(params["decoder"], encode(params, x))

    def decode(params, z):
        return jax.nn.sigmoid(decoder(n_pixels(params)).apply(params["decoder"], z))

    return encoder, decoder, encode, logits, decode


def autoencoder_offers(config: AutoencoderConfig = AutoencoderConfig()) -> Offers:
    """A latent codec (the code layer), and the comparison with PCA at the same code size."""
    _, _, encode, logits, decode = _autoencoder(config)

    def reconstruct(params, x):
        return jax.nn.sigmoid(logits(params, x))

    return Offers(codec=Codec(latent=config.layers[-1], encode=encode, decode=decode, reconstruct=reconstruct),
                  pca_baseline=True)
