"""Readers for the IDX format of MNIST and Fashion-MNIST (gzip-compressed or raw)."""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from jaxae.errors import DataError

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


def read_bytes(path: str | os.PathLike) -> bytes:
    """Returns the file's content, gunzipped when it starts with the gzip magic.

    Raises:
      DataError: the gzip stream is truncated or corrupt.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DataError(
            f"{path} is a truncated or corrupt gzip file ({e}); delete it and download it again"
        ) from None


def parse_idx(data: bytes, expected_magic: int, name: str = "<bytes>") -> np.ndarray:
    """Parses an IDX byte string into a uint8 array of the header's shape.

    Args:
      data: the whole (decompressed) file.
      expected_magic: IMAGES_MAGIC or LABELS_MAGIC.
      name: shown in error messages.

    Returns:
      uint8 array, (count, rows, cols) for images or (count,) for labels.

    Raises:
      DataError: wrong magic number or a size that does not match the header.
    """
    if len(data) < 8:
        raise DataError(f"{name} is not an IDX file: only {len(data)} bytes")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        kind = "images" if expected_magic == IMAGES_MAGIC else "labels"
        raise DataError(
            f"{name} has IDX magic 0x{magic:08x}, expected 0x{expected_magic:08x} for {kind}; "
            "is this the right file?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated inside its IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(data) - header != size:
        raise DataError(
            f"{name} holds {len(data) - header} data bytes but its header {shape} needs {size}; "
            "the file is truncated or corrupt: download it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_images(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX image file: (count, rows, cols) uint8."""
    return parse_idx(read_bytes(path), IMAGES_MAGIC, str(path))


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX label file: (count,) uint8."""
    return parse_idx(read_bytes(path), LABELS_MAGIC, str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes a uint8 array as a gzip-compressed IDX file (used to build the bundled mini set)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x00000800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.tobytes())
