"""`jaxae train dbm-classifier` (= `jaxae finetune dbm --as classifier --pretrained WORKDIR`): a trained DBM
turned into a feed-forward classifier as in Salakhutdinov & Hinton 2009, section 4.

Each image v is augmented with its mean-field posterior q(h2 | v) under the DBM (the top layer's means;
computed once per image, with the DBM frozen). The network is the DBM's own weights, untied:
h1 = sigmoid(v W1 + q(h2) W2_down^T + b1), h2 = sigmoid(h1 W2 + b2) for two hidden layers (every layer l
below the top also gets the upper neighbour's mean-field input through its own copy of W_{l+1}), then a
softmax layer on the top layer, all fine-tuned by backprop on the cross-entropy. The parameters keep the
frozen DBM, so a trained classifier labels new images by itself (`Classifier.predict`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxae.data.dataset import Dataset, images_of, with_labels
from jaxae.data.transforms import to_unit
from jaxae.errors import CheckpointError, ConfigError
from jaxae.estimators import from_loss
from jaxae.optim import linear_decay
from jaxae.rbm import dbm
from jaxae.tasks import dbm as dbm_task
from jaxae.tasks.offers import Classifier, Offers, spec
from jaxae.train import RunDir, Task, state_shapes


@dataclass(frozen=True)
class ClassifierConfig:
    """A trained DBM fine-tuned as a classifier on mean-field-augmented inputs (grey pixels in [0, 1]).

    Attributes:
      pretrained: the --workdir of `jaxae train dbm` (its joint/ run is used).
      classes: output classes.
      mean_field_updates: mean-field updates for q(h | v) of each image (from the doubled bottom-up pass).
      learning_rate: SGD step size.
      lr_decay_steps: with > 0, the learning rate falls linearly to final_learning_rate over this many
        steps (600 per epoch on MNIST at batch 100; 0: constant).
      final_learning_rate: the learning rate at the end of the decay.
      momentum: SGD momentum.
      weight_decay: L2 coefficient on the weights (added to the gradient).
    """

    pretrained: str = ""
    classes: int = 10
    mean_field_updates: int = 30
    learning_rate: float = 0.1
    lr_decay_steps: int = 0
    final_learning_rate: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.classes < 2 or self.learning_rate <= 0 or self.weight_decay < 0 or self.mean_field_updates < 1:
            raise ConfigError("need classes >= 2, learning_rate > 0, weight_decay >= 0 and mean_field_updates >= 1")
        if self.lr_decay_steps < 0 or self.final_learning_rate < 0:
            raise ConfigError("lr_decay_steps and final_learning_rate must be >= 0")


def load_dbm(workdir: str, n_visible: int) -> dbm.DBMParams:
    """The jointly trained DBM of a `jaxae train dbm` workdir (its joint/ run's newest checkpoint), for
    data of n_visible pixels."""
    folder = os.path.join(workdir, "joint")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise CheckpointError(f"{workdir} holds no joint/ run of a DBM; pass the --workdir of jaxae train dbm")
    run = RunDir(folder)
    stored = run.read_config()
    if stored.get("model_name") != "dbm":
        raise CheckpointError(f"{folder} holds a {stored.get('model_name')!r} run, not a DBM")
    config = dbm_task.DBMConfig(**{**stored["model"], "layers": tuple(stored["model"]["layers"]),
                                   "pretrain_epochs": tuple(stored["model"]["pretrain_epochs"])})
    target = state_shapes(dbm_task.task(config), stored["train"]["seed"], np.zeros((2, n_visible), np.float32))
    restored = run.checkpointer().restore_latest(target)
    if restored is None:
        raise CheckpointError(f"{folder} has no checkpoint yet; train the DBM first (jaxae train dbm)")
    return restored[1].params


def init_network(key: jax.Array, params: dbm.DBMParams, classes: int) -> dict:
    """The classifier's trainable weights from a DBM: {"up": [W_l], "down": [W_{l+1} copies], "bias": [b_l],
    "out": {"kernel", "bias"}} (the softmax layer small and random)."""
    top = params.weights[-1].shape[1]
    net = {"up": list(params.weights), "down": list(params.weights[1:]), "bias": list(params.biases[1:]),
           "out": {"kernel": 0.01 * jax.random.normal(key, (top, classes)), "bias": jnp.zeros((classes,))}}
    return jax.tree.map(jnp.copy, net)  # own buffers: the DBM's and the untied copies are updated apart


def augment(params: dbm.DBMParams, v: jax.Array, mean_field_updates: int) -> tuple[jax.Array, ...]:
    """The mean-field inputs of the network: q(h_l | v) of layers 2..L (the upper neighbours)."""
    return dbm.mean_field(params, v, mean_field_updates)[1:]


def logits(net: dict, v: jax.Array, q: tuple[jax.Array, ...]) -> jax.Array:
    """The network: each hidden layer from the one below and (but the top) the mean field of the one above."""
    h = v
    for l, (W, b) in enumerate(zip(net["up"], net["bias"])):
        a = h @ W + b
        if l < len(net["down"]):
            a = a + q[l] @ net["down"][l].T
        h = jax.nn.sigmoid(a)
    return h @ net["out"]["kernel"] + net["out"]["bias"]


def _augmented(params: dbm.DBMParams, images, updates: int, batch: int = 1000) -> list[np.ndarray]:
    f = jax.jit(lambda v: augment(params, v, updates))
    v = np.asarray(to_unit(np.asarray(images)), np.float32).reshape(len(images), -1)
    parts = [f(v[i:i + batch]) for i in range(0, len(v), batch)]
    return [np.concatenate([np.asarray(p[l]) for p in parts]) for l in range(params.depth - 1)]


def task(config: ClassifierConfig) -> Task:
    """The trainer's Task; the DBM is loaded from config.pretrained and each image's mean field computed once."""
    if not config.pretrained:
        raise ConfigError("a DBM classifier starts from a trained DBM: pass --pretrained WORKDIR (the --workdir of "
                          "jaxae train dbm)")
    dbm_of: dict = {}  # the frozen DBM, loaded once the data (and so its pixel count) are known

    def adapt(data: Dataset) -> Dataset:
        labelled = with_labels(data)
        n_visible = int(np.prod(images_of(data.train_images).shape[1:]))
        frozen = dbm_of.setdefault("params", load_dbm(config.pretrained, n_visible))

        def add(part):
            return {**part, "q": _augmented(frozen, images_of(part["image"]), config.mean_field_updates)}

        return labelled._replace(train_images=add(labelled.train_images), test_images=add(labelled.test_images))

    def split(batch):
        images = batch["image"]
        return to_unit(images).reshape(images.shape[0], -1), tuple(batch["q"]), batch["label"]

    def init(key, batch):
        if "params" not in dbm_of:
            dbm_of["params"] = load_dbm(config.pretrained, batch[0].shape[1])
        return {"net": init_network(key, dbm_of["params"], config.classes), "dbm": jax.tree.map(jnp.copy, dbm_of["params"])}

    def loss_fn(key, params, batch):
        v, q, y = batch
        out = logits(params["net"], v, q)
        loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, y))
        return loss, {"error": jnp.mean(jnp.argmax(out, -1) != y)}

    def evaluate(key, params, batch):
        v, q, y = batch
        out = logits(params["net"], v, q)
        return {"error": (jnp.argmax(out, -1) != y).astype(jnp.float32),
                "nll": optax.softmax_cross_entropy_with_integer_labels(out, y)}

    def labels(params):
        return {"net": jax.tree.map(lambda _: "train", params["net"]),
                "dbm": jax.tree.map(lambda _: "frozen", params["dbm"])}

    learning_rate = linear_decay(config.learning_rate, config.lr_decay_steps, config.final_learning_rate)
    sgd = optax.sgd(learning_rate, momentum=config.momentum or None)
    if config.weight_decay:
        sgd = optax.chain(optax.add_decayed_weights(config.weight_decay), sgd)
    optimizer = optax.multi_transform({"train": sgd, "frozen": optax.set_to_zero()}, labels)
    return Task(name="dbm-classifier", init=init, estimator=from_loss(loss_fn), optimizer=optimizer,
                preprocess=lambda key, batch: split(batch), evaluate=evaluate, adapt_data=adapt,
                spec=spec("dbm-classifier", config), learning_rate=learning_rate,
                compile_init=False)  # the documented results' op-by-op init (see Task)


def offers(config: ClassifierConfig) -> Offers:
    """Class predictions for images (n, n_pixels) in [0, 1], with the mean field of the frozen DBM."""

    def predict(params, images):
        v = images.reshape(images.shape[0], -1)
        return jnp.argmax(logits(params["net"], v, augment(params["dbm"], v, config.mean_field_updates)), -1)

    return Offers(classifier=Classifier(predict))


__all__ = ["ClassifierConfig", "augment", "init_network", "load_dbm", "logits", "offers", "task"]
