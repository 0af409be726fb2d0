"""`jaxae train dbm`: a deep Boltzmann machine, pretrained greedily with doubled weights and then trained
jointly with mean field and persistent chains (Salakhutdinov & Hinton 2009; jaxae.rbm.dbm holds the math).

One command trains the whole model in one folder: WORKDIR/layer_1 ... layer_L are the pretraining RBMs
(each an ordinary run with its own checkpoints, `dbm-layer` in config.json) and WORKDIR/joint the DBM
itself (`jaxae eval --run WORKDIR/joint --ais`). `--resume` continues whichever stage was interrupted;
finished stages are only restored, so a resumed run is the run that was never interrupted.

Variant: without label units (the paper's released code keeps 10 label units on the top layer; this
DBM models the digits alone, as yell/boltzmann-machines' does).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxae import rbm
from jaxae.data.dataset import Dataset, images_of
from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
from jaxae.errors import ConfigError
from jaxae.rbm import dbm
from jaxae.tasks.offers import DeepBoltzmann, Offers, spec
from jaxae.train import Task, TrainConfig, fit

BINARIZE = ("dynamic", "static", "none", "probabilities")


def _flat(x):
    return x.reshape(x.shape[0], -1)


def preprocess_fn(binarize_as: str):
    """`preprocess(key, raw) -> v`: a fresh Bernoulli draw per step ("dynamic", the paper's), a threshold at
    0.5 ("static"), the data as they are ("none": already binary; "probabilities": values in [0, 1])."""

    def preprocess(key, raw):
        if binarize_as == "dynamic":
            return _flat(dynamic_binarize(key, raw))
        return _flat(binarize(raw) if binarize_as == "static" else to_unit(raw))

    return preprocess


@dataclass(frozen=True)
class DBMLayerConfig:
    """One pretraining RBM of a DBM (`jaxae train dbm` writes these; see jaxae.rbm.dbm.doubled_cd).

    Attributes:
      n_hidden: hidden units.
      position: "bottom", "middle", "top" or "only": which weights are doubled.
      k: Gibbs sweeps of CD-k at the start.
      k_final: the sweeps grow linearly to this (0: k throughout) ...
      k_ramp_steps: ... over this many steps.
      learning_rate: SGD step size, as for `rbm`.
      momentum: momentum before momentum_switch steps.
      final_momentum: momentum from then on.
      momentum_switch: the step at which the momentum changes.
      weight_decay: L2 weight cost on the weights.
      binarize: how the layer's inputs are made binary (see preprocess_fn).
    """

    n_hidden: int = 500
    position: str = "bottom"
    k: int = 1
    k_final: int = 0
    k_ramp_steps: int = 0
    learning_rate: float = 0.05
    momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch: int = 3000
    weight_decay: float = 2e-4
    binarize: str = "dynamic"

    def __post_init__(self):
        dbm.doubled_rbm_conditionals(self.position)
        if self.binarize not in BINARIZE:
            raise ConfigError(f"binarize must be one of {', '.join(BINARIZE)}, got {self.binarize!r}")


def _sgd(learning_rate, momentum: float, final_momentum: float, switch: int, weight_decay: float, mask):
    def schedule(step):  # momentum, then final_momentum from step `switch` on
        return jnp.where(step < switch, momentum, final_momentum)

    return optax.chain(optax.add_decayed_weights(weight_decay, mask=mask),
                       optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate, momentum=schedule))


def layer_task(config: DBMLayerConfig = DBMLayerConfig()) -> Task:
    """The trainer's Task for one pretraining RBM (doubled-weight CD-k)."""

    def init_params(key, v):
        return rbm.init(key, v.shape[1], config.n_hidden, data_mean=jnp.mean(v, axis=0))

    def evaluate(key, params, v):
        del key
        p_h = dbm.hidden_probabilities(params, v, config.position)
        _, down = dbm.doubled_rbm_conditionals(config.position)
        p_v = jax.nn.sigmoid(down * (p_h @ params.W.T) + params.b_vis)
        return {"recon_error": jnp.mean((v - p_v) ** 2, axis=-1)}

    estimator = dbm.doubled_cd(config.k, config.position, k_final=config.k_final or None,
                               ramp_steps=config.k_ramp_steps)
    return Task(name="dbm-layer", init=init_params, estimator=estimator,
                optimizer=_sgd(config.learning_rate, config.momentum, config.final_momentum, config.momentum_switch,
                               config.weight_decay, rbm.weights_mask),
                preprocess=preprocess_fn(config.binarize), evaluate=evaluate, spec=spec("dbm-layer", config),
                learning_rate=config.learning_rate, compile_init=False)  # the documented results' op-by-op init


def layer_offers(config: DBMLayerConfig = DBMLayerConfig()) -> Offers:
    """A pretraining layer offers nothing of its own (its RBM has doubled conditionals, not an RBM's
    likelihood); the DBM in WORKDIR/joint offers the likelihood."""
    del config
    return Offers()


@dataclass(frozen=True)
class DBMConfig:
    """A DBM of binary units (defaults: the paper's protocol for a 784-500-1000 DBM on MNIST, batch 100).

    Attributes:
      layers: hidden layer sizes, bottom up (e.g. 500,1000).
      pretrain_epochs: epochs of each pretraining RBM, bottom up (0 everywhere: no pretraining, the
        joint training starts from small random weights).
      pretrain_k: CD-k of the pretraining RBMs at the start of each layer's training.
      pretrain_k_final: the sweeps grow from pretrain_k to this over each layer's training
        (0: constant).
      pretrain_learning_rate: SGD step size of the pretraining RBMs.
      k: Gibbs sweeps of the persistent chains per joint-training step (the paper: 5).
      n_chains: persistent chains (the paper: 100).
      mean_field_updates: mean-field updates per batch (the paper: 10).
      damping: mean-field damping in [0, 1).
      learning_rate: the joint training's initial SGD step size (the paper: 1e-3) ...
      final_learning_rate: ... divided by 1 + lr_decay every step down to this (the paper: 1e-4).
      lr_decay: the per-step decay (1.5e-5: the rate reaches 1e-4 after about 153,000 steps, 256 epochs
        at batch 100).
      momentum: SGD momentum at the start (0.5) ...
      final_momentum: ... this after momentum_switch steps (0.9) ...
      momentum_switch: ... 3000 steps (5 epochs at batch 100).
      weight_decay: L2 weight cost on the weights (the paper: 2e-4).
      binarize: "dynamic" (a fresh Bernoulli draw of the pixels per batch, the paper's), "static",
        "none" (already binary) or "probabilities" (grey levels as they are: no likelihood then).
    """

    layers: tuple[int, ...] = (500, 1000)
    pretrain_epochs: tuple[int, ...] = (100, 200)
    pretrain_k: int = 1
    pretrain_k_final: int = 0
    pretrain_learning_rate: float = 0.05
    k: int = 5
    n_chains: int = 100
    mean_field_updates: int = 10
    damping: float = 0.0
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    lr_decay: float = 1.5e-5
    momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch: int = 3000
    weight_decay: float = 2e-4
    binarize: str = "dynamic"

    def __post_init__(self):
        if not self.layers or any(int(n) < 1 for n in self.layers):
            raise ConfigError(f"--layers needs one or more positive sizes, bottom up (e.g. 500,1000); got "
                              f"{','.join(map(str, self.layers)) or 'nothing'}")
        if len(self.pretrain_epochs) != len(self.layers) or any(int(e) < 0 for e in self.pretrain_epochs):
            raise ConfigError(f"--pretrain-epochs needs one count >= 0 per hidden layer ({len(self.layers)}), got "
                              f"{','.join(map(str, self.pretrain_epochs)) or 'nothing'}")
        if self.binarize not in BINARIZE:
            raise ConfigError(f"binarize must be one of {', '.join(BINARIZE)}, got {self.binarize!r}")
        if not 0 < self.final_learning_rate <= self.learning_rate or self.lr_decay < 0:
            raise ConfigError(f"the learning rate decays from learning_rate to final_learning_rate (0 < final <= "
                              f"initial) at lr_decay >= 0 per step; got {self.learning_rate}, "
                              f"{self.final_learning_rate}, {self.lr_decay}")
        dbm.mean_field_pcd(self.k, self.n_chains, self.mean_field_updates, self.damping)  # their checks
        if self.pretrain_k_final and self.pretrain_k_final < self.pretrain_k:
            raise ConfigError(f"pretrain_k_final must be 0 or >= pretrain_k, got {self.pretrain_k_final}")

    def layer(self, i: int, steps: int) -> DBMLayerConfig:
        """The pretraining RBM of hidden layer i (0 = bottom), trained for `steps` optimizer steps."""
        ramp = bool(self.pretrain_k_final and self.pretrain_k_final > self.pretrain_k)
        return DBMLayerConfig(n_hidden=int(self.layers[i]), position=dbm.positions(len(self.layers))[i],
                              k=self.pretrain_k, k_final=self.pretrain_k_final if ramp else 0,
                              k_ramp_steps=max(steps, 1) if ramp else 0, learning_rate=self.pretrain_learning_rate,
                              binarize=self.binarize if i == 0 else "dynamic")

    def learning_rate_schedule(self):
        """lr_t = max(learning_rate / (1 + lr_decay)^t, final_learning_rate)."""
        if not self.lr_decay:
            return self.learning_rate
        return optax.exponential_decay(self.learning_rate, 1, 1.0 / (1.0 + self.lr_decay),
                                       end_value=self.final_learning_rate)


def task(config: DBMConfig = DBMConfig(), pretrained: list | None = None) -> Task:
    """The trainer's Task for the joint training (`pretrained`: the pretraining RBMs, bottom up, to start
    from; None: small random weights, or the shapes a checkpoint is restored into)."""

    def init_params(key, v):
        if pretrained:
            return dbm.from_rbms(pretrained)
        return dbm.init(key, (v.shape[1], *map(int, config.layers)), data_mean=jnp.mean(v, axis=0))

    def evaluate(key, params, v):
        del key
        mu = dbm.mean_field(params, v, max(config.mean_field_updates, 30), config.damping)
        p_v = jax.nn.sigmoid(mu[0] @ params.weights[0].T + params.biases[0])
        return {"recon_error": jnp.mean((v - p_v) ** 2, axis=-1),
                "unnormalized_bound": dbm.unnormalized_bound(params, v, mu)}

    def reconstruct(params, v):
        mu = dbm.mean_field(params, v, config.mean_field_updates, config.damping)
        side = int(round(v.shape[1] ** 0.5))
        return jax.nn.sigmoid(mu[0] @ params.weights[0].T + params.biases[0]).reshape(v.shape[0], side, side)

    def validate(data):
        if config.binarize == "none":
            dbm.check_binary(to_unit(np.asarray(images_of(data.train_images)[:1000])))

    schedule = config.learning_rate_schedule()
    return Task(name="dbm", init=init_params,
                estimator=dbm.mean_field_pcd(config.k, config.n_chains, config.mean_field_updates, config.damping),
                optimizer=_sgd(schedule, config.momentum, config.final_momentum, config.momentum_switch,
                               config.weight_decay, dbm.weights_mask),
                preprocess=preprocess_fn(config.binarize), evaluate=evaluate, reconstruct=reconstruct,
                validate=validate, spec=spec("dbm", config), learning_rate=schedule,
                compile_init=False)  # the documented results' op-by-op init (see Task)


def offers(config: DBMConfig = DBMConfig()) -> Offers:
    """The DBM (AIS log Z and the test lower bound, Gibbs samples); no likelihood of grey levels."""
    why = "its inputs are probabilities, not binary data" if config.binarize == "probabilities" else ""
    return Offers(deep_boltzmann=DeepBoltzmann(dbm=lambda params: params, likelihood=why,
                                               mean_field_updates=config.mean_field_updates, damping=config.damping))


def _upper_data(params: rbm.RBMParams, position: str, key: jax.Array, layer_data: Dataset, bottom: bool,
                binarize_as: str, name: str) -> Dataset:
    """The data of the pretraining RBM above: this one's doubled hidden probabilities of its inputs (the
    bottom layer's pixels binarized as it saw them, one fixed draw with the run's `key` when dynamic)."""
    fn = jax.jit(lambda x: dbm.hidden_probabilities(params, x, position))

    def features(images, key):
        out = []
        for i in range(0, len(images), 2000):
            x = jnp.asarray(np.asarray(images[i:i + 2000]))
            x = preprocess_fn(binarize_as)(jax.random.fold_in(key, i), x) if bottom else _flat(x)
            out.append(np.asarray(fn(x)))
        return np.concatenate(out)

    return Dataset(features(layer_data.train_images, jax.random.fold_in(key, 0)), layer_data.train_labels,
                   features(layer_data.test_images, jax.random.fold_in(key, 1)), layer_data.test_labels, name)


def train(config: DBMConfig, data: Dataset, train_config: TrainConfig, workdir: str | None = None,
          resume: bool = False, run_config: dict | None = None) -> list:
    """Pretraining (WORKDIR/layer_i) and joint training (WORKDIR/joint) in one call; returns [the DBM's
    final TrainState]. `train_config.epochs` is the joint training's; each layer's comes from
    `config.pretrain_epochs`."""
    if train_config.n_models > 1:
        raise ConfigError("a DBM is trained one model at a time; drop --seeds/--sweep")
    stack: list = []
    layer_data = data
    n_train = len(images_of(data.train_images))
    for i, epochs in enumerate(config.pretrain_epochs):
        if not int(epochs):
            stack = []
            break
        layer = config.layer(i, int(epochs) * (n_train // train_config.batch_size))
        folder = os.path.join(workdir, f"layer_{i + 1}") if workdir else None
        info = {**(run_config or {}), "model_name": "dbm-layer", "model": dataclasses.asdict(layer),
                "dbm_layer": i + 1}
        if i > 0:
            info["data"] = f"{info.get('data', data.name)} (doubled hidden probabilities of layer {i})"
        result = fit(layer_task(layer), layer_data, dataclasses.replace(train_config, epochs=int(epochs)), folder,
                     resume=resume, run_config=info)
        stack.append(result.state.params)
        if i + 1 < len(config.layers):
            layer_data = _upper_data(stack[-1], layer.position, result.state.key, layer_data, i == 0,
                                     layer.binarize, f"{data.name}/layer_{i + 1}")
    folder = os.path.join(workdir, "joint") if workdir else None
    result = fit(task(config, stack or None), data, train_config, folder, resume=resume, run_config=run_config)
    return [result.state]


__all__ = ["DBMConfig", "DBMLayerConfig", "layer_offers", "layer_task", "offers", "task", "train"]
