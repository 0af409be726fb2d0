"""Deep belief networks: a stack of RBMs trained greedily, layer by layer (Hinton, Osindero & Teh 2006).

Layer 1 is an RBM on the (binarized) pixels; layer i + 1 is an RBM on layer i's hidden probabilities
(or samples of them) for the training set. Each layer is an ordinary `fit` run with its own folder
(`WORKDIR/layer_1`, `layer_2`, ...) and checkpoints, so an interrupted stack resumes at the layer and
epoch where it stopped. `up` is the deterministic bottom-up pass; `unroll` turns the stack into the
parameters of a Flax MLP that computes exactly that pass (the start of fine-tuning).

The top layer may have Gaussian (linear) hidden units, the code layer of Hinton & Salakhutdinov's
(2006) deep autoencoder, and may join a one-hot label to its visible units (Hinton, Osindero & Teh
2006), so that `generate` draws digits of a chosen class. Fine-tuning: `classifier_task` (the unrolled
stack with a softmax on top) and `autoencoder_task` (the stack unrolled into encoder and decoder).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxae.errors import ConfigError
from jaxae.models import rbm


@dataclass(frozen=True)
class DBNConfig:
    """A stack of Bernoulli RBMs pretrained greedily (each layer with the RBM options below).

    Attributes:
      layers: hidden layer sizes from the bottom up, e.g. 500,500,2000.
      k: Gibbs sweeps of CD-k in every layer.
      learning_rate: SGD step size of every layer.
      weight_decay: L2 coefficient on W.
      binarize: how the bottom layer sees pixels: "static" (threshold 0.5), "dynamic" (a fresh
        Bernoulli draw each step) or "probabilities" (grey levels in [0, 1] as they are, as in Hinton &
        Salakhutdinov's autoencoder).
      upper_data: what the upper layers train on: "probabilities" of the layer below, or "samples"
        of them (a fresh Bernoulli draw each step).
      code: the top layer's hidden units: "bernoulli", or "gaussian" (linear units with unit-variance
        noise: a real-valued code for a deep autoencoder).
      top_learning_rate: the top layer's learning rate (0: learning_rate; linear code units need a
        small one, e.g. 0.001).
      labels: join a one-hot class label (a softmax group) to the top layer's visible units, so that
        the top RBM models images and labels together and `jaxae sample dbn` draws digits by class.
      top_k_final: with top_k_ramp_steps, the top RBM's Gibbs sweeps grow linearly from k to this (a
        top RBM that generates needs more than CD-1; 0: constant k).
      top_k_ramp_steps: steps over which the top layer's sweeps grow.
    """

    layers: tuple[int, ...] = (500, 500, 2000)
    k: int = 1
    learning_rate: float = 0.05
    weight_decay: float = 2e-4
    binarize: str = "static"
    upper_data: str = "probabilities"
    code: str = "bernoulli"
    top_learning_rate: float = 0.0
    labels: bool = False
    top_k_final: int = 0
    top_k_ramp_steps: int = 0

    def __post_init__(self):
        if not self.layers or any(int(n) < 1 for n in self.layers):
            raise ConfigError(f"--layers needs one or more positive sizes, bottom up (e.g. 500,500,2000); "
                              f"got {','.join(map(str, self.layers)) or 'nothing'}")
        if self.upper_data not in ("probabilities", "samples"):
            raise ConfigError(f"upper_data must be probabilities or samples, got {self.upper_data!r}")
        if self.binarize not in ("static", "dynamic", "probabilities"):
            raise ConfigError(f"binarize must be static, dynamic or probabilities, got {self.binarize!r}")
        if self.code not in rbm.HIDDEN:
            raise ConfigError(f"code must be bernoulli or gaussian, got {self.code!r}")
        if self.top_learning_rate < 0:
            raise ConfigError(f"top_learning_rate must be >= 0, got {self.top_learning_rate}")
        if self.top_k_final:
            self.layer(len(self.layers) - 1)  # the RBM's checks of the ramp
        if self.labels and len(self.layers) < 2:
            raise ConfigError("--labels joins the label to the top RBM's visible units, which needs at least two "
                              "layers (e.g. --layers 500,500,2000)")

    def layer(self, i: int, classes: int = 10) -> rbm.RBMConfig:
        """The RBMConfig of layer i (0 = bottom); the top layer gets `classes` label units with --labels."""
        top = i == len(self.layers) - 1
        data = self.binarize if i == 0 else ("probabilities" if self.upper_data == "probabilities" else "dynamic")
        return rbm.RBMConfig(n_hidden=int(self.layers[i]), k=self.k, weight_decay=self.weight_decay, binarize=data,
                             learning_rate=(self.top_learning_rate or self.learning_rate) if top else self.learning_rate,
                             hidden=self.code if top else "bernoulli", labels=classes if top and self.labels else 0,
                             k_final=self.top_k_final if top else 0, k_ramp_steps=self.top_k_ramp_steps if top else 0)


def recognition(params: rbm.RBMParams, n_inputs: int) -> rbm.RBMParams:
    """The layer without its label units (a top layer trained with --labels has n_inputs + classes
    visible units; the bottom-up pass and the unrolled networks see images only)."""
    return params._replace(W=params.W[:n_inputs], b_vis=params.b_vis[:n_inputs])


def up(stack: list[rbm.RBMParams], v: jax.Array, code: str = "bernoulli") -> list[jax.Array]:
    """The bottom-up pass: E[h | below] of every layer for v (batch, n_visible) in [0, 1] (hidden
    probabilities; the top layer's linear activations when code="gaussian"; label units ignored)."""
    out = []
    for i, params in enumerate(stack):
        kind = code if i == len(stack) - 1 else "bernoulli"
        v = rbm.hidden_mean(recognition(params, v.shape[1]), v, kind)
        out.append(v)
    return out


def down(stack: list[rbm.RBMParams], h: jax.Array) -> jax.Array:
    """The top-down generative pass from the top layer's *visible* units h (batch, below-top size, no
    labels) to pixel probabilities, through the lower layers' weights W^T and visible biases."""
    for params in reversed(stack[:-1]):
        h = jax.nn.sigmoid(rbm.visible_logits(params, h))
    return h


def generate(key: jax.Array, stack: list[rbm.RBMParams], n: int, labels: jax.Array | None = None,
             classes: int = 0, sweeps: int = 1000, code: str = "bernoulli") -> jax.Array:
    """Samples of a DBN (Hinton, Osindero & Teh 2006): alternating Gibbs sampling runs `sweeps` sweeps
    in the top RBM from random states, then the top-down pass turns the last p(pen | h_top) into pixel
    probabilities. With a top RBM trained with --labels (`classes` label units), the label units are
    clamped to one_hot(labels), so each sample is a digit of the chosen class.

    Args:
      key: PRNG key.
      stack: the pretrained RBMs, bottom first.
      n: how many samples.
      labels: (n,) int class of each sample, or None for a stack without label units.
      classes: the top RBM's label units (0 without labels).
      sweeps: Gibbs sweeps in the top RBM.
      code: the top RBM's hidden units ("gaussian" for a deep autoencoder's stack).

    Returns:
      (n, n_pixels) float32 pixel probabilities.
    """
    top = stack[-1]
    n_pen = top.W.shape[0] - classes
    below = stack[-2].W.shape[1] if len(stack) > 1 else stack[0].W.shape[0]
    if n_pen != below:
        raise ConfigError(f"the top RBM has {top.W.shape[0]} visible units but the layer below has {below} "
                          f"and {classes} label units were given; pass the stack's classes (0 without --labels)")
    if (labels is None) != (classes == 0):
        raise ConfigError("labels and classes go together: a stack trained with --labels needs a class per sample")
    clamp = jax.nn.one_hot(labels, classes) if classes else jnp.zeros((n, 0), jnp.float32)
    pen_params = recognition(top, n_pen)
    k0, k_run = jax.random.split(key)
    pen = jax.random.bernoulli(k0, 0.5, (n, n_pen)).astype(jnp.float32)

    def sweep(carry, i):
        pen, _ = carry
        k_h, k_v = jax.random.split(jax.random.fold_in(k_run, i))
        _, h = rbm.sample_hidden(k_h, top, jnp.concatenate([pen, clamp], axis=1), code)
        p_pen, pen = rbm.sample_visible(k_v, pen_params, h)
        return (pen, p_pen), None

    (_, p_pen), _ = jax.lax.scan(sweep, (pen, pen), jnp.arange(sweeps))
    return down(stack, p_pen) if len(stack) > 1 else p_pen


def _features(stack, images, batch: int = 2000) -> np.ndarray:
    """Top-layer probabilities of `stack` (Bernoulli layers) for preprocessed inputs, in batches (host float32)."""
    fn = jax.jit(lambda x: up(stack, x)[-1])
    return np.concatenate([np.asarray(fn(jnp.asarray(images[i : i + batch]))) for i in range(0, len(images), batch)])


def pretrain(config: DBNConfig, data, train, workdir: str | None = None, resume: bool = False,
             run_config: dict | None = None) -> list[rbm.RBMParams]:
    """Greedy layer-wise pretraining; returns the trained RBMs, bottom first.

    Args:
      config: the DBN.
      data: a Dataset of images (see jaxae.data).
      train: the TrainConfig of every layer.
      workdir: the stack's folder; layer i trains in WORKDIR/layer_i (None: keep nothing).
      resume: continue each layer from its newest checkpoint (finished layers are only restored).
    """
    from jaxae.data.dataset import Dataset
    from jaxae.train.loop import fit

    if train.n_models > 1:
        raise ConfigError("a DBN is pretrained one stack at a time; drop --seeds/--sweep (fine-tuning takes them)")
    stack = []
    layer_data = data
    classes = 0
    if config.labels:
        if data.train_labels is None or data.test_labels is None:
            raise ConfigError(f"--labels needs class labels, but {data.name} has none")
        classes = int(max(np.max(data.train_labels), np.max(data.test_labels))) + 1
    for i in range(len(config.layers)):
        layer = config.layer(i, classes)
        task = rbm.task(layer)
        if i > 0:  # no digit pictures of hidden features
            task = task._replace(reconstruct=None)
        folder = os.path.join(workdir, f"layer_{i + 1}") if workdir else None
        # each layer folder is an ordinary rbm run (`jaxae eval --run WORKDIR/layer_1 --ais` works)
        from dataclasses import asdict

        info = {**(run_config or {}), "model_name": "rbm", "model": asdict(layer), "dbn_layer": i + 1,
                "n_visible": int(np.prod(layer_data.train_images.shape[1:]))}
        if i > 0:
            info["data"] = f"{info.get('data', data.name)} (hidden probabilities of layer {i})"
        result = fit(task, layer_data, train, folder, resume=resume, run_config=info)
        stack.append(result.state.params)
        if i + 1 < len(config.layers):  # the next layer's data: this layer's hidden probabilities
            from jaxae.train.steps import eval_inputs

            def inputs(x, task=task, key=result.state.key, bottom=i == 0):
                if bottom:  # binarized pixels (one fixed draw for dynamic binarization)
                    return np.asarray(eval_inputs(task, key, jnp.asarray(x)))
                return np.asarray(x, np.float32).reshape(len(x), -1)  # probabilities: a deterministic pass

            train_x = _features([stack[-1]], inputs(layer_data.train_images))
            test_x = _features([stack[-1]], inputs(layer_data.test_images))
            if classes and i + 2 == len(config.layers):  # the top RBM sees [features, one-hot label]
                train_x, test_x = (np.concatenate([x, np.eye(classes, dtype=np.float32)[np.asarray(y)]], axis=1)
                                   for x, y in ((train_x, data.train_labels), (test_x, data.test_labels)))
            layer_data = Dataset(train_x, data.train_labels, test_x, data.test_labels, f"{data.name}/layer_{i + 1}")
    return stack


def unroll(stack: list[rbm.RBMParams]) -> dict:
    """Parameters of `jaxae.nn.MLP(features=[sizes], activation=sigmoid, final_activation=sigmoid)`
    (final_activation=None for a Gaussian code layer) whose output equals `up(stack, v)[-1]` (add a
    classifier layer on top to fine-tune). A top layer's label units are left out."""
    sizes = [stack[0].W.shape[0]] + [p.W.shape[1] for p in stack[:-1]]
    return {"params": {f"dense_{i}": {"kernel": p.W[:n], "bias": p.b_hid} for i, (p, n) in enumerate(zip(stack, sizes))}}


def unroll_decoder(stack: list[rbm.RBMParams]) -> dict:
    """Parameters of `MLP(features=[reversed sizes below the top, n_pixels], activation=sigmoid)` whose
    sigmoid output is the generative top-down pass from the code: layer j uses the transposed weights
    and the visible biases of RBM L - j (Hinton & Salakhutdinov 2006's unrolled decoder)."""
    sizes = [stack[0].W.shape[0]] + [p.W.shape[1] for p in stack[:-1]]
    layers = list(zip(stack, sizes))[::-1]
    return {"params": {f"dense_{j}": {"kernel": p.W[:n].T, "bias": p.b_vis[:n]} for j, (p, n) in enumerate(layers)}}


# --- fine-tuning as a classifier ---------------------------------------------------------------


def load_stack(workdir: str) -> list[rbm.RBMParams]:
    """The pretrained RBMs of a `pretrain` workdir (newest intact checkpoint of each layer_i); see
    `stack_configs` for their unit types."""
    return [params for params, _ in _load(workdir)]


def stack_configs(workdir: str) -> list[rbm.RBMConfig]:
    """The RBMConfig of each layer of a `pretrain` workdir, bottom first."""
    return [layer for _, layer in _load(workdir)]


def _load(workdir: str) -> list[tuple[rbm.RBMParams, rbm.RBMConfig]]:
    import json

    from jaxae.errors import CheckpointError
    from jaxae.train.checkpoint import Checkpointer
    from jaxae.train.state import init_state

    stack, i = [], 1
    while os.path.isdir(os.path.join(workdir, f"layer_{i}")):
        folder = os.path.join(workdir, f"layer_{i}")
        with open(os.path.join(folder, "config.json")) as f:
            stored = json.load(f)
        layer = rbm.RBMConfig(**stored["model"])
        shape = (2, stored["n_visible"])  # only the shapes of this target matter: the checkpoint fills it
        target = init_state(rbm.task(layer), stored["train"]["seed"], np.zeros(shape, np.float32))
        restored = Checkpointer(os.path.join(folder, "checkpoints")).restore_latest(target)
        if restored is None:
            raise CheckpointError(f"{folder} has no checkpoint; pretrain the DBN first (jaxae train dbn)")
        stack.append((restored[1].params, layer))
        i += 1
    if not stack:
        raise CheckpointError(f"{workdir} holds no DBN layers (layer_1, layer_2, ...); pass the --workdir of "
                              "jaxae train dbn")
    return stack


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


def with_labels(dataset):
    """The trainer's batches are rows of one array: append each label as a last column (n, pixels + 1)."""
    from jaxae.data.dataset import Dataset

    def pack(images, labels):
        flat = images.reshape(len(images), -1)
        return np.concatenate([flat, np.asarray(labels).astype(flat.dtype)[:, None]], axis=1)

    return Dataset(pack(dataset.train_images, dataset.train_labels), dataset.train_labels,
                   pack(dataset.test_images, dataset.test_labels), dataset.test_labels, dataset.name)


def classifier_task(config: ClassifierConfig = ClassifierConfig()):
    """The trainer's Task: pixels binarized at 0.5 (grey levels for a stack pretrained on
    probabilities) -> sigmoid MLP -> softmax."""
    import optax

    from jaxae.estimators import from_loss, linear_decay
    from jaxae.nn import MLP
    from jaxae.train.state import Task

    stack, pixels = _pretrained(config.pretrained, config.layers)
    if config.pixels != "auto":
        from jaxae.data.transforms import binarize, to_unit

        pixels = to_unit if config.pixels == "grey" else binarize
    if stack is not None and stack_configs(config.pretrained)[-1].hidden != "bernoulli":
        raise ConfigError(f"{config.pretrained} has a linear (gaussian) code layer: fine-tune it as an autoencoder")
    model = MLP(features=(*config.layers, config.classes), activation=jax.nn.sigmoid)

    def split(raw):
        return pixels(raw[:, :-1]), raw[:, -1].astype(jnp.int32)

    def init(key, batch):
        params = model.init(key, batch[0])
        if stack is not None:
            pretrained = unroll(stack)["params"]
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
                preprocess=lambda key, raw: split(raw), evaluate=evaluate, adapt_data=with_labels)


def _pretrained(workdir: str, layers) -> tuple[list[rbm.RBMParams] | None, callable]:
    """The stack in `workdir` (None for "") checked against --layers, and the pixel transform its
    bottom layer was trained with (threshold 0.5, or grey levels for binarize=probabilities)."""
    from jaxae.data.transforms import binarize, to_unit

    if not workdir:
        return None, binarize
    stack = load_stack(workdir)
    if tuple(p.W.shape[1] for p in stack) != tuple(layers):
        raise ConfigError(f"--layers {','.join(map(str, layers))} does not match the pretrained stack in "
                          f"{workdir} ({','.join(str(p.W.shape[1]) for p in stack)})")
    grey = stack_configs(workdir)[0].binarize == "probabilities"
    return stack, (to_unit if grey else binarize)


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
    import optax

    from jaxae.data.transforms import to_unit
    from jaxae.estimators import from_loss, linear_decay
    from jaxae.nn import MLP
    from jaxae.train.state import Codec, Task

    stack, _ = _pretrained(config.pretrained, config.layers)
    code = config.code
    if stack is not None:
        code = stack_configs(config.pretrained)[-1].hidden
        if code != config.code:
            raise ConfigError(f"the stack in {config.pretrained} has a {code} code layer but --code is "
                              f"{config.code}; pass --code {code}")
    encoder = MLP(features=config.layers, activation=jax.nn.sigmoid,
                  final_activation=None if code == "gaussian" else jax.nn.sigmoid)

    def decoder(n_pixels):
        return MLP(features=(*config.layers[-2::-1], n_pixels), activation=jax.nn.sigmoid)

    def init(key, x):
        k_enc, k_dec = jax.random.split(key)
        if stack is not None:
            return {"encoder": unroll(stack), "decoder": unroll_decoder(stack)}
        z = encoder.init(k_enc, x)
        return {"encoder": z, "decoder": decoder(x.shape[1]).init(k_dec, jnp.zeros((1, config.layers[-1])))}

    def encode(params, x):
        return encoder.apply(params["encoder"], x)

    def logits(params, x):
        n_pixels = params["decoder"]["params"][f"dense_{len(config.layers) - 1}"]["bias"].shape[0]
        return decoder(n_pixels).apply(params["decoder"], encode(params, x))

    def decode(params, z):
        n_pixels = params["decoder"]["params"][f"dense_{len(config.layers) - 1}"]["bias"].shape[0]
        return jax.nn.sigmoid(decoder(n_pixels).apply(params["decoder"], z))

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
                reconstruct=reconstruct, codec=Codec(latent=config.layers[-1], encode=encode, decode=decode))
