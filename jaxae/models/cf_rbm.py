"""RBM recommenders on a user x item rating matrix (one example per user; 0 = unrated).

- `cf-rbm`: the softmax CF-RBM of Salakhutdinov, Mnih & Hinton 2007: K = 5 softmax visible units per
  movie, only the movies the user rated are connected (a per-user mask over shared weights), CD-T
  with T growing during training, momentum and weight decay; the prediction is the expected rating
  under p(v | h) after one up-down pass (hidden probabilities) from the user's training ratings.
- `rbm-binary`: the chapter's recommender, fixed: like (rating >= 3) / dislike units, unrated movies
  masked out (the chapter fed them to the hidden layer as -1), 200 hidden units, CD-10, batch 100,
  10 epochs; test MAE on the held-out like/dislike values after one sampled up-down pass from the
  training ratings, as in the chapter.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import recsys
from jaxae.errors import ConfigError, DataError
from jaxae.models import rbm

K = 5  # rating levels


def check_ratings(data) -> None:
    """Raises DataError unless `data` is a MovieLens Dataset (see jaxae.data.movielens.as_dataset)."""
    test = data.test_images
    if test.ndim != 3 or test.shape[1] != 2 or data.train_images.ndim != 2:
        raise DataError(f"recommenders train on rating matrices, not {data.name}; use --data ml-100k/u1 "
                        "(or another MovieLens split)")
    if data.train_images.max() > K:
        raise DataError(f"ratings must be 0 (unrated) or 1..{K}, found {int(data.train_images.max())}")


def softmax_units(raw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(b, n_items) ratings 0..5 -> one-hot units v and mask, both (b, n_items * 5) float32."""
    rated = (raw > 0)[..., None]
    v = jax.nn.one_hot(raw.astype(jnp.int32) - 1, K) * rated
    mask = jnp.broadcast_to(rated, v.shape).astype(jnp.float32)
    return v.reshape(raw.shape[0], -1), mask.reshape(raw.shape[0], -1)


def expected_rating(params: rbm.RBMParams, raw: jax.Array) -> jax.Array:
    """E[rating] per (user, movie) under p(v | p(h | v_train)): (b, n_items) float32 in [1, 5]."""
    v, _ = softmax_units(raw)
    p_h = jax.nn.sigmoid(rbm.hidden_logits(params, v))
    logits = rbm.visible_logits(params, p_h).reshape(raw.shape[0], -1, K)
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * jnp.arange(1, K + 1, dtype=jnp.float32), axis=-1)


def _predict_in_chunks(row_fn, chunk: int = 512):
    row_fn = jax.jit(row_fn)

    def predict(params, ratings):
        ratings = np.asarray(ratings)
        return np.concatenate([np.asarray(row_fn(params, jnp.asarray(ratings[i : i + chunk])))
                               for i in range(0, len(ratings), chunk)])

    return predict


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


def _optimizer(learning_rate, momentum, weight_decay):
    import optax

    return optax.chain(optax.add_decayed_weights(weight_decay, mask=rbm.RBMParams(True, False, False)),
                       optax.sgd(learning_rate, momentum=momentum or None))


def cf_rbm_task(config: CFRBMConfig = CFRBMConfig()):
    """The trainer's Task for the softmax CF-RBM."""
    from jaxae import estimators
    from jaxae.train.state import Task

    def init(key, raw):
        n_items = raw.shape[1]
        v, _ = softmax_units(raw)
        # visible biases: log of each movie's rating frequencies in the training set, shrunk towards
        # the frequencies of all ratings by `prior` pseudo-ratings (rarely rated movies)
        counts = v.reshape(-1, n_items, K).sum(axis=0)
        overall = (counts.sum(axis=0) + 1.0) / (counts.sum() + K)
        prior = 5.0
        b_vis = jnp.log((counts + prior * overall) / (counts.sum(axis=-1, keepdims=True) + prior)).reshape(-1)
        W = 0.01 * jax.random.normal(key, (n_items * K, config.n_hidden), jnp.float32)
        return rbm.RBMParams(W, b_vis, jnp.zeros((config.n_hidden,), jnp.float32))

    cd = estimators.cd(config.k, visible=f"softmax:{K}", k_final=config.k_final if config.k_final > config.k else None,
                       ramp_steps=config.k_ramp_steps if config.k_final > config.k else 0)

    def evaluate(key, params, batch):
        return recsys.row_errors(expected_rating(params, batch[:, 0]), batch[:, 1])

    from jaxae.data import movielens

    rows = _predict_in_chunks(expected_rating)
    predict = (lambda params, ratings: rows(params, np.asarray(ratings).T).T) if config.item_based else rows
    return Task(name="cf-rbm", init=init, estimator=estimators.map_batch(cd, softmax_units),
                optimizer=_optimizer(config.learning_rate, config.momentum, config.weight_decay),
                preprocess=lambda key, raw: raw, evaluate=evaluate, validate=check_ratings,
                summarize=recsys.summarize, predict=predict, init_examples=1 << 30,
                adapt_data=movielens.transpose if config.item_based else None)


@dataclass(frozen=True)
class BinaryRBMConfig:
    """The chapter's like/dislike RBM recommender, with its bugs fixed (see the module docstring).

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


def like_units(raw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(b, n_items) ratings -> (v, mask): v = 1 for rating >= 3 (like), 0 otherwise; mask = rated."""
    return (raw >= 3).astype(jnp.float32), (raw > 0).astype(jnp.float32)


def like_probability(params: rbm.RBMParams, raw: jax.Array) -> jax.Array:
    """p(like) per (user, movie) after one mean-field up-down pass from the training ratings."""
    v, mask = like_units(raw)
    p_h = jax.nn.sigmoid(rbm.hidden_logits(params, v * mask))
    return jax.nn.sigmoid(rbm.visible_logits(params, p_h))


def binary_task(config: BinaryRBMConfig = BinaryRBMConfig()):
    """The trainer's Task for the chapter's binary recommender."""
    from jaxae import estimators
    from jaxae.train.state import Task

    def init(key, raw):
        k_w, k_v, k_h = jax.random.split(key, 3)
        n = raw.shape[1]
        s = config.init_scale
        return rbm.RBMParams(s * jax.random.normal(k_w, (n, config.n_hidden)), s * jax.random.normal(k_v, (n,)),
                             s * jax.random.normal(k_h, (config.n_hidden,)))

    def evaluate(key, params, batch):
        # the chapter's test: one sampled up-down pass from the training ratings, MAE on the test likes
        v, mask = like_units(batch[:, 0])
        target, observed = like_units(batch[:, 1])
        k_h, k_v = jax.random.split(key)
        _, h = rbm.sample_hidden(k_h, params, v * mask)
        _, sample = rbm.sample_visible(k_v, params, h)
        mean = like_probability(params, batch[:, 0])
        return {"abs_err": jnp.sum(jnp.abs(sample - target) * observed, axis=-1),
                "abs_err_mean_field": jnp.sum(jnp.abs((mean > 0.5) - target) * observed, axis=-1),
                "count": jnp.sum(observed, axis=-1)}

    def summarize(means):
        count = max(means["count"], 1e-12)
        return {"mae": means["abs_err"] / count, "mae_mean_field": means["abs_err_mean_field"] / count}

    return Task(name="rbm-binary", init=init, estimator=estimators.map_batch(estimators.cd(config.k), like_units),
                optimizer=_optimizer(config.learning_rate, 0.0, 0.0), preprocess=lambda key, raw: raw,
                evaluate=evaluate, validate=check_ratings, summarize=summarize,
                predict=_predict_in_chunks(like_probability))
