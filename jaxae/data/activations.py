"""Activations of any model, written as a shard set an SAE trains on (`jaxae train sae --data shards:OUT`).

`write(out, f, params, data)` runs a jitted `f(params, x) -> (batch, width)` over a Dataset's train
and test splits, batch by batch and in order, and writes the outputs as the set's "image" leaf (with
the examples' labels as "label"). The folder also gets `origin.json`, which names the data the
activations came from, so `jaxae sample` can show the source digits of an SAE latent's top examples.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from jaxae.data.dataset import Dataset, n_examples, take
from jaxae.data.shards import ShardSet
from jaxae.data.shards import write as write_shards
from jaxae.errors import DataError

ORIGIN = "origin.json"
DTYPES = ("float32", "float16")


def write(out: str, f: Callable, params: Any, data: Dataset, *, batch_size: int = 1024, dtype: str = "float32",
          origin: dict | None = None) -> ShardSet:
    """Writes f's outputs on every train and test example of `data` as a shard set at `out`.

    Args:
      out: a new folder (nothing is written there unless the whole set is).
      f: `f(params, x) -> (batch, width)` floats, x a batch of the dataset's examples as stored (e.g.
        (batch, 28, 28) uint8); jitted once here. A user's own Flax function works as it is, e.g.
        `lambda params, x: model.apply(params, x / 255.0, method=Model.encode)`.
      params: the parameters handed to f.
      data: the examples; train and test are written in their stored order (example i of the test
        split is activation i), with their labels when the dataset has them.
      batch_size: examples per call of f.
      dtype: float32 or float16, the stored activations' type (float16 halves the disk and the reads).
      origin: what to record in origin.json besides the dataset's name (e.g. the run and layer).

    Raises:
      DataError: f does not return (batch, width) floats, a bad batch size or dtype, or `out` exists.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch_size must be a positive int, got {batch_size!r}")
    if dtype not in DTYPES:
        raise DataError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise DataError(f"{out} already exists; choose a new folder for the activations (nothing was written)")
    apply = jax.jit(f)
    store = np.float16 if dtype == "float16" else np.float32

    def split(examples, labels) -> Iterator[dict]:
        for start in range(0, n_examples(examples), batch_size):
            window = slice(start, start + batch_size)
            inputs = jax.tree.map(np.asarray, take(examples, window))
            acts = np.asarray(apply(params, inputs))
            rows = n_examples(inputs)
            if acts.ndim != 2 or acts.shape[0] != rows or not np.issubdtype(acts.dtype, np.floating):
                raise DataError(f"the activation function must return (batch, width) floats; for a batch of {rows} "
                                f"it returned {acts.dtype} {acts.shape}; flatten its output to (batch, -1)")
            batch = {"image": acts.astype(store)}
            if labels is not None:
                batch["label"] = np.asarray(labels[window])
            yield batch

    written = write_shards(out, {"train": split(data.train_images, data.train_labels),
                                 "test": split(data.test_images, data.test_labels)},
                           name=f"activations of {data.name}")
    record = {"data": data.name, "data_source": data.source, "dtype": dtype, **(origin or {})}
    with open(os.path.join(written.path, ORIGIN), "w") as file:
        json.dump(record, file, indent=1)
    return written


def origin(folder: str) -> dict | None:
    """What `write` recorded of where the activations in `folder` came from (None: not activations)."""
    path = os.path.join(folder, ORIGIN)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as file:
            record = json.load(file)
    except (OSError, ValueError) as e:
        raise DataError(f"{path} is damaged ({e}); write the activations again with jaxae activations") from None
    if not isinstance(record, dict) or not isinstance(record.get("data"), str):
        raise DataError(f"{path} does not name the data the activations came from; write them again")
    return record
