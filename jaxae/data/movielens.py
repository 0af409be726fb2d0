"""MovieLens ratings (GroupLens): 100K with its u1..u5 / ua / ub splits, and 1M with 5 seeded folds.

Files are read with pandas from a folder (`data_dir`, then $JAXAE_DATA_DIR, then the cache), or
downloaded as the GroupLens zip when online (short timeout, verified, extracted atomically). The
licence of MovieLens forbids redistribution: jaxae ships none of it.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from jaxae.data import download
from jaxae.data.dataset import Dataset
from jaxae.errors import DataError

SPLITS_100K = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
FOLDS_1M = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class Source:
    """A MovieLens release: its folder name, zip URL and how the download is verified.

    Attributes:
      name: "ml-100k" or "ml-1m" (also the folder name inside the zip and under the search roots).
      url: the GroupLens zip; $JAXAE_ML_100K_URL / $JAXAE_ML_1M_URL replace it.
      sha256: member file -> sha256 of its bytes, checked after extraction (all required members).
    """

    name: str
    url: str
    sha256: dict

    @property
    def env_url(self) -> str:
        return "JAXAE_" + self.name.upper().replace("-", "_") + "_URL"


ML_100K = Source(
    name="ml-100k",
    url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    sha256={
        "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
        "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
        "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
        "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
        "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
        "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
        "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
        "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
        "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
        "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
        "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
        "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
        "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
        "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
        "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
        "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
    },
)
# ML-1M: no checksums of its member files were available offline; only their presence is checked.
ML_1M = Source(name="ml-1m", url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
               sha256={"ratings.dat": "", "movies.dat": ""})
SOURCES = {"ml-100k": ML_100K, "ml-1m": ML_1M}


class Ratings(NamedTuple):
    """Rating triples. user, item: (n,) int32, 0-based; rating: (n,) float32 in 1..5."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray


class MovieLens(NamedTuple):
    """One train/test split. titles[i] is item i's title (latin-1 decoded); folder: where the files are."""

    train: Ratings
    test: Ratings
    n_users: int
    n_items: int
    titles: tuple
    name: str
    folder: str | None = None


def search_folders(source: Source, data_dir: str | None = None) -> list[str]:
    """data_dir, $JAXAE_DATA_DIR (each itself and its `ml-100k/` subfolder), then the cache."""
    folders = []
    for root in (data_dir, os.environ.get("JAXAE_DATA_DIR")):
        if root:
            folders += [os.path.join(root, source.name), root]
    return folders + [os.path.join(download.cache_dir(), source.name)]


def find(source: Source, data_dir: str | None = None, *, download_ok: bool = True,
         timeout_s: float = download.DEFAULT_TIMEOUT_S) -> str:
    """The folder holding the source's files; downloads into the cache when allowed and missing."""
    folders = search_folders(source, data_dir)
    for folder in folders:
        if all(os.path.isfile(os.path.join(folder, f)) for f in source.sha256):
            return folder
    hint = (f"put the {source.name} folder (from {source.url}) in one of those folders or set JAXAE_DATA_DIR; "
            "jaxae does not ship it (its licence forbids redistribution)")
    if not download_ok:
        raise DataError(f"{source.name} not found in {', '.join(folders)}. To fix: {hint}")
    url = os.environ.get(source.env_url) or source.url
    target = os.path.join(download.cache_dir(), source.name)
    try:
        return fetch_zip(url, source, target, timeout_s)
    except DataError as e:
        raise DataError(f"{source.name} not found in {', '.join(folders)}; {e}. To fix: {hint}") from None


def fetch_zip(url: str, source: Source, dest: str, timeout_s: float = download.DEFAULT_TIMEOUT_S) -> str:
    """Downloads the zip, checks every required member (sha256 where known) and moves them into dest.

    Nothing is written into `dest` unless all checks pass.
    """
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=parent)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise DataError(f"download of {url} failed: {getattr(e, 'reason', e)}") from None
        try:
            archive = zipfile.ZipFile(io.BytesIO(payload))
        except zipfile.BadZipFile:
            raise DataError(f"{url} did not return a zip file") from None
        members = {os.path.basename(n): n for n in archive.namelist() if not n.endswith("/")}
        for name, expected in source.sha256.items():
            if name not in members:
                raise DataError(f"{url} has no {name}")
            data = archive.read(members[name])
            got = hashlib.sha256(data).hexdigest()
            if expected and got != expected:
                raise DataError(f"checksum mismatch for {name} in {url}: got sha256 {got}, expected {expected}")
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        os.makedirs(dest, exist_ok=True)
        for name in source.sha256:
            os.replace(os.path.join(tmp, name), os.path.join(dest, name))
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_ratings(path: str, sep: str = "\t") -> Ratings:
    """Reads `user item rating timestamp` lines (ids from 1) into 0-based Ratings.

    Raises:
      DataError: a malformed line (wrong field count, non-integer field) or a rating outside 1..5,
        naming the file and line; or an empty file.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, sep=sep, header=None, engine="python" if len(sep) > 1 else "c",
                            names=["user", "item", "rating", "timestamp"], dtype=str, encoding="latin-1",
                            keep_default_na=False, on_bad_lines="error")
    except pd.errors.ParserError as e:
        raise DataError(f"{path}: malformed line ({e}); each line must be user{sep}item{sep}rating{sep}timestamp") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: a split needs at least one rating") from None
    if frame.empty:
        raise DataError(f"{path} is empty: a split needs at least one rating")
    short = (frame == "").any(axis=1).to_numpy()
    if short.any():
        line = int(np.flatnonzero(short)[0])
        raise DataError(f"{path}, line {line + 1}: malformed line with missing fields; each line must be "
                        f"user{sep}item{sep}rating{sep}timestamp")
    values = {}
    for column in ("user", "item", "rating"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() | (numbers != numbers.round())
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{path}, line {line + 1}: {column} {frame[column].iloc[line]!r} is not an integer; "
                            f"each line must be user{sep}item{sep}rating{sep}timestamp")
        values[column] = numbers.to_numpy().astype(np.int64)
    out_of_range = (values["rating"] < 1) | (values["rating"] > 5)
    if out_of_range.any():
        line = int(np.flatnonzero(out_of_range)[0])
        raise DataError(f"{path}, line {line + 1}: rating {values['rating'][line]} is outside 1..5")
    low = (values["user"] < 1) | (values["item"] < 1)
    if low.any():
        line = int(np.flatnonzero(low)[0])
        raise DataError(f"{path}, line {line + 1}: user and item ids start at 1")
    return Ratings(values["user"].astype(np.int32) - 1, values["item"].astype(np.int32) - 1,
                   values["rating"].astype(np.float32))


def read_titles(path: str, sep: str = "|") -> dict:
    """item id (0-based) -> title, from u.item (`|`) or movies.dat (`::`), latin-1."""
    titles = {}
    with open(path, encoding="latin-1") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split(sep)
            if len(fields) < 2 or not fields[0].isdigit():
                raise DataError(f"{path}, line {number}: expected an item id and a title separated by {sep!r}")
            titles[int(fields[0]) - 1] = fields[1]
    return titles


def _subset(r: Ratings, index: np.ndarray) -> Ratings:
    return Ratings(r.user[index], r.item[index], r.rating[index])


def load(name: str = "ml-100k", split: str = "u1", data_dir: str | None = None, *,
         download_ok: bool = True) -> MovieLens:
    """One train/test split of MovieLens.

    Args:
      name: "ml-100k" or "ml-1m".
      split: ml-100k: "u1".."u5" (the 5-fold cross-validation of GroupLens, 80/20) or "ua"/"ub" (10
        test ratings per user); ml-1m: fold "1".."5" of a 5-fold split of the ratings shuffled with
        seed 0.
      data_dir: a folder searched first.
      download_ok: download the GroupLens zip into the cache when the files are not found.
    """
    if name not in SOURCES:
        raise DataError(f"unknown MovieLens release {name!r}; choose ml-100k or ml-1m")
    source = SOURCES[name]
    valid = SPLITS_100K if name == "ml-100k" else FOLDS_1M
    if split not in valid:
        raise DataError(f"unknown {name} split {split!r}; choose one of {', '.join(valid)}")
    folder = find(source, data_dir, download_ok=download_ok)
    if name == "ml-100k":
        train = read_ratings(os.path.join(folder, f"{split}.base"))
        test = read_ratings(os.path.join(folder, f"{split}.test"))
        titles = read_titles(os.path.join(folder, "u.item"))
        n_users, n_items = 943, 1682
    else:
        everything = read_ratings(os.path.join(folder, "ratings.dat"), sep="::")
        order = np.random.default_rng(0).permutation(len(everything.rating))
        fold = np.zeros(len(order), bool)
        fold[np.array_split(order, 5)[int(split) - 1]] = True
        train, test = _subset(everything, ~fold), _subset(everything, fold)
        titles = read_titles(os.path.join(folder, "movies.dat"), sep="::")
        n_users, n_items = 6040, 3952
    for part in (train, test):
        if part.user.max() >= n_users or part.item.max() >= n_items:
            raise DataError(f"{name} {split}: a user or item id exceeds {n_users} users / {n_items} items")
    return MovieLens(train, test, n_users, n_items, tuple(titles.get(i, f"item {i + 1}") for i in range(n_items)),
                     f"{name}/{split}", folder)


def to_matrix(r: Ratings, n_users: int, n_items: int) -> np.ndarray:
    """(n_users, n_items) uint8 rating matrix, 0 where unrated."""
    m = np.zeros((n_users, n_items), np.uint8)
    m[r.user, r.item] = r.rating.astype(np.uint8)
    return m


def load_named(name: str, data_dir: str | None = None, *, download_ok: bool = True) -> MovieLens:
    """`load` from a command-line name: "ml-100k" (split u1), "ml-100k/u3", "ml-1m/2" (fold 1 default)."""
    release, _, split = name.partition("/")
    return load(release, split or ("u1" if release == "ml-100k" else "1"), data_dir, download_ok=download_ok)


def as_dataset(ml: MovieLens) -> Dataset:
    """The split as the trainer's Dataset, one example per user.

    - train_images: (n_users, n_items) uint8 training ratings, 0 where unrated;
    - test_images: {"ratings": the same training ratings (the model's input), "targets": the held-out
      ratings}, each (n_users, n_items) uint8, so evaluation never sees a test rating as input;
    - labels: user ids (0-based).
    """
    train = to_matrix(ml.train, ml.n_users, ml.n_items)
    test = to_matrix(ml.test, ml.n_users, ml.n_items)
    if np.any((train > 0) & (test > 0)):
        raise DataError(f"{ml.name}: some (user, item) pairs are rated in both the training and the test split")
    users = np.arange(ml.n_users)
    return Dataset(train, users, {"ratings": train, "targets": test}, users, ml.name, ml.folder)


def is_ratings(dataset: Dataset) -> bool:
    """True for a Dataset made by `as_dataset` (or its `transpose`)."""
    test = dataset.test_images
    return isinstance(test, dict) and set(test) == {"ratings", "targets"} and np.ndim(dataset.train_images) == 2


def transpose(dataset: Dataset) -> Dataset:
    """The item-major view of `as_dataset`'s user-major Dataset (one example per item)."""
    train = np.ascontiguousarray(dataset.train_images.T)
    test = {name: np.ascontiguousarray(m.T) for name, m in dataset.test_images.items()}
    items = np.arange(train.shape[0])
    return Dataset(train, items, test, items, dataset.name, dataset.source)
