"""Data: IDX readers, dataset search and download, the bundled mnist-mini, pixel transforms."""
from __future__ import annotations

from jaxae.data import movielens, shards
from jaxae.data.dataset import Dataset, check_images, from_arrays, images_of, n_examples, take, with_labels
from jaxae.data.mnist import FASHION_MNIST, MNIST, SOURCES, load_idx_dataset, load_mini
from jaxae.data.tfds_source import load_tfds
from jaxae.errors import DataError

NAMES = ("mnist-mini", "shards:<folder>", "mnist", "fashion-mnist", "tfds:<name>", "ml-100k[/u1..u5|ua|ub]", "ml-1m[/1..5]")


def known(name: str) -> bool:
    """True when `load` knows a dataset of this name (it may still have to find or download it)."""
    return (name in ("mnist-mini", *SOURCES) or name.startswith(("tfds:", "shards:"))
            or name.split("/")[0] in ("ml-100k", "ml-1m"))


def load(name: str, data_dir: str | None = None, *, download: bool = True, tfds_download: bool = False) -> Dataset:
    """Loads a dataset by name.

    Args:
      name: "mnist-mini" (bundled, offline), "shards:FOLDER" (a shard set written by
        jaxae.data.shards.write or `jaxae data write`; its train split stays on disk and is streamed), "mnist", "fashion-mnist", "tfds:NAME", or a
        MovieLens
        split "ml-100k/u1" (see jaxae.data.movielens.as_dataset for its layout).
      data_dir: a folder searched first for IDX files (or the tfds data folder).
      download: for IDX datasets, download into the cache when not found (short timeout).
      tfds_download: for tfds datasets, let tfds download and prepare (off: fails at once offline).

    Raises:
      DataError: unknown name, data not found, or malformed files.
    """
    if name == "mnist-mini":
        return load_mini()
    if name.startswith("shards:"):
        return shards.open_shards(name[len("shards:"):]).as_dataset()
    if name.startswith("tfds:"):
        return load_tfds(name[len("tfds:"):], data_dir, download=tfds_download)
    if name in SOURCES:
        return load_idx_dataset(SOURCES[name], data_dir, download_ok=download)
    if name.split("/")[0] in ("ml-100k", "ml-1m"):
        return movielens.as_dataset(movielens.load_named(name, data_dir, download_ok=download))
    raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")


__all__ = ["Dataset", "FASHION_MNIST", "MNIST", "NAMES", "check_images", "from_arrays", "images_of", "known", "load",
           "load_mini", "movielens", "n_examples", "shards", "take", "with_labels"]
