"""`jaxae train autorec`: I-AutoRec (Sedhain et al. 2015), an item-based autoencoder on the rating matrix.

Each example is one item's vector of ratings by all users; one sigmoid hidden layer, an identity
output, squared error on the observed ratings only, L2 on the weights; the prediction for (u, i) is
the reconstruction of item i's training vector at user u, clipped to 1..5 (items without training
ratings get `default_rating`, as in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import optax

from jaxae import recsys
from jaxae.data import movielens
from jaxae.errors import ConfigError
from jaxae.estimators import from_loss
from jaxae.recsys import AutoRec
from jaxae.tasks.offers import Offers, Recommender, spec
from jaxae.tasks.ratings import check_ratings, predict_in_chunks
from jaxae.train import Task


@dataclass(frozen=True)
class AutoRecConfig:
    """I-AutoRec on MovieLens ratings, trained with Adam (best full-batch: --batch-size 1682 on ML-100K).

    Attributes:
      hidden: hidden units (the paper: 500).
      l2: L2 coefficient on both weight matrices, per example (lambda / number of items).
      learning_rate: Adam step size.
      default_rating: the prediction for items with no training ratings.
    """

    hidden: int = 500
    l2: float = 0.1
    learning_rate: float = 3e-3
    default_rating: float = 3.0

    def __post_init__(self):
        if self.hidden < 1 or self.l2 < 0 or self.learning_rate <= 0 or not 1 <= self.default_rating <= 5:
            raise ConfigError("need hidden >= 1, l2 >= 0, learning_rate > 0 and default_rating in 1..5")


def task(config: AutoRecConfig = AutoRecConfig()) -> Task:
    """The trainer's Task for I-AutoRec (its data is the item-major view of a MovieLens split)."""
    model = AutoRec(config.hidden)

    def loss_fn(key, params, raw):
        r = raw.astype(jnp.float32)
        observed = (raw > 0).astype(jnp.float32)
        sse = jnp.mean(jnp.sum(observed * (model.apply(params, r) - r) ** 2, axis=-1))
        weights = sum(jnp.sum(p["kernel"] ** 2) for p in params["params"].values())
        return sse + 0.5 * config.l2 * weights, {"rmse": jnp.sqrt(sse * raw.shape[0] / jnp.maximum(jnp.sum(observed), 1.0))}

    def evaluate(key, params, batch):
        return recsys.row_errors(recsys.autorec_predict(model, params, batch["ratings"], config.default_rating), batch["targets"])

    return Task(name="autorec", init=lambda key, raw: model.init(key, raw.astype(jnp.float32)),
                estimator=from_loss(loss_fn), optimizer=optax.adam(config.learning_rate),
                preprocess=lambda key, raw: raw, evaluate=evaluate, validate=check_ratings,
                adapt_data=movielens.transpose, summarize=recsys.summarize, spec=spec("autorec", config),
                learning_rate=config.learning_rate)


def offers(config: AutoRecConfig = AutoRecConfig()) -> Offers:
    """Predicted ratings for every (user, movie); the network reads item rows."""
    model = AutoRec(config.hidden)

    def rows(params, raw):
        return recsys.autorec_predict(model, params, raw, config.default_rating)

    return Offers(recommender=Recommender(predict_in_chunks(rows, chunk=None, transpose=True), item_major=True))
