"""`jaxae train dbn`: greedy layer-wise pretraining of a deep belief network (Hinton, Osindero & Teh 2006).

Layer 1 is an RBM on the (binarized) pixels; layer i + 1 is an RBM on layer i's hidden probabilities
(or samples of them) for the training set. Each layer is an ordinary `rbm` run with its own folder
(`WORKDIR/layer_1`, `layer_2`, ...) and checkpoints, so an interrupted stack resumes at the layer and
epoch where it stopped, and `jaxae eval --run WORKDIR/layer_2` rebuilds that layer's data from the
layers below. The math of stacks (up, down, generate, unroll) is jaxae.rbm.dbn.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import data as jdata
from jaxae import rbm
from jaxae.data.dataset import Dataset
from jaxae.errors import CheckpointError, ConfigError
from jaxae.tasks import rbm as rbm_task
from jaxae.tasks.offers import Offers
from jaxae.train import RunDir, TrainConfig, fit, state_shapes, steps

_UPPER = re.compile(r" \(hidden probabilities of layer \d+\)$")


@dataclass(frozen=True)
class DBNConfig:
    """A stack of RBMs pretrained greedily, each layer an rbm run in WORKDIR/layer_N.

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

    def layer(self, i: int, classes: int = 10) -> rbm_task.RBMConfig:
        """The RBMConfig of layer i (0 = bottom); the top layer gets `classes` label units with --labels."""
        top = i == len(self.layers) - 1
        data = self.binarize if i == 0 else ("probabilities" if self.upper_data == "probabilities" else "dynamic")
        return rbm_task.RBMConfig(n_hidden=int(self.layers[i]), k=self.k, weight_decay=self.weight_decay,
                                  binarize=data,
                                  learning_rate=(self.top_learning_rate or self.learning_rate) if top else self.learning_rate,
                                  hidden=self.code if top else "bernoulli", labels=classes if top and self.labels else 0,
                                  k_final=self.top_k_final if top else 0, k_ramp_steps=self.top_k_ramp_steps if top else 0)


def _features(stack, images, batch: int = 2000) -> np.ndarray:
    """Top-layer E[h | v] of `stack` for preprocessed inputs, in batches (host float32)."""
    fn = jax.jit(lambda x: rbm.dbn.up(stack, x)[-1])
    return np.concatenate([np.asarray(fn(jnp.asarray(images[i : i + batch]))) for i in range(0, len(images), batch)])


def next_layer_data(layer: rbm_task.RBMConfig, params: rbm.RBMParams, key: jax.Array, layer_data: Dataset,
                    bottom: bool, labels: int, base: Dataset, name: str) -> Dataset:
    """The data of the layer above: this layer's hidden probabilities for the training and test inputs
    (the bottom layer's inputs preprocessed as it saw them, one fixed draw for dynamic binarization,
    with the run's root `key`), with the base data's one-hot labels appended when the layer above has
    `labels` label units."""
    task = rbm_task.task(layer)

    def inputs(x):
        if bottom:  # binarized pixels (one fixed draw for dynamic binarization)
            return np.asarray(steps.eval_inputs(task, key, jnp.asarray(x)))
        return np.asarray(x, np.float32).reshape(len(x), -1)  # probabilities: a deterministic pass

    train_x = _features([params], inputs(layer_data.train_images))
    test_x = _features([params], inputs(layer_data.test_images))
    if labels:  # the top RBM sees [features, one-hot label]
        train_x, test_x = (np.concatenate([x, np.eye(labels, dtype=np.float32)[np.asarray(y)]], axis=1)
                           for x, y in ((train_x, base.train_labels), (test_x, base.test_labels)))
    return Dataset(train_x, base.train_labels, test_x, base.test_labels, name)


def pretrain(config: DBNConfig, data: Dataset, train: TrainConfig, workdir: str | None = None, resume: bool = False,
             run_config: dict | None = None) -> list[rbm.RBMParams]:
    """Greedy layer-wise pretraining; returns the trained RBMs, bottom first.

    Args:
      config: the DBN.
      data: a Dataset of images (see jaxae.data).
      train: the TrainConfig of every layer.
      workdir: the stack's folder; layer i trains in WORKDIR/layer_i (None: keep nothing).
      resume: continue each layer from its newest checkpoint (finished layers are only restored).
      run_config: what to record in every layer's config.json besides its own model (data, ...).
    """
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
        task = rbm_task.task(layer)
        if i > 0:  # no digit pictures of hidden features
            task = task._replace(reconstruct=None)
        folder = os.path.join(workdir, f"layer_{i + 1}") if workdir else None
        # each layer folder is an ordinary rbm run (`jaxae eval --run WORKDIR/layer_1 --ais` works)
        info = {**(run_config or {}), "model_name": "rbm", "model": dataclasses.asdict(layer), "dbn_layer": i + 1,
                "n_visible": int(np.prod(layer_data.train_images.shape[1:]))}
        if i > 0:
            info["data"] = f"{info.get('data', data.name)} (hidden probabilities of layer {i})"
        result = fit(task, layer_data, train, folder, resume=resume, run_config=info)
        stack.append(result.state.params)
        if i + 1 < len(config.layers):  # the next layer's data: this layer's hidden probabilities
            labels = classes if i + 2 == len(config.layers) else 0
            layer_data = next_layer_data(layer, stack[-1], result.state.key, layer_data, i == 0, labels, data,
                                         f"{data.name}/layer_{i + 1}")
    return stack


def _load(workdir: str) -> list[tuple[rbm.RBMParams, rbm_task.RBMConfig, jax.Array]]:
    """(params, RBMConfig, root key) of each layer of a `pretrain` workdir, bottom first."""
    stack, i = [], 1
    while os.path.isdir(os.path.join(workdir, f"layer_{i}")):
        run = RunDir(os.path.join(workdir, f"layer_{i}"))
        stored = run.read_config()
        layer = rbm_task.RBMConfig(**stored["model"])
        shape = (2, stored["n_visible"])  # only the shapes of this target matter: the checkpoint fills it
        target = state_shapes(rbm_task.task(layer), stored["train"]["seed"], np.zeros(shape, np.float32))
        restored = run.checkpointer().restore_latest(target)
        if restored is None:
            raise CheckpointError(f"{run.path} has no checkpoint; pretrain the DBN first (jaxae train dbn)")
        stack.append((restored[1].params, layer, restored[1].key))
        i += 1
    if not stack:
        raise CheckpointError(f"{workdir} holds no DBN layers (layer_1, layer_2, ...); pass the [[workdir]] of "
                              "jaxae train dbn")
    return stack


def load_stack(workdir: str) -> list[rbm.RBMParams]:
    """The pretrained RBMs of a `pretrain` workdir (newest intact checkpoint of each layer_i), each with
    its unit types."""
    return [params for params, _, _ in _load(workdir)]


def bottom_layer(workdir: str) -> rbm_task.RBMConfig:
    """The RBMConfig of the bottom layer of a `pretrain` workdir (read from its config.json)."""
    folder = os.path.join(workdir, "layer_1")
    if not os.path.isdir(folder):
        raise CheckpointError(f"{workdir} holds no DBN layers (layer_1, layer_2, ...); pass the [[workdir]] of "
                              "jaxae train dbn")
    return rbm_task.RBMConfig(**RunDir(folder).read_config()["model"])


def layer_data(stored: dict, folder: str, data_dir: str | None = None) -> Dataset | None:
    """The data a DBN's upper layer (WORKDIR/layer_N, N > 1) was trained on, rebuilt from its base
    dataset and the layers below; None for any other run (its data are a named dataset).

    Args:
      stored: the run's config.json.
      folder: the run folder.
      data_dir: a folder searched first for the base dataset.
    """
    n = int(stored.get("dbn_layer", 1))
    if n <= 1:
        return None
    base = jdata.load(_UPPER.sub("", stored["data"]), data_dir, download=False)
    below = _load(os.path.dirname(os.path.abspath(folder)))
    labels = rbm_task.RBMConfig(**stored["model"]).labels
    layer = base
    for i, (params, config, key) in enumerate(below[: n - 1]):
        layer = next_layer_data(config, params, key, layer, i == 0, labels if i == n - 2 else 0, base,
                                f"{base.name}/layer_{i + 1}")
    return layer


def offers(config: DBNConfig = DBNConfig()) -> Offers:
    """A stack of runs: each layer offers what an rbm run offers (jaxae eval/sample --run WORKDIR/layer_N),
    and `jaxae sample dbn` draws from the whole stack."""
    del config
    return Offers()
