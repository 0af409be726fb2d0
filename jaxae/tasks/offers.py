"""What a trained model offers beyond training, as plain descriptions that evaluation, sampling and
recommending read (instead of sniffing parameter types or model names), and the registry entry of a
command-line model."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import NamedTuple

from jaxae.train import Task


def spec(model_name: str, config) -> dict:
    """What a built-in task records so that its run reopens (Task.spec): its registry name and config."""
    return {"model_name": model_name, "model": dataclasses.asdict(config)}


class Codec(NamedTuple):
    """Latent-space access (sampling, interpolation, latent maps).

    Attributes:
      latent: the code size.
      encode: `encode(params, x) -> (n, latent)` float32 code (the mean for a VAE), x preprocessed inputs.
      decode: `decode(params, z) -> (n, n_features)` float32 images in [0, 1] (means for a VAE); for a
        conditional model (classes > 0) `decode(params, z, labels)`, labels (n,) int.
      prior: True when codes drawn from N(0, I) decode to samples of the model (a VAE).
      corrupt: for denoising models, `corrupt(key, x) -> x_noisy` in [0, 1]; else None.
      reconstruct: `reconstruct(params, x) -> x'` shaped like x, in [0, 1].
      classes: a conditional model's number of labels (0: unconditional).
    """

    latent: int
    encode: Callable
    decode: Callable
    prior: bool = False
    corrupt: Callable | None = None
    reconstruct: Callable | None = None
    classes: int = 0


class ImportanceLikelihood(NamedTuple):
    """An importance-sampled likelihood (jaxae.likelihood.dataset_nll).

    Attributes:
      log_weights: `log_weights(key, params, x, k) -> (k, batch)` log p(x, z_i) - log q(z_i | x).
      test_inputs: how the test inputs are prepared (recorded in eval.json), or "".
    """

    log_weights: Callable
    test_inputs: str = ""


class Boltzmann(NamedTuple):
    """An RBM's parameters, for AIS, filters and Gibbs samples.

    Attributes:
      rbm: `rbm(params) -> jaxae.rbm.RBMParams` (with the right unit types).
      likelihood: why a test log-likelihood is not defined for this run's data (e.g. "its inputs are
        probabilities, not binary"), or "" when AIS applies.
    """

    rbm: Callable
    likelihood: str = ""


class DeepBoltzmann(NamedTuple):
    """A deep Boltzmann machine's parameters, for AIS, the variational lower bound and Gibbs samples.

    Attributes:
      dbm: `dbm(params) -> jaxae.rbm.dbm.DBMParams`.
      likelihood: why a test log-likelihood is not defined for this run's data, or "" when it is.
      mean_field_updates: mean-field updates of the test bound (more are used when evaluating: 30 at least).
      damping: the mean-field damping.
    """

    dbm: Callable
    likelihood: str = ""
    mean_field_updates: int = 10
    damping: float = 0.0


class Recommender(NamedTuple):
    """Rating predictions.

    Attributes:
      predict: `predict(params, ratings) -> scores`, ratings the (n_users, n_items) uint8 training
        matrix (0 = unrated), scores (n_users, n_items) float32, higher is better.
      item_major: the model trains on items (the run's data are the transposed matrix).
      unit: what a score is ("predicted rating", "p(like)").
    """

    predict: Callable
    item_major: bool = False
    unit: str = "predicted rating"


class Classifier(NamedTuple):
    """Class predictions: `predict(params, images) -> (n,) int`, images (n, n_pixels) in [0, 1]."""

    predict: Callable


class Dictionary(NamedTuple):
    """A learnt dictionary (a sparse autoencoder), for pictures of its atoms and top-activating examples.

    Attributes:
      atoms: `atoms(params) -> (n, d)` float32, row i latent i's decoder direction.
      encode: `encode(params, x) -> (batch, n)` float32 latent activations of preprocessed inputs x, as at
        inference.
    """

    atoms: Callable
    encode: Callable


class Offers(NamedTuple):
    """Everything optional a trained model offers; None (or False) when it does not.

    `layers` names representations a model computes, `layer(params, x) -> (batch, width)` of
    preprocessed inputs x, that `jaxae activations --layer NAME` writes as a shard set (a model with a
    codec offers its code as "code" without naming it here).
    """

    codec: Codec | None = None
    likelihood: ImportanceLikelihood | None = None
    boltzmann: Boltzmann | None = None
    deep_boltzmann: DeepBoltzmann | None = None
    recommender: Recommender | None = None
    classifier: Classifier | None = None
    pca_baseline: bool = False
    dictionary: Dictionary | None = None
    layers: Mapping[str, Callable] | None = None


class Model(NamedTuple):
    """A command-line model: `jaxae train NAME`.

    Attributes:
      config: the model's frozen config dataclass (each field a command-line option).
      task: `task(config) -> jaxae.train.Task`, or None for a model trained by `pretrain`.
      offers: `offers(config) -> Offers`.
      train_defaults: this model's defaults for TrainConfig fields (e.g. {"train_eval": True}).
      pretrain: a training procedure other than `fit` (a DBN's stack of runs):
        `pretrain(config, data, train_config, workdir, resume, run_config) -> list of per-layer records`.
      data_for: optional `data_for(stored_config, run_folder, data_dir) -> Dataset` rebuilding a run's
        data when it is not a named dataset (a DBN's upper layers).
    """

    config: type
    task: Callable[..., Task] | None
    offers: Callable[..., Offers]
    train_defaults: dict = {}
    pretrain: Callable | None = None
    data_for: Callable | None = None
