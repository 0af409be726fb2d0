"""What the MovieLens recommender tasks share: the data check, chunked predictions, the RBMs' optimizer."""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxae.data import movielens
from jaxae.errors import DataError
from jaxae.rbm import weights_mask
from jaxae.recsys import K


def check_ratings(data) -> None:
    """Raises DataError unless `data` is a MovieLens Dataset (see jaxae.data.movielens.as_dataset)."""
    if not movielens.is_ratings(data):
        raise DataError(f"recommenders train on rating matrices, not {data.name}; use --data ml-100k/u1 "
                        "(or another MovieLens split)")
    if data.train_images.max() > K:
        raise DataError(f"ratings must be 0 (unrated) or 1..{K}, found {int(data.train_images.max())}")


def predict_in_chunks(row_fn: Callable, chunk: int | None = 512, transpose: bool = False) -> Callable:
    """`predict(params, ratings) -> scores` (host arrays) from a jittable `row_fn(params, rows)`, `chunk`
    rows at a time (None: all at once); with transpose, the rows are the columns of `ratings` (an
    item-based model reading a user-major matrix), and the scores come back user-major."""
    row_fn = jax.jit(row_fn)

    def predict(params, ratings):
        ratings = np.asarray(ratings)
        rows = np.ascontiguousarray(ratings.T) if transpose else ratings
        step = chunk or len(rows)
        out = np.concatenate([np.asarray(row_fn(params, jnp.asarray(rows[i : i + step])))
                              for i in range(0, len(rows), step)])
        return out.T if transpose else out

    return predict


def rbm_optimizer(learning_rate: float, momentum: float, weight_decay: float) -> optax.GradientTransformation:
    """SGD (with momentum when > 0) and weight decay on W only."""
    return optax.chain(optax.add_decayed_weights(weight_decay, mask=weights_mask),
                       optax.sgd(learning_rate, momentum=momentum or None))
