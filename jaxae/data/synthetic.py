"""Synthetic SAE data with ground truth (after SynthSAEBench, Chanin & Garriga-Alonso 2026, and
`sae_lens.synthetic`): known unit feature directions, Zipf firing probabilities, magnitudes; written as
a shard set so an SAE trains on it like on any activations.

A sample is x = f @ features, f (m,) >= 0: feature j fires with probability probs[j] (independently)
with magnitude relu(mean[j] + std[j] * N(0, 1)). With a hierarchy (`children` > 0, after
`sae_lens.synthetic.HierarchyNode`), a child feature fires only where its parent fires (so with
probability probs[parent] * probs[child]): the structure behind feature absorption, which Matryoshka
SAEs are built against. Batch i is drawn by its own seeded NumPy generator, so any batch (e.g. an
evaluation batch with its true activations) can be drawn again.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from jaxae.data import shards
from jaxae.errors import DataError


class SyntheticModel(NamedTuple):
    """The ground truth: features (m, d) unit rows; probs, mean, std (m,) float32 NumPy arrays; parent
    (m,) int32, each feature's parent feature or -1 (a root; parents are roots: one level), or None for
    no hierarchy."""

    features: np.ndarray
    probs: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    parent: np.ndarray | None = None


def zipf_probabilities(m: int, exponent: float = 1.0, max_prob: float = 0.3, min_prob: float = 0.01) -> np.ndarray:
    """(m,) probabilities falling as rank^-exponent, rescaled to [min_prob, max_prob] (as SAELens's
    `zipfian_firing_probabilities`)."""
    if m < 1 or exponent <= 0 or not 0 < min_prob < max_prob <= 1:
        raise DataError(f"need m >= 1, exponent > 0 and 0 < min_prob < max_prob <= 1, got m={m} exponent={exponent} "
                        f"min_prob={min_prob} max_prob={max_prob}")
    if m == 1:
        return np.array([max_prob], np.float32)
    p = 1.0 / np.arange(1, m + 1, dtype=np.float64) ** exponent
    return (min_prob + (max_prob - min_prob) * (p - p.min()) / (p.max() - p.min())).astype(np.float32)


def synthetic_model(seed: int, d: int, m: int, exponent: float = 1.0, max_prob: float = 0.3,
                    min_prob: float = 0.01, mean: float = 1.0, std: float = 0.25, children: int = 0) -> SyntheticModel:
    """m random unit directions in d dimensions with Zipf firing probabilities and N(mean, std^2)
    magnitudes (cut at 0). `children` > 0: trees of one parent and `children` children in blocks of
    the frequency order: feature t * (children + 1) is a parent, the `children` features after it its
    children (each fires only where it fires, so its own probability is conditional on the parent's and
    of the same order); the m % (children + 1) rarest features are roots without children."""
    if d < 1 or mean < 0 or std < 0 or not 0 <= children < m:
        raise DataError(f"need d >= 1, mean >= 0, std >= 0 and children >= 0 and below m (a tree needs "
                        f"children + 1 features), got d={d} m={m} mean={mean} std={std} children={children}")
    features = np.random.default_rng([seed, 0]).standard_normal((m, d))
    features = (features / np.linalg.norm(features, axis=-1, keepdims=True)).astype(np.float32)
    full = np.ones((m,), np.float32)
    parent = None
    if children:
        in_trees = np.arange((m // (children + 1)) * (children + 1), dtype=np.int32)
        root = in_trees - in_trees % (children + 1)
        parent = np.full((m,), -1, np.int32)
        parent[in_trees] = np.where(in_trees == root, -1, root)
    return SyntheticModel(features, zipf_probabilities(m, exponent, max_prob, min_prob), mean * full, std * full,
                          parent)


def sample(rng: np.random.Generator, model: SyntheticModel, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch: (x (batch, d), f (batch, m)) float32."""
    m = model.probs.shape[0]
    rows, cols = np.nonzero(rng.random((batch, m), dtype=np.float32) < model.probs)
    f = np.zeros((batch, m), np.float32)
    noise = rng.standard_normal(len(rows), dtype=np.float32)
    f[rows, cols] = np.maximum(model.mean[cols] + model.std[cols] * noise, 0.0)
    if model.parent is not None:  # a child only where its parent is active (parents are roots)
        child = np.flatnonzero(model.parent >= 0)
        f[:, child] *= f[:, model.parent[child]] > 0
    return f @ model.features, f


def batches(seed: int, model: SyntheticModel, n: int, batch_size: int = 4096,
            start: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(x, f) batches of `n` samples in all, batch i drawn by NumPy's generator seeded [seed, 1, start + i]."""
    for i in range(-(-n // batch_size)):
        rows = min(batch_size, n - i * batch_size)
        yield sample(np.random.default_rng([seed, 1, start + i]), model, rows)


TRUTH = "truth.npz"


def write(out: str, seed: int, d: int, m: int, n_train: int, n_test: int, batch_size: int = 4096,
          dtype: str = "float32", **model_options) -> shards.ShardSet:
    """Writes a synthetic shard set at `out` (leaf "image": (d,) vectors) and its ground truth in
    `out/truth.npz` (features, probs, mean, std, seed), and returns the set opened.

    The test split's batches are drawn after the train split's, so `test_batches(out)` redraws them
    with their true activations for F1.
    """
    model = synthetic_model(seed, d, m, **model_options)
    n_train_batches = -(-n_train // batch_size)

    def only_x(n, start):
        for x, _ in batches(seed, model, n, batch_size, start):
            yield x.astype(dtype)

    written = shards.write(out, {"train": only_x(n_train, 0), "test": only_x(n_test, n_train_batches)},
                           name=f"synthetic-d{d}-m{m}")
    meta = {"seed": seed, "d": d, "m": m, "n_train": n_train, "n_test": n_test, "batch_size": batch_size,
            "options": model_options}
    arrays = {k: v for k, v in model._asdict().items() if v is not None}
    np.savez(os.path.join(out, TRUTH), **arrays, meta=np.array(json.dumps(meta)))
    return written


def truth(out: str) -> tuple[SyntheticModel, dict]:
    """The ground truth `write` stored beside a synthetic shard set: (model, its metadata)."""
    path = os.path.join(out, TRUTH)
    if not os.path.exists(path):
        raise DataError(f"{path} not found: {out} is not a synthetic shard set written by jaxae.data.synthetic.write")
    with np.load(path) as z:
        model = SyntheticModel(z["features"], z["probs"], z["mean"], z["std"], z["parent"] if "parent" in z else None)
        return model, json.loads(str(z["meta"]))


def test_batches(out: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The test split's (x, f) batches again, f the true feature activations (the F1 ground truth)."""
    model, meta = truth(out)
    start = -(-meta["n_train"] // meta["batch_size"])
    return batches(meta["seed"], model, meta["n_test"], meta["batch_size"], start)
