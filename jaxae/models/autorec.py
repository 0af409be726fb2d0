"""I-AutoRec (Sedhain et al. 2015): an item-based autoencoder on the rating matrix.

Each example is one item's vector of ratings by all users; one sigmoid hidden layer, an identity
output, squared error on the observed ratings only, L2 on the weights; the prediction for (u, i) is
the reconstruction of item i's training vector at user u, clipped to 1..5 (items without training
ratings get `default_rating`, as in the paper).
"""
from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxae import recsys
from jaxae.errors import ConfigError


class AutoRec(nn.Module):
    """r (b, n_users) -> reconstruction (b, n_users): Dense(hidden, sigmoid) -> Dense(n_users)."""

    hidden: int

    @nn.compact
    def __call__(self, r):
        h = nn.sigmoid(nn.Dense(self.hidden, name="encoder")(r))
        return nn.Dense(r.shape[-1], name="decoder")(h)


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


def task(config: AutoRecConfig = AutoRecConfig()):
    """The trainer's Task for I-AutoRec (its data is the item-major view of a MovieLens split)."""
    import optax

    from jaxae.data import movielens
    from jaxae.estimators import from_loss
    from jaxae.models.cf_rbm import check_ratings
    from jaxae.train.state import Task

    model = AutoRec(config.hidden)

    def predict_rows(params, raw):
        r = raw.astype(jnp.float32)
        out = jnp.clip(model.apply(params, r), 1.0, 5.0)
        cold = jnp.sum(raw > 0, axis=-1, keepdims=True) == 0
        return jnp.where(cold, config.default_rating, out)

    def loss_fn(key, params, raw):
        r = raw.astype(jnp.float32)
        observed = (raw > 0).astype(jnp.float32)
        sse = jnp.mean(jnp.sum(observed * (model.apply(params, r) - r) ** 2, axis=-1))
        weights = sum(jnp.sum(p["kernel"] ** 2) for p in params["params"].values())
        return sse + 0.5 * config.l2 * weights, {"rmse": jnp.sqrt(sse * raw.shape[0] / jnp.maximum(jnp.sum(observed), 1.0))}

    def evaluate(key, params, batch):
        return recsys.row_errors(predict_rows(params, batch[:, 0]), batch[:, 1])

    row_fn = jax.jit(predict_rows)

    def predict(params, ratings):  # user-major in and out; the network reads item rows
        return np.asarray(row_fn(params, jnp.asarray(np.ascontiguousarray(np.asarray(ratings).T)))).T

    return Task(name="autorec", init=lambda key, raw: model.init(key, raw.astype(jnp.float32)),
                estimator=from_loss(loss_fn), optimizer=optax.adam(config.learning_rate),
                preprocess=lambda key, raw: raw, evaluate=evaluate, validate=check_ratings,
                adapt_data=movielens.transpose, summarize=recsys.summarize, predict=predict)
