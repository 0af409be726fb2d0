"""`jaxae train cf-rbm`: the softmax CF-RBM of Salakhutdinov, Mnih & Hinton 2007 on MovieLens.

K = 5 softmax visible units per movie, only the movies a user rated are connected (a per-user mask
over shared weights), CD-T with T growing during training, momentum and weight decay; the prediction
is the expected rating under p(v | h) after one up-down pass (hidden probabilities) from the user's
training ratings (jaxae.recsys.expected_rating).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxae import rbm, recsys
from jaxae.data import movielens
from jaxae.errors import ConfigError
from jaxae.estimators import map_batch
from jaxae.recsys import K
from jaxae.tasks.offers import Offers, Recommender, spec
from jaxae.tasks.ratings import check_ratings, predict_in_chunks, rbm_optimizer
from jaxae.train import Task

UNITS = rbm.Units(visible="softmax", group=K)


@dataclass(frozen=True)
class CFRBMConfig:
    """The softmax CF-RBM (Salakhutdinov, Mnih & Hinton 2007) on MovieLens ratings.

    Steps count optimizer updates: 9 per epoch on ML-100K's 943 users at batch 100 (16 over its
    1,682 movies with --item-based). Defaults tuned on ML-100K u1 (see experiments/movielens).

    Attributes:
      n_hidden: hidden units.
      k: Gibbs sweeps per step at the start.
      k_final: Gibbs sweeps after k_ramp_steps (CD-T with T growing linearly; equal to k: constant).
      k_ramp_steps: steps over which the sweeps grow from k to k_final.
      learning_rate: SGD step size on the batch-mean gradient.
      momentum: SGD momentum.
      weight_decay: L2 coefficient on W.
      item_based: one example per movie (its ratings by all users as visible units, I-RBM in the
        AutoRec paper's terms) instead of one per user.
    """

    n_hidden: int = 100
    k: int = 1
    k_final: int = 9
    k_ramp_steps: int = 1200
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.01
    item_based: bool = False

    def __post_init__(self):
        if self.n_hidden < 1 or self.k < 1 or self.k_final < self.k:
            raise ConfigError(f"need n_hidden >= 1 and 1 <= k <= k_final, got {self.n_hidden}, {self.k}, {self.k_final}")
        if self.learning_rate <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("learning_rate must be > 0, weight_decay >= 0 and momentum in [0, 1)")


def task(config: CFRBMConfig = CFRBMConfig()) -> Task:
    """The trainer's Task for the softmax CF-RBM (train it with init_examples=-1: the initial visible
    biases come from every example's ratings)."""

    def init(key, raw):
        n_items = raw.shape[1]
        v, _ = recsys.softmax_units(raw)
        # visible biases: log of each movie's rating frequencies in the training set, shrunk towards
        # the frequencies of all ratings by `prior` pseudo-ratings (rarely rated movies)
        counts = v.reshape(-1, n_items, K).sum(axis=0)
        overall = (counts.sum(axis=0) + 1.0) / (counts.sum() + K)
        prior = 5.0
        b_vis = jnp.log((counts + prior * overall) / (counts.sum(axis=-1, keepdims=True) + prior)).reshape(-1)
        W = 0.01 * jax.random.normal(key, (n_items * K, config.n_hidden), jnp.float32)
        return rbm.RBMParams(W, b_vis, jnp.zeros((config.n_hidden,), jnp.float32), UNITS)

    ramp = config.k_final > config.k
    cd = rbm.cd(config.k, k_final=config.k_final if ramp else None, ramp_steps=config.k_ramp_steps if ramp else 0)

    def evaluate(key, params, batch):
        return recsys.row_errors(recsys.expected_rating(params, batch["ratings"]), batch["targets"])

    return Task(name="cf-rbm", init=init, estimator=map_batch(cd, recsys.softmax_units),
                optimizer=rbm_optimizer(config.learning_rate, config.momentum, config.weight_decay),
                preprocess=lambda key, raw: raw, evaluate=evaluate, validate=check_ratings,
                summarize=recsys.summarize, adapt_data=movielens.transpose if config.item_based else None,
                spec=spec("cf-rbm", config), learning_rate=config.learning_rate,
                compile_init=False)  # the documented results' op-by-op init (see Task)


def offers(config: CFRBMConfig = CFRBMConfig()) -> Offers:
    """Expected ratings for every (user, movie)."""
    return Offers(recommender=Recommender(predict_in_chunks(recsys.expected_rating, transpose=config.item_based),
                                          item_major=config.item_based))
