"""The in-memory dataset every trainer reads, and validation of user arrays."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxae.errors import DataError


class Dataset(NamedTuple):
    """Images with labels, split into train and test.

    Attributes:
      train_images: (n_train, height, width) uint8 in 0..255, or float32 in [0, 1].
      train_labels: (n_train,) int labels.
      test_images: (n_test, height, width), same dtype as train_images.
      test_labels: (n_test,) int labels.
      name: where the data came from, e.g. "mnist" or "mnist-mini".
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    name: str = "arrays"

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.train_images.shape[1:3])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.train_images.shape[1:]))


def check_images(images, labels=None, name: str = "images") -> np.ndarray:
    """Validates an image array handed to the library and returns it as a numpy array.

    Accepts (n, height, width) or (n, height*width) when height*width is a square; uint8, or a
    float array with values in [0, 1] (converted to float32).

    Raises:
      DataError: wrong rank, empty, non-finite values, values out of range, or a label count that
        differs from the image count.
    """
    x = np.asarray(images)
    if x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise DataError(
                f"{name} has shape {x.shape}: flat images need a square number of pixels; "
                "pass (n, height, width) instead"
            )
        x = x.reshape(x.shape[0], side, side)
    if x.ndim != 3:
        raise DataError(f"{name} has shape {x.shape}; expected (n, height, width) or (n, height*width)")
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
