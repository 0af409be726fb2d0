"""Shard sets: datasets bigger than memory, as a folder of `.npy` shards and a JSON index.

Layout of a shard set folder (written by `write`, read by `open_shards` / `jaxae.data.load("shards:DIR")`)::

    index.json                  format, version, name, per-leaf shape and dtype, splits -> shards,
                                each shard's example count and each file's size and sha256, and a
                                sha256 of the index itself
    train-00000.image.npy       one .npy file per leaf and shard: (examples, *shape) of the leaf's dtype
    train-00000.label.npy
    ...

Why `.npy` read through a memory map and not ArrayRecord: a training batch is a gather of rows, and a
memory-mapped `.npy` gathers them with one NumPy indexing per shard (no per-record decoding); measured
by `python -m benchmarks.shards --formats` (benchmarks/README.md). Each read maps the shards it
touches and unmaps them afterwards, so pages read do not stay in the process's resident memory.

Every file is checked when the set is opened (present, the header's shape and dtype equal to the
index's, the size the header implies, the sha256), so a damaged set fails at once with one line naming
the file, before a run folder is written.
"""
from __future__ import annotations

import hashlib
import io
import json
import mmap
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from jaxae.data.dataset import Dataset, empty_aligned
from jaxae.errors import DataError

FORMAT, VERSION = "jaxae.shards", 1
INDEX = "index.json"
SHARD_BYTES = 64 << 20  # the default target size of one shard (all its leaves together)


class Leaf(NamedTuple):
    """One file of a shard: its path, the byte offset of its data, and its sha256."""

    path: str
    offset: int
    sha256: str


class ShardArray:
    """An array-like view of one leaf of a split across its shards: `shape`, `dtype`, `ndim`, `nbytes`,
    `len()`, and indexing by an int, a slice or an int array (gathers rows into a new NumPy array that
    starts on a 64-byte boundary, see `jaxae.data.dataset.empty_aligned`, with one block copy per run of
    consecutive rows; the shards touched are memory-mapped for the read and unmapped after it).
    `np.asarray` reads it whole."""

    def __init__(self, files: list[Leaf], counts: list[int], shape: tuple[int, ...], dtype: np.dtype):
        self.files, self.counts = files, counts
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.shape = (int(self.starts[-1]), *shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"ShardArray(shape={self.shape}, dtype={self.dtype}, shards={len(self.files)})"

    def __getitem__(self, index) -> np.ndarray:
        n = self.shape[0]
        if isinstance(index, (int, np.integer)):
            return self[np.asarray([index])][0]
        rows = np.arange(*index.indices(n)) if isinstance(index, slice) else np.asarray(index).astype(np.int64)
        if rows.ndim != 1:
            raise IndexError(f"a ShardArray takes an int, a slice or a 1-d index array, got shape {rows.shape}")
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"index out of range for {n} examples")
        rows = np.where(rows < 0, rows + n, rows)
        out = empty_aligned((rows.size, *self.shape[1:]), self.dtype)  # device_put adopts it on the CPU
        shard = np.searchsorted(self.starts, rows, side="right") - 1
        for s in np.unique(shard):
            where = np.nonzero(shard == s)[0]
            local = rows[where] - self.starts[s]
            if where[-1] - where[0] + 1 == where.size:  # one run of the output (e.g. an unshuffled chunk)
                self._read(int(s), local, out[where[0]:where[-1] + 1])
            else:
                part = np.empty((where.size, *self.shape[1:]), self.dtype)
                self._read(int(s), local, part)
                out[where] = part
        return out

    def _read(self, s: int, local: np.ndarray, out: np.ndarray) -> None:
        """Copies rows `local` (non-empty) of shard s into `out`."""
        leaf, count = self.files[s], self.counts[s]
        with open(leaf.path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            whole = np.frombuffer(mm, self.dtype, count * int(np.prod(self.shape[1:])), leaf.offset)
            whole = whole.reshape(count, *self.shape[1:])
            first = int(local[0])
            if local[-1] - first + 1 == local.size and np.all(np.diff(local) == 1):  # consecutive: one block copy
                np.copyto(out, whole[first:first + local.size])
            else:
                np.take(whole, local, axis=0, out=out)
            del whole  # no view of the map may outlive it


class ShardSet(NamedTuple):
    """An opened, verified shard set: its folder, the contents of its index.json (`manifest`), and per
    split the leaves as ShardArrays."""

    path: str
    manifest: dict
    splits: dict  # split -> {leaf: ShardArray}

    @property
    def name(self) -> str:
        return f"shards:{self.path}"

    def as_dataset(self):
        """The Dataset of the set: train examples stay on disk (a ShardArray, or a dict of them when there
        are leaves besides "image" and "label"); labels and the test split are read into memory.

        Raises:
          DataError: the set has no "train" split, or no "image" leaf.
        """
        if "train" not in self.splits:
            raise DataError(f"{os.path.join(self.path, INDEX)} has no train split (it has "
                            f"{', '.join(self.splits) or 'none'}); write one with jaxae data write")
        test = self.splits.get("test", self.splits["train"])

        def inputs(leaves, in_memory):
            rest = {k: v for k, v in leaves.items() if k != "label"}
            if in_memory:
                rest = {k: np.asarray(v) for k, v in rest.items()}
            return rest["image"] if set(rest) == {"image"} else rest

        def labels(leaves):
            return np.asarray(leaves["label"]) if "label" in leaves else None

        if "image" not in self.splits["train"]:
            raise DataError(f"{os.path.join(self.path, INDEX)} has no 'image' leaf (leaves: "
                            f"{', '.join(self.splits['train'])}); the trainer reads the examples from 'image'")
        return Dataset(inputs(self.splits["train"], False), labels(self.splits["train"]), inputs(test, True),
                       labels(test), name=self.name, source=self.path, on_disk=True)


# ----------------------------------------------------------------------------------------------- write


def write(out: str, source: Any, *, name: str | None = None, shard_bytes: int = SHARD_BYTES) -> ShardSet:
    """Writes `source` as a shard set in the new folder `out` and returns it opened.

    Args:
      out: a folder that does not exist yet (or is empty); it is written under a temporary name and
        renamed when complete, so a failed write leaves nothing at `out`.
      source: a Dataset (its train and test splits; leaves "image" and, when labelled, "label"); a dict
        {split: examples}; or one split's examples ("train"), where examples are an array (n, ...) (the
        leaf "image"), a dict of arrays sharing their first axis (leaves named by the keys), or any
        iterable of such batches (e.g. a generator of model activations; written as they come).
      name: the set's name in its index (default: the Dataset's name or the folder's).
      shard_bytes: the target size of one shard, all leaves together.

    Raises:
      DataError: `out` exists and is not empty, a split is empty, batches disagree in their leaves,
        shapes or dtypes, or an example is not numeric.
    """
    out = os.path.abspath(out)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise DataError(f"{out} already exists; choose a new folder for the shard set (nothing was written)")
    if not isinstance(shard_bytes, int) or shard_bytes < 1:
        raise DataError(f"shard_bytes must be a positive number of bytes, got {shard_bytes!r}")
    splits = _splits(source)
    parent = os.path.dirname(out) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", dir=parent)
    try:
        leaves: dict | None = None
        index_splits = {}
        for split, batches in splits.items():
            writer = _SplitWriter(tmp, split, shard_bytes, leaves)
            for batch in batches:
                writer.add(batch)
            index_splits[split] = writer.close()
            leaves = writer.leaves
        index = {"format": FORMAT, "version": VERSION, "name": name or _name_of(source, out), "leaves": leaves,
                 "splits": index_splits}
        with open(os.path.join(tmp, INDEX), "w") as f:
            json.dump({**index, "index_sha256": _index_digest(index)}, f, indent=1)
        if os.path.isdir(out):
            os.rmdir(out)  # empty (checked above)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_shards(out, verify=False)


def _name_of(source, out: str) -> str:
    return getattr(source, "name", None) or os.path.basename(out)


def _splits(source) -> dict[str, Iterable]:
    """{split: iterable of batches (dicts of arrays)}."""
    if hasattr(source, "train_images") and hasattr(source, "test_images"):  # a Dataset
        return {"train": [_tree(source.train_images, source.train_labels)],
                "test": [_tree(source.test_images, source.test_labels)]}
    if isinstance(source, Mapping) and source and all(isinstance(k, str) and k in ("train", "test", "validation")
                                                      for k in source):
        return {k: _batches(v) for k, v in source.items()}
    return {"train": _batches(source)}


def _tree(images, labels=None) -> dict:
    tree = dict(images) if isinstance(images, Mapping) else {"image": images}
    if labels is not None:
        tree["label"] = labels
    return tree


def _batches(examples) -> Iterable:
    if isinstance(examples, Mapping) or hasattr(examples, "shape"):
        return [_tree(examples)]
    if isinstance(examples, Iterable):
        return (_tree(b) for b in examples)
    raise DataError(f"cannot write {type(examples).__name__} as examples; pass an array, a dict of arrays, or an "
                    "iterable of them")


class _SplitWriter:
    """Buffers batches of one split and writes a shard whenever shard_bytes are buffered."""

    def __init__(self, folder: str, split: str, shard_bytes: int, leaves: dict | None):
        self.folder, self.split, self.shard_bytes, self.leaves = folder, split, shard_bytes, leaves
        self.buffer: list[dict] = []
        self.buffered = 0
        self.shards: list[dict] = []
        self.count = 0

    def add(self, batch: Mapping) -> None:
        arrays = {str(k): np.asarray(v) for k, v in batch.items()}
        where = f"a batch of split {self.split!r}"
        for k, a in arrays.items():
            if a.ndim == 0 or a.dtype.kind not in "biuf":
                raise DataError(f"leaf {k!r} of {where} has dtype {a.dtype} and shape {a.shape}; write numeric arrays "
                                "with a leading example axis")
        sizes = {a.shape[0] for a in arrays.values()}
        if len(sizes) != 1:
            raise DataError(f"the leaves of {where} have different lengths {sorted(sizes)}; they must share their "
                            "first (example) axis")
        spec = {k: {"shape": list(a.shape[1:]), "dtype": str(a.dtype)} for k, a in arrays.items()}
        if self.leaves is None:
            self.leaves = spec
        elif spec != self.leaves:
            raise DataError(f"{where} has leaves {_show(spec)} but earlier ones had {_show(self.leaves)}; every batch "
                            "must have the same leaves, per-example shapes and dtypes")
        self.buffer.append(arrays)
        self.buffered += sum(a.nbytes for a in arrays.values())
        while self.buffered >= self.shard_bytes:
            self._flush(self._rows_per_shard())

    def _rows_per_shard(self) -> int:
        assert self.leaves is not None  # (set by the first batch)
        per_example = sum(int(np.prod(s["shape"])) * np.dtype(s["dtype"]).itemsize for s in self.leaves.values())
        return max(1, self.shard_bytes // max(1, per_example))

    def _flush(self, rows: int) -> None:
        joined = {k: np.concatenate([b[k] for b in self.buffer]) for k in self.buffer[0]}
        total = next(iter(joined.values())).shape[0]
        rows = min(rows, total)
        shard: dict[str, Any] = {"examples": rows, "files": {}}
        for k, a in joined.items():
            file = f"{self.split}-{len(self.shards):05d}.{k}.npy"
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(a[:rows]), allow_pickle=False)
            data = buf.getvalue()
            with open(os.path.join(self.folder, file), "wb") as f:
                f.write(data)
            shard["files"][k] = {"file": file, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        self.shards.append(shard)
        self.count += rows
        rest = {k: a[rows:] for k, a in joined.items()}
        self.buffer = [rest] if total > rows else []
        self.buffered = sum(a.nbytes for a in rest.values()) if total > rows else 0

    def close(self) -> dict:
        if self.buffer:
            self._flush(sum(next(iter(b.values())).shape[0] for b in self.buffer))
        if not self.count:
            raise DataError(f"split {self.split!r} has no examples; pass at least one")
        return {"examples": self.count, "shards": self.shards}


def _show(spec: dict) -> str:
    return ", ".join(f"{k} {tuple(v['shape'])} {v['dtype']}" for k, v in spec.items())


def _index_digest(index: dict) -> str:
    return hashlib.sha256(json.dumps(index, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------------------------------------ read


def open_shards(path: str, verify: bool = True) -> ShardSet:
    """Opens the shard set in folder `path`, checking every file (see the module docstring).

    Args:
      verify: also compare every file's sha256 with the index (reads every byte once; off only right
        after `write`, which computed them).

    Raises:
      DataError: one line naming the file: no index, a damaged index, a missing, truncated or damaged
        shard, a shard whose shape or dtype differs from the index, an empty split.
    """
    path = os.path.abspath(path)
    index_path = os.path.join(path, INDEX)
    if not os.path.isdir(path):
        raise DataError(f"no shard set at {path}; write one with: jaxae data write {path} --from mnist")
    if not os.path.exists(index_path):
        raise DataError(f"{path} has no {INDEX}, so it is not a shard set; write one with jaxae data write")
    index = _read_index(index_path)
    splits = {split: _open_split(path, index_path, split, entry, index["leaves"], verify)
              for split, entry in index["splits"].items()}
    return ShardSet(path, index, splits)


def _read_index(index_path: str) -> dict:
    damaged = f"{index_path} is damaged"
    fix = "write the shard set again with jaxae data write"
    try:
        with open(index_path, "rb") as f:
            index = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{damaged} (not JSON: {str(e).splitlines()[0]}); {fix}") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise DataError(f"{index_path} is not the index of a jaxae shard set (format {FORMAT!r}); {fix}")
    if index.get("version") != VERSION:
        raise DataError(f"{index_path} has version {index.get('version')!r}; this jaxae reads version {VERSION}")
    stored = index.pop("index_sha256", None)
    if stored != _index_digest(index):
        raise DataError(f"{damaged}: its contents differ from its own checksum (edited or corrupted); {fix}")
    try:  # the checksum matched, so only a hand-made index can fail here
        for leaf in index["leaves"].values():
            tuple(int(d) for d in leaf["shape"]), np.dtype(leaf["dtype"])
        for entry in index["splits"].values():
            for shard in entry["shards"]:
                int(shard["examples"]), [(f["file"], int(f["bytes"]), f["sha256"]) for f in shard["files"].values()]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DataError(f"{damaged} (missing or malformed field: {e}); {fix}") from None
    return index


def _open_split(path: str, index_path: str, split: str, entry: dict, leaves: dict, verify: bool) -> dict:
    shards = entry["shards"]
    counts = [int(s["examples"]) for s in shards]
    if not shards or sum(counts) == 0:
        raise DataError(f"split {split!r} in {index_path} has no examples; write it again with at least one")
    if sum(counts) != int(entry["examples"]):
        raise DataError(f"{index_path} says split {split!r} has {entry['examples']} examples but its shards hold "
                        f"{sum(counts)}; write the shard set again")
    out = {}
    for name, spec in leaves.items():
        shape, dtype = tuple(int(d) for d in spec["shape"]), np.dtype(spec["dtype"])
        files = []
        for shard, count in zip(shards, counts):
            if name not in shard["files"]:
                raise DataError(f"{index_path} lists no file of leaf {name!r} for a shard of split {split!r}; "
                                "write the shard set again")
            files.append(_check_file(path, index_path, shard["files"][name], (count, *shape), dtype, verify))
        out[name] = ShardArray(files, counts, shape, dtype)
    return out


def _check_file(folder: str, index_path: str, entry: dict, shape: tuple, dtype: np.dtype, verify: bool) -> Leaf:
    file = os.path.join(folder, entry["file"])
    if os.path.dirname(os.path.normpath(entry["file"])) or not os.path.isfile(file):
        raise DataError(f"shard {file} is missing (listed in {index_path}); restore it or write the set again")
    size = os.path.getsize(file)
    try:
        with open(file, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                      np.lib.format.read_array_header_2_0)(f)
            offset = f.tell()
    except Exception as e:  # damaged header bytes reach NumPy's parser: any error (tokenize.TokenError too)
        raise DataError(f"shard {file} has no readable .npy header ({str(e).splitlines()[0][:60]}); it is damaged; "
                        "restore it or write the set again") from None
    stored_shape, fortran, stored_dtype = header
    if tuple(stored_shape) != tuple(shape) or np.dtype(stored_dtype) != dtype or fortran:
        raise DataError(f"shard {file} holds {tuple(stored_shape)} {np.dtype(stored_dtype)} but {index_path} says "
                        f"{tuple(shape)} {dtype}; the index does not describe this file; write the set again")
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if size != expected or size != int(entry["bytes"]):
        raise DataError(f"shard {file} is {size} bytes but should be {expected} (truncated or padded); restore it or "
                        "write the set again")
    if verify and _sha256(file) != entry["sha256"]:
        raise DataError(f"shard {file} does not match its sha256 in {index_path} (damaged bytes); restore it or write "
                        "the set again")
    return Leaf(file, offset, entry["sha256"])


def _sha256(file: str) -> str:
    with open(file, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def batches_of(examples, batch_size: int) -> Iterator[dict]:
    """Splits an in-memory split (array or dict of arrays) into batches, e.g. to write it in pieces."""
    n = len(next(iter(examples.values())) if isinstance(examples, Mapping) else examples)
    for i in range(0, n, batch_size):
        yield {k: v[i : i + batch_size] for k, v in _tree(examples).items()}

