"""MNIST, Fashion-MNIST and the bundled mnist-mini from IDX files: search, download, load."""
from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from jaxae.data import download
from jaxae.data.dataset import Dataset
from jaxae.data.idx import read_images, read_labels
from jaxae.errors import DataError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Source:
    """Where an IDX dataset may live and how to fetch it.

    Attributes:
      name: the dataset's name on the command line.
      subdirs: folder names tried below each search root.
      mirrors: base URLs for download; $JAXAE_<NAME>_URL (e.g. JAXAE_MNIST_URL) goes first.
      sha256: file name (.gz) -> sha256 of its *decompressed* content.
      system_dirs: folders a system package installs the files into.
      how_to_get: the hint shown when nothing is found.
    """

    name: str
    subdirs: tuple[str, ...]
    mirrors: tuple[str, ...]
    sha256: dict
    system_dirs: tuple[str, ...] = ()
    how_to_get: str = ""

    @property
    def env_url(self) -> str:
        return "JAXAE_" + self.name.upper().replace("-", "_") + "_URL"


MNIST = Source(
    name="mnist",
    subdirs=("mnist", "MNIST"),
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist", "https://storage.googleapis.com/cvdf-datasets/mnist"),
    sha256={
        "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    how_to_get="put the four IDX files in one of those folders, set JAXAE_DATA_DIR, or go online "
    "so jaxae can download them; --data mnist-mini works offline",
)

FASHION_MNIST = Source(
    name="fashion-mnist",
    subdirs=("fashion-mnist", "fashion_mnist", "FashionMNIST"),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",),
    sha256={
        "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    how_to_get="on Debian/Ubuntu `apt-get install dataset-fashion-mnist`, or set JAXAE_DATA_DIR, "
    "or go online so jaxae can download them",
)

SOURCES = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST, "fashion_mnist": FASHION_MNIST}


def _find_in(folder: str) -> dict | None:
    """Paths of the four files in `folder` (each .gz or raw), or None if any is missing."""
    found = {}
    for stem in FILES:
        for candidate in (stem + ".gz", stem):
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                found[stem] = path
                break
        else:
            return None
    return found


def search_folders(source: Source, data_dir: str | None = None) -> list[str]:
    """The folders searched, in order: data_dir, $JAXAE_DATA_DIR, the cache, system folders."""
    roots = [r for r in (data_dir, os.environ.get("JAXAE_DATA_DIR")) if r]
    folders = []
    for root in roots:
        folders += [os.path.join(root, s) for s in source.subdirs] + [root]
    folders += [os.path.join(download.cache_dir(), source.subdirs[0])]
    folders += list(source.system_dirs)
    return folders


def load_idx_dataset(
    source: Source,
    data_dir: str | None = None,
    *,
    download_ok: bool = True,
    timeout_s: float = download.DEFAULT_TIMEOUT_S,
) -> Dataset:
    """Finds (or downloads into the cache) and reads an IDX dataset.

    Args:
      source: MNIST or FASHION_MNIST.
      data_dir: a folder searched first (the folder itself or its `mnist/`-style subfolder).
      download_ok: when nothing is found, try the mirrors (short timeout), verifying checksums.
      timeout_s: socket timeout of the download.

    Raises:
      DataError: nothing found and no download possible (the message lists the folders searched),
        or a file is malformed.
    """
    folders = search_folders(source, data_dir)
    paths = None
    for folder in folders:
        paths = _find_in(folder)
        if paths:
            break
    if paths is None and download_ok:
        mirrors = [u for u in (os.environ.get(source.env_url),) if u] + list(source.mirrors)
        target = os.path.join(download.cache_dir(), source.subdirs[0])
        try:
            download.fetch_all(mirrors, source.sha256, target, decompressed_sha256=True, timeout_s=timeout_s)
        except DataError as e:
            raise DataError(
                f"{source.name} not found in {', '.join(folders)}; {e}. To fix: {source.how_to_get}"
            ) from None
        paths = _find_in(target)
    if paths is None:
        raise DataError(f"{source.name} not found in {', '.join(folders)}. To fix: {source.how_to_get}")
    return _read(paths, source.name, os.path.dirname(next(iter(paths.values()))))


def _read(paths: dict, name: str, source: str | None = None) -> Dataset:
    parts = {stem: (read_images if "images" in stem else read_labels)(path) for stem, path in paths.items()}
    for split in ("train", "t10k"):
        images, labels = parts[f"{split}-images-idx3-ubyte"], parts[f"{split}-labels-idx1-ubyte"]
        if len(images) != len(labels):
            raise DataError(
                f"{name}: {paths[split + '-images-idx3-ubyte']} has {len(images)} images but "
                f"{paths[split + '-labels-idx1-ubyte']} has {len(labels)} labels; the files do not belong together"
            )
    return Dataset(
        parts["train-images-idx3-ubyte"],
        parts["train-labels-idx1-ubyte"],
        parts["t10k-images-idx3-ubyte"],
        parts["t10k-labels-idx1-ubyte"],
        name,
        source,
    )


def load_mini() -> Dataset:
    """The bundled mnist-mini: the first 10,000 MNIST training digits and the first 2,000 test digits.

    MNIST is by Yann LeCun and Corinna Cortes (with Christopher J. C. Burges), CC BY-SA 3.0.
    """
    folder = resources.files("jaxae.data") / "mnist_mini"
    paths = _find_in(str(folder))
    if paths is None:
        raise DataError(f"the bundled mnist-mini files are missing from {folder}; reinstall jaxae")
    return _read(paths, "mnist-mini")
