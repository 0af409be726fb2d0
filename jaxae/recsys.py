"""Recommenders on rating matrices (0 means unrated): the models' rating math, evaluation, baselines.

- The softmax CF-RBM (Salakhutdinov, Mnih & Hinton 2007): `softmax_units` turns ratings into K = 5
  one-hot visible units and a mask of rated movies; `expected_rating` predicts after one up-down pass.
- The chapter's like/dislike RBM: `like_units`, `like_probability`.
- I-AutoRec (Sedhain et al. 2015): the `AutoRec` module and `autorec_predict`.
- Evaluation and baselines (numpy): every metric takes predictions made from the *training* ratings
  only: `top_n` ranks items the user did not rate in training, and the test ratings are used as
  targets, never as input.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxae import rbm
from jaxae.errors import DataError

K = 5  # rating levels


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


def like_units(raw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(b, n_items) ratings -> (v, mask): v = 1 for rating >= 3 (like), 0 otherwise; mask = rated."""
    return (raw >= 3).astype(jnp.float32), (raw > 0).astype(jnp.float32)


def like_probability(params: rbm.RBMParams, raw: jax.Array) -> jax.Array:
    """p(like) per (user, movie) after one mean-field up-down pass from the training ratings."""
    v, mask = like_units(raw)
    p_h = jax.nn.sigmoid(rbm.hidden_logits(params, v * mask))
    return jax.nn.sigmoid(rbm.visible_logits(params, p_h))


class AutoRec(nn.Module):
    """r (b, n_users) -> reconstruction (b, n_users): Dense(hidden, sigmoid) -> Dense(n_users)."""

    hidden: int

    @nn.compact
    def __call__(self, r):
        h = nn.sigmoid(nn.Dense(self.hidden, name="encoder")(r))
        return nn.Dense(r.shape[-1], name="decoder")(h)


def autorec_predict(model: AutoRec, params, raw: jax.Array, default_rating: float = 3.0) -> jax.Array:
    """I-AutoRec's predictions for item rows raw (b, n_users) of ratings: the reconstruction clipped to
    1..5, and `default_rating` for items without training ratings (as in the paper)."""
    r = raw.astype(jnp.float32)
    reconstruction: Any = model.apply(params, r)
    out = jnp.clip(reconstruction, 1.0, 5.0)
    cold = jnp.sum(raw > 0, axis=-1, keepdims=True) == 0
    return jnp.where(cold, default_rating, out)


def row_errors(pred: jnp.ndarray, target: jnp.ndarray) -> dict:
    """Per-row sums over the rated entries of `target` (> 0): squared and absolute error, count.

    The trainer averages them over rows; `summarize` turns the averages into RMSE and MAE over all
    held-out ratings (a ratio of means equals the ratio of sums)."""
    observed = (target > 0).astype(jnp.float32)
    diff = (pred - target.astype(jnp.float32)) * observed
    return {"sq_err": jnp.sum(diff**2, axis=-1), "abs_err": jnp.sum(jnp.abs(diff), axis=-1),
            "count": jnp.sum(observed, axis=-1)}


def summarize(means: dict) -> dict:
    """RMSE and MAE over all held-out ratings from the mean per-row sums of `row_errors`."""
    count = max(means["count"], 1e-12)
    return {"rmse": math.sqrt(means["sq_err"] / count), "mae": means["abs_err"] / count}


def rmse_mae(pred: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """RMSE and MAE of a (n_users, n_items) prediction on the rated entries of `test`."""
    observed = test > 0
    if not observed.any():
        raise DataError("the test split has no ratings")
    diff = pred[observed] - test[observed]
    return float(np.sqrt(np.mean(diff**2))), float(np.mean(np.abs(diff)))


class BiasModel(NamedTuple):
    """r(u, i) = mu + b_user[u] + b_item[i]."""

    mu: float
    b_user: np.ndarray
    b_item: np.ndarray

    def predict(self) -> np.ndarray:
        return np.clip(self.mu + self.b_user[:, None] + self.b_item[None, :], 1.0, 5.0)


def fit_biases(train: np.ndarray, reg_user: float = 15.0, reg_item: float = 10.0, iterations: int = 10) -> BiasModel:
    """Regularised user and item biases by alternating least squares (Koren 2010; the defaults and the
    method of Surprise's BaselineOnly). `train` is (n_users, n_items) with 0 for unrated."""
    observed = train > 0
    if not observed.any():
        raise DataError("the training split has no ratings")
    mu = float(train[observed].mean())
    b_user = np.zeros(train.shape[0])
    b_item = np.zeros(train.shape[1])
    residual = np.where(observed, train - mu, 0.0)
    for _ in range(iterations):
        b_item = np.sum(np.where(observed, residual - b_user[:, None], 0.0), axis=0) / (reg_item + observed.sum(axis=0))
        b_user = np.sum(np.where(observed, residual - b_item[None, :], 0.0), axis=1) / (reg_user + observed.sum(axis=1))
    return BiasModel(mu, b_user, b_item)


def global_mean(train: np.ndarray) -> np.ndarray:
    """The mean training rating everywhere."""
    return np.full(train.shape, train[train > 0].mean())


class TopN(NamedTuple):
    precision: float
    recall: float
    ndcg: float
    users: int


def top_n(pred: np.ndarray, train: np.ndarray, test: np.ndarray, n: int = 10, threshold: int = 4) -> TopN:
    """precision@n, recall@n and NDCG@n over users with at least one held-out rating >= threshold.

    Candidates are all items the user did not rate in training (test items included, as in
    deployment); relevant items are the user's held-out items rated >= threshold. Training ratings
    never count as hits, and test ratings are never input to `pred`.
    """
    scores = np.where(train > 0, -np.inf, pred)
    relevant = test >= threshold
    users = np.flatnonzero(relevant.any(axis=1))
    if users.size == 0:
        raise DataError(f"no user has a held-out rating >= {threshold}")
    top = np.argsort(-scores[users], axis=1, kind="stable")[:, :n]
    hits = np.take_along_axis(relevant[users], top, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, n + 2))
    dcg = (hits * discounts).sum(axis=1)
    ideal = np.array([discounts[: min(int(k), n)].sum() for k in relevant[users].sum(axis=1)])
    n_relevant = relevant[users].sum(axis=1)
    return TopN(float(hits.sum(axis=1).mean() / n), float((hits.sum(axis=1) / n_relevant).mean()),
                float((dcg / ideal).mean()), int(users.size))


def recommend(pred: np.ndarray, train: np.ndarray, user: int, top: int = 10) -> list[tuple[int, float]]:
    """The `top` items with the highest predicted rating among those `user` (0-based) has not rated."""
    if not 0 <= user < pred.shape[0]:
        raise DataError(f"unknown user {user + 1}: this data has users 1..{pred.shape[0]}")
    scores = np.where(train[user] > 0, -np.inf, pred[user])
    order = np.argsort(-scores, kind="stable")[:top]
    return [(int(i), float(pred[user, i])) for i in order if np.isfinite(scores[i])]
