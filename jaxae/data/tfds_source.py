"""Optional TensorFlow Datasets backend (`--data tfds:NAME`); imported only when asked for."""
from __future__ import annotations

import numpy as np

from jaxae.data.dataset import Dataset, check_images
from jaxae.errors import DataError


def load_tfds(name: str, data_dir: str | None = None, *, download: bool = False) -> Dataset:
    """Reads an image dataset with `tfds.data_source` (no TensorFlow needed).

    Args:
      name: a tfds dataset with 'train' and 'test' splits of {'image', 'label'} features, e.g. "mnist".
      data_dir: tfds data folder (default: tfds's own).
      download: let tfds download and prepare the data. Off by default: offline, tfds retries for
        minutes before failing, while download=False fails at once.

    Raises:
      DataError: tensorflow-datasets is not installed, or the dataset is not prepared.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError("--data tfds:... needs tensorflow-datasets: pip install 'jaxae[tfds]'") from None
    try:
        splits = tfds.data_source(name, split=["train", "test"], data_dir=data_dir, download=download)
    except Exception as e:  # tfds raises many types (DatasetNotFoundError, AssertionError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if download else "; pass --tfds-download to let tfds fetch and prepare it"
        raise DataError(f"tfds could not load {name!r}: {first}{hint}") from None
    arrays = []
    for split in splits:
        records = [split[i] for i in range(len(split))]
        images = np.stack([np.asarray(r["image"]) for r in records])
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        labels = np.asarray([r["label"] for r in records])
        arrays += [check_images(images, labels, f"tfds:{name}"), labels]
    train_images, train_labels, test_images, test_labels = arrays
    return Dataset(train_images, train_labels, test_images, test_labels, f"tfds:{name}", data_dir)
