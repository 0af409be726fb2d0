"""The in-memory dataset every trainer reads, validation of user arrays, and the per-example pytree
helpers the trainer uses: a split's inputs are an array or any pytree of arrays sharing their first axis."""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from jaxae.errors import DataError


class Dataset(NamedTuple):
    """Examples with labels, split into train and test.

    Attributes:
      train_images: what the trainer batches: (n_train, height, width) or (n_train, features) uint8 in
        0..255 or float32 in [0, 1], or any pytree of per-example arrays with a leading axis n_train
        (e.g. {"image": ..., "label": ...} from `with_labels`); every leaf is shuffled and sharded
        together and the task's preprocess, estimator and evaluate receive the whole batch.
      train_labels: (n_train,) int labels (or None).
      test_images: the test examples, the same kind of tree (the test split may carry more leaves,
        e.g. a recommender's held-out ratings).
      test_labels: (n_test,) int labels (or None).
      name: the dataset's name, e.g. "mnist", "mnist-mini", "ml-100k/u1".
      source: the folder its files were found in (None when bundled or built from arrays).
      on_disk: the training examples stay on disk (a shard set, jaxae.data.shards): the trainer streams
        them instead of copying them to the device.
    """

    train_images: Any
    train_labels: np.ndarray | None
    test_images: Any
    test_labels: np.ndarray | None
    name: str = "arrays"
    source: str | None = None
    on_disk: bool = False

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(height, width) of image data; None for vectors or other examples."""
        images = images_of(self.train_images)
        return tuple(images.shape[1:3]) if images is not None and np.ndim(images) == 3 else None

    @property
    def n_features(self) -> int:
        return int(np.prod(images_of(self.train_images).shape[1:]))


def n_examples(tree: Any) -> int:
    """The length of the leading (example) axis of a split's inputs."""
    return int(jax.tree.leaves(tree)[0].shape[0])


def take(tree: Any, index) -> Any:
    """The examples `index` (a slice or an index array) of every leaf."""
    return jax.tree.map(lambda a: a[index], tree)


ALIGN = 64  # bytes: the CPU client adopts a NumPy buffer that starts on such a boundary instead of copying it


def empty_aligned(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array whose data starts on a 64-byte boundary. On the CPU, `jax.device_put` of
    such an array shares its memory instead of copying it (a 32 MB chunk: 0.04 ms against 19 ms); NumPy
    itself aligns to 16 bytes."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + ALIGN, np.uint8)
    start = -raw.ctypes.data % ALIGN
    return raw[start:start + size].view(dtype).reshape(shape)


def gather(tree: Any, index: np.ndarray) -> Any:
    """The examples `index` (a 1-d int array) of every leaf, as new 64-byte-aligned NumPy arrays (see
    empty_aligned; a shard set's ShardArray gathers into such arrays itself)."""
    def one(a):
        if not isinstance(a, np.ndarray):
            return a[index]
        return np.take(a, index, axis=0, out=empty_aligned((len(index), *a.shape[1:]), a.dtype))

    return jax.tree.map(one, tree)


def nbytes(tree: Any) -> int:
    """The bytes of every leaf together."""
    return int(sum(a.nbytes for a in jax.tree.leaves(tree)))


def images_of(tree: Any):
    """The image (or feature) array of a split's inputs: the array itself, or its "image" leaf (None
    when there is none)."""
    return tree.get("image") if isinstance(tree, dict) else tree


def with_labels(dataset: Dataset) -> Dataset:
    """The dataset whose examples are {"image": image, "label": label}, so that labels reach the loss
    (a conditional model, a classifier). Labels become int32.

    Raises:
      DataError: the dataset has no labels.
    """
    if dataset.train_labels is None or dataset.test_labels is None:
        raise DataError(f"{dataset.name} has no labels; a model that needs them cannot train on it")

    def pair(images, labels):
        return {"image": images, "label": np.asarray(labels).astype(np.int32)}

    return dataset._replace(train_images=pair(dataset.train_images, dataset.train_labels),
                            test_images=pair(dataset.test_images, dataset.test_labels))


def check_images(images, labels=None, name: str = "images") -> np.ndarray:
    """Validates an array of examples handed to the library and returns it as a numpy array.

    Accepts images (n, height, width) or vectors (n, features) of any width; uint8, or a float array
    with values in [0, 1] (converted to float32).

    Raises:
      DataError: wrong rank, empty, non-finite values, values out of range, or a label count that
        differs from the example count.
    """
    x = np.asarray(images)
    if x.ndim not in (2, 3):
        raise DataError(f"{name} has shape {x.shape}; expected images (n, height, width) or vectors (n, features)")
    if x.shape[0] == 0:
        raise DataError(f"{name} is empty; pass at least one image")
    if x.dtype == np.uint8:
        pass
    elif np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32)
        if not np.all(np.isfinite(x)):
            bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
            raise DataError(f"{name} contains {bad} NaN or infinite values; clean or drop those images")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{name} has values in [{lo:g}, {hi:g}]; pass uint8 pixels or floats scaled to [0, 1]"
            )
    else:
        raise DataError(f"{name} has dtype {x.dtype}; pass uint8 or float images")
    if labels is not None and len(labels) != x.shape[0]:
        raise DataError(f"{name} has {x.shape[0]} images but {len(labels)} labels; they must match")
    return x


def from_arrays(train_images, train_labels, test_images, test_labels, name: str = "arrays") -> Dataset:
    """Builds a validated Dataset from user arrays (see `check_images` for what is accepted)."""
    train = check_images(train_images, train_labels, "train_images")
    test = check_images(test_images, test_labels, "test_images")
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"train images are {train.shape[1:]} but test images are {test.shape[1:]}")
    if train.dtype != test.dtype:
        test = test.astype(np.float32) / (255.0 if test.dtype == np.uint8 else 1.0)
        train = train.astype(np.float32) / (255.0 if train.dtype == np.uint8 else 1.0)
    return Dataset(train, np.asarray(train_labels), test, np.asarray(test_labels), name)
