"""Deep belief networks: a stack of RBMs trained greedily, layer by layer (Hinton, Osindero & Teh 2006).

Layer 1 is an RBM on the (binarized) pixels; layer i + 1 is an RBM on layer i's hidden probabilities
(or samples of them) for the training set. Each layer is an ordinary `fit` run with its own folder
(`WORKDIR/layer_1`, `layer_2`, ...) and checkpoints, so an interrupted stack resumes at the layer and
epoch where it stopped. `up` is the deterministic bottom-up pass; `unroll` turns the stack into the
parameters of a Flax MLP that computes exactly that pass (the start of fine-tuning).

Status: greedy pretraining, the bottom-up pass, the unrolled network and its fine-tuning as a
classifier (`classifier_task`). The deep autoencoder and generation are not built yet.
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
      binarize: how the bottom layer binarizes pixels: "static" (threshold 0.5) or "dynamic".
      upper_data: what the upper layers train on: "probabilities" of the layer below, or "samples"
        of them (a fresh Bernoulli draw each step).
    """

    layers: tuple[int, ...] = (500, 500, 2000)
    k: int = 1
    learning_rate: float = 0.05
    weight_decay: float = 2e-4
    binarize: str = "static"
    upper_data: str = "probabilities"

    def __post_init__(self):
        if not self.layers or any(int(n) < 1 for n in self.layers):
            raise ConfigError(f"--layers needs one or more positive sizes, bottom up (e.g. 500,500,2000); "
                              f"got {','.join(map(str, self.layers)) or 'nothing'}")
        if self.upper_data not in ("probabilities", "samples"):
            raise ConfigError(f"upper_data must be probabilities or samples, got {self.upper_data!r}")
        if self.binarize not in ("static", "dynamic"):
            raise ConfigError(f"binarize must be static or dynamic, got {self.binarize!r}")

    def layer(self, i: int) -> rbm.RBMConfig:
        """The RBMConfig of layer i (0 = bottom)."""
        data = self.binarize if i == 0 else ("probabilities" if self.upper_data == "probabilities" else "dynamic")
        return rbm.RBMConfig(n_hidden=int(self.layers[i]), k=self.k, learning_rate=self.learning_rate,
                             weight_decay=self.weight_decay, binarize=data)


def up(stack: list[rbm.RBMParams], v: jax.Array) -> list[jax.Array]:
    """The bottom-up pass: the hidden probabilities of every layer for v (batch, n_visible) in [0, 1]."""
    out = []
    for params in stack:
        v = jax.nn.sigmoid(rbm.hidden_logits(params, v))
        out.append(v)
    return out


def _features(stack, images, batch: int = 2000) -> np.ndarray:
    """Top-layer probabilities of `stack` for preprocessed inputs, in batches (host float32)."""
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

    stack = []
    layer_data = data
    for i in range(len(config.layers)):
        layer = config.layer(i)
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
            layer_data = Dataset(train_x, data.train_labels, test_x, data.test_labels, f"{data.name}/layer_{i + 1}")
    return stack


def unroll(stack: list[rbm.RBMParams]) -> dict:
    """Parameters of `jaxae.nn.MLP(features=[sizes], activation=sigmoid, final_activation=sigmoid)`
    whose output equals `up(stack, v)[-1]` (add a classifier layer on top to fine-tune)."""
    return {"params": {f"dense_{i}": {"kernel": p.W, "bias": p.b_hid} for i, p in enumerate(stack)}}


# --- fine-tuning as a classifier ---------------------------------------------------------------


def load_stack(workdir: str) -> list[rbm.RBMParams]:
    """The pretrained RBMs of a `pretrain` workdir (newest intact checkpoint of each layer_i)."""
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
        stack.append(restored[1].params)
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
      momentum: SGD momentum.
      weight_decay: L2 coefficient on the weights (added to the gradient).
    """

    layers: tuple[int, ...] = (500, 500, 2000)
    pretrained: str = ""
    classes: int = 10
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self):
        DBNConfig(layers=self.layers)  # the same checks
        if self.classes < 2 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("need classes >= 2, learning_rate > 0 and weight_decay >= 0")


def with_labels(dataset):
    """The trainer's batches are rows of one array: append each label as a last column (n, pixels + 1)."""
    from jaxae.data.dataset import Dataset

    def pack(images, labels):
        flat = images.reshape(len(images), -1)
        return np.concatenate([flat, np.asarray(labels).astype(flat.dtype)[:, None]], axis=1)

    return Dataset(pack(dataset.train_images, dataset.train_labels), dataset.train_labels,
                   pack(dataset.test_images, dataset.test_labels), dataset.test_labels, dataset.name)


def classifier_task(config: ClassifierConfig = ClassifierConfig()):
    """The trainer's Task: pixels binarized at 0.5 (as in pretraining) -> sigmoid MLP -> softmax."""
    import optax

    from jaxae.data.transforms import binarize
    from jaxae.estimators import from_loss
    from jaxae.nn import MLP
    from jaxae.train.state import Task

    stack = load_stack(config.pretrained) if config.pretrained else None
    if stack is not None and tuple(p.W.shape[1] for p in stack) != tuple(config.layers):
        raise ConfigError(f"--layers {','.join(map(str, config.layers))} does not match the pretrained stack in "
                          f"{config.pretrained} ({','.join(str(p.W.shape[1]) for p in stack)})")
    model = MLP(features=(*config.layers, config.classes), activation=jax.nn.sigmoid)

    def split(raw):
        return binarize(raw[:, :-1]), raw[:, -1].astype(jnp.int32)

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

    optimizer = optax.sgd(config.learning_rate, momentum=config.momentum or None)
    if config.weight_decay:
        optimizer = optax.chain(optax.add_decayed_weights(config.weight_decay), optimizer)
    return Task(name="dbn-classifier", init=init, estimator=from_loss(loss_fn), optimizer=optimizer,
                preprocess=lambda key, raw: split(raw), evaluate=evaluate, adapt_data=with_labels)
