"""`jaxae train rbm-binary`: the chapter's like/dislike RBM recommender, its bugs fixed.

Like (rating >= 3) / dislike units, unrated movies masked out (the chapter fed them to the hidden
layer as -1), 200 hidden units, CD-10, batch 100, 10 epochs; test MAE on the held-out like/dislike
values after one sampled up-down pass from the training ratings, as in the chapter.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxae import rbm, recsys
from jaxae.errors import ConfigError
from jaxae.estimators import map_batch
from jaxae.tasks.offers import Offers, Recommender, spec
from jaxae.tasks.ratings import check_ratings, predict_in_chunks, rbm_optimizer
from jaxae.train import Task


@dataclass(frozen=True)
class BinaryRBMConfig:
    """The chapter's like/dislike RBM recommender on MovieLens, with its bugs fixed.

    Attributes:
      n_hidden: hidden units (the chapter: 200).
      k: Gibbs sweeps per step (the chapter: 10).
      learning_rate: SGD step on the batch-mean gradient; the chapter adds the batch *sum* (100 users)
        with step 1, i.e. 100 here.
      init_scale: standard deviation of the initial W and biases (the chapter: torch.randn, 1).
    """

    n_hidden: int = 200
    k: int = 10
    learning_rate: float = 100.0
    init_scale: float = 1.0

    def __post_init__(self):
        if self.n_hidden < 1 or self.k < 1 or self.learning_rate <= 0 or self.init_scale < 0:
            raise ConfigError("need n_hidden >= 1, k >= 1, learning_rate > 0 and init_scale >= 0")


def task(config: BinaryRBMConfig = BinaryRBMConfig()) -> Task:
    """The trainer's Task for the chapter's binary recommender."""

    def init(key, raw):
        k_w, k_v, k_h = jax.random.split(key, 3)
        n = raw.shape[1]
        s = config.init_scale
        return rbm.RBMParams(s * jax.random.normal(k_w, (n, config.n_hidden)), s * jax.random.normal(k_v, (n,)),
                             s * jax.random.normal(k_h, (config.n_hidden,)))

    def evaluate(key, params, batch):
        # the chapter's test: one sampled up-down pass from the training ratings, MAE on the test likes
        v, mask = recsys.like_units(batch["ratings"])
        target, observed = recsys.like_units(batch["targets"])
        k_h, k_v = jax.random.split(key)
        _, h = rbm.sample_hidden(k_h, params, v * mask)
        _, sample = rbm.sample_visible(k_v, params, h)
        mean = recsys.like_probability(params, batch["ratings"])
        return {"abs_err": jnp.sum(jnp.abs(sample - target) * observed, axis=-1),
                "abs_err_mean_field": jnp.sum(jnp.abs((mean > 0.5) - target) * observed, axis=-1),
                "count": jnp.sum(observed, axis=-1)}

    def summarize(means):
        count = max(means["count"], 1e-12)
        return {"mae": means["abs_err"] / count, "mae_mean_field": means["abs_err_mean_field"] / count}

    return Task(name="rbm-binary", init=init, estimator=map_batch(rbm.cd(config.k), recsys.like_units),
                optimizer=rbm_optimizer(config.learning_rate, 0.0, 0.0), preprocess=lambda key, raw: raw,
                evaluate=evaluate, validate=check_ratings, summarize=summarize, spec=spec("rbm-binary", config),
                learning_rate=config.learning_rate)


def offers(config: BinaryRBMConfig = BinaryRBMConfig()) -> Offers:
    """p(like) for every (user, movie)."""
    del config
    return Offers(recommender=Recommender(predict_in_chunks(recsys.like_probability), unit="p(like)"))
