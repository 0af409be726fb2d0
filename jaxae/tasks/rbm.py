"""`jaxae train rbm`: an RBM on binarized (or probability-valued) pixels (jaxae.rbm holds the math)."""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxae import rbm
from jaxae.data.dataset import images_of
from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
from jaxae.errors import ConfigError
from jaxae.optim import linear_decay
from jaxae.tasks.offers import Boltzmann, Offers, spec
from jaxae.train import Task


@dataclass(frozen=True)
class RBMConfig:
    """An RBM with Bernoulli visible units trained by CD-k or PCD.

    The practical guide's optimizer: SGD, learning rate 0.05, momentum 0.5 then 0.9, weight decay 2e-4
    on W; batch 100 (set it in the training options).

    Steps count optimizer updates: 600 per epoch on MNIST at batch 100.

    Attributes:
      n_hidden: hidden units.
      k: Gibbs sweeps per step.
      k_final: with k_ramp_steps, the sweeps grow linearly from k to k_final (CD only; 0: constant k).
      k_ramp_steps: steps over which the sweeps grow from k to k_final.
      pcd: use persistent chains (PCD-k) instead of CD-k.
      n_chains: persistent chains (PCD only).
      learning_rate: SGD step size.
      lr_decay_steps: with > 0, the learning rate falls linearly to final_learning_rate over this many
        steps, starting at step lr_decay_begin (0: constant).
      lr_decay_begin: the step where the decay starts.
      final_learning_rate: the learning rate at the end of the decay.
      momentum: momentum for the first `momentum_switch` steps.
      final_momentum: momentum afterwards.
      momentum_switch: the step at which momentum changes.
      weight_decay: L2 coefficient on W.
      sparsity_target: desired mean hidden activation (the practical guide's section 11; 0: off).
      sparsity_cost: strength of the sparsity term.
      binarize: "static" (threshold 0.5), "dynamic" (a fresh Bernoulli sample every step), "none"
        (the data must already be binary), or "probabilities" (values in [0, 1] used as they are, e.g.
        the hidden probabilities a DBN's upper layers train on).
      hidden: "bernoulli" or "gaussian" (linear units with unit-variance noise, e.g. a deep
        autoencoder's code layer; use a small learning rate such as 0.001).
      labels: > 0: the last `labels` features are a one-hot class label, modelled by a softmax group
        (a DBN's top layer that generates digits of a chosen class).
    """

    n_hidden: int = 500
    k: int = 1
    k_final: int = 0
    k_ramp_steps: int = 0
    pcd: bool = False
    n_chains: int = 100
    learning_rate: float = 0.05
    lr_decay_steps: int = 0
    lr_decay_begin: int = 0
    final_learning_rate: float = 0.0
    momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch: int = 3000
    weight_decay: float = 2e-4
    sparsity_target: float = 0.0
    sparsity_cost: float = 0.0
    binarize: str = "static"
    hidden: str = "bernoulli"
    labels: int = 0

    def __post_init__(self):
        if self.n_hidden < 1:
            raise ConfigError(f"n_hidden must be at least 1, got {self.n_hidden}")
        if self.k < 1:
            raise ConfigError(f"k must be at least 1 Gibbs step, got {self.k}")
        if self.k_final and (self.k_final < self.k or self.k_ramp_steps < 1 or self.pcd):
            raise ConfigError(f"a CD-k ramp needs k_final >= k ({self.k_final} < {self.k}?), k_ramp_steps >= 1 "
                              "and CD rather than --pcd")
        if self.n_chains < 1 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("n_chains must be >= 1, learning_rate > 0 and weight_decay >= 0")
        if not (0 <= self.momentum < 1 and 0 <= self.final_momentum < 1 and self.momentum_switch >= 0):
            raise ConfigError(f"momentum and final_momentum must be in [0, 1) and momentum_switch >= 0, got "
                              f"{self.momentum}, {self.final_momentum}, {self.momentum_switch}")
        if self.lr_decay_steps < 0 or self.lr_decay_begin < 0 or self.final_learning_rate < 0:
            raise ConfigError("lr_decay_steps, lr_decay_begin and final_learning_rate must be >= 0")
        if self.sparsity_cost < 0 or (self.sparsity_cost and not 0 < self.sparsity_target < 1):
            raise ConfigError(f"sparsity needs a target in (0, 1) and a cost >= 0, got "
                              f"{self.sparsity_target}, {self.sparsity_cost}")
        if self.binarize not in ("static", "dynamic", "none", "probabilities"):
            raise ConfigError(f"binarize must be static, dynamic, none or probabilities, got {self.binarize!r}")
        self.units()  # the unit types' own checks
        if self.labels < 0 or self.labels == 1:
            raise ConfigError(f"labels must be 0 (none) or the number of classes (>= 2), got {self.labels}")
        if self.labels and self.pcd:
            raise ConfigError("label units are trained with CD; drop --pcd")

    def units(self) -> rbm.Units:
        """The RBM's unit types."""
        return rbm.Units(visible="bernoulli", hidden=self.hidden, labels=self.labels)


def _flat(x):
    return x.reshape(x.shape[0], -1)


def preprocess_fn(config: RBMConfig):
    """`preprocess(key, raw) -> v` (batch, n_visible): binarized (static or dynamic) or [0, 1] values."""

    def preprocess(key, raw):
        if config.binarize == "dynamic":
            return _flat(dynamic_binarize(key, raw))
        return _flat(binarize(raw) if config.binarize == "static" else to_unit(raw))

    return preprocess


def learning_rate(config: RBMConfig):
    """The learning rate, or its linear decay schedule (step -> rate)."""
    return linear_decay(config.learning_rate, config.lr_decay_steps, config.final_learning_rate, config.lr_decay_begin)


def optimizer(config: RBMConfig) -> optax.GradientTransformation:
    """SGD with the practical guide's momentum switch, linear decay and weight decay on W only."""
    # two constants joined at the switch (a ratio of the two momenta would divide by zero for momentum 0)
    momentum = optax.join_schedules([optax.constant_schedule(config.momentum),
                                     optax.constant_schedule(config.final_momentum)], [config.momentum_switch])
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay, mask=rbm.weights_mask),
        optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate(config), momentum=momentum),
    )


def task(config: RBMConfig = RBMConfig()) -> Task:
    """The trainer's Task for an RBM (see RBMConfig)."""
    units = config.units()

    def init_params(key, v):
        return rbm.init(key, v.shape[1], config.n_hidden, data_mean=jnp.mean(v, axis=0), units=units)

    def evaluate(key, params, v):
        p_v, _ = rbm.sample_visible(key, params, rbm.hidden_mean(params, v))
        return {"recon_error": jnp.mean((v - p_v) ** 2, axis=-1), "free_energy": rbm.free_energy(params, v),
                "pseudo_ll": rbm.pseudo_log_likelihood(key, params, v)}

    def reconstruct(params, v):
        p_h = rbm.hidden_mean(params, v)
        side = int(round(v.shape[1] ** 0.5))
        return jax.nn.sigmoid(rbm.visible_logits(params, p_h)).reshape(v.shape[0], side, side)

    def validate(data):
        if config.binarize == "none":
            rbm.check_binary(to_unit(np.asarray(images_of(data.train_images)[:1000])))

    sparsity = (config.sparsity_target, config.sparsity_cost)
    if config.pcd:
        estimator = rbm.pcd(config.k, config.n_chains, sparsity=sparsity)
    else:
        estimator = rbm.cd(config.k, k_final=config.k_final or None, ramp_steps=config.k_ramp_steps, sparsity=sparsity)
    return Task(name="rbm", init=init_params, estimator=estimator, optimizer=optimizer(config),
                preprocess=preprocess_fn(config), evaluate=evaluate, reconstruct=reconstruct, validate=validate,
                spec=spec("rbm", config), learning_rate=learning_rate(config),
                compile_init=False)  # the documented results' op-by-op init (see Task)


def offers(config: RBMConfig = RBMConfig()) -> Offers:
    """The RBM itself (AIS log-likelihood, filters, Gibbs samples); no log-likelihood of data that are
    probabilities rather than binary."""
    why = "its inputs are probabilities, not binary data" if config.binarize == "probabilities" else ""
    return Offers(boltzmann=Boltzmann(rbm=lambda params: params, likelihood=why))
