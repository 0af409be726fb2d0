"""Downloads with a short timeout, checksum verification and atomic placement."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence

from jaxae.errors import DataError

DEFAULT_TIMEOUT_S = 10.0


def cache_dir() -> str:
    """The user cache folder: $JAXAE_CACHE_DIR, else $XDG_CACHE_HOME/jaxae, else ~/.cache/jaxae."""
    if os.environ.get("JAXAE_CACHE_DIR"):
        return os.environ["JAXAE_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxae")


def sha256_file(path: str, decompress: bool = False) -> str:
    """sha256 of a file's bytes, or of its gunzipped content when `decompress`."""
    import gzip

    opener = gzip.open if decompress else open
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_all(
    mirrors: Sequence[str],
    files: Mapping[str, str],
    dest: str,
    *,
    decompressed_sha256: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Downloads every file from the first mirror that serves all of them, verified.

    Files land in a temporary folder beside `dest` and are moved into `dest` only after every
    checksum matched, so an interrupted or failed download leaves nothing half-written.

    Args:
      mirrors: base URLs, tried in order; a file's URL is `mirror.rstrip('/') + '/' + name`.
      files: file name -> expected sha256 (hex).
      dest: folder the files end up in (created).
      decompressed_sha256: the checksum is of the gunzipped content (robust to re-compression).
      timeout_s: socket timeout for each connection and read.

    Returns:
      `dest`.

    Raises:
      DataError: no mirror could be reached, or a checksum did not match.
    """
    os.makedirs(os.path.dirname(os.path.abspath(dest)) or ".", exist_ok=True)
    problems = []
    for mirror in mirrors:
        tmp = tempfile.mkdtemp(prefix=".download-", dir=os.path.dirname(os.path.abspath(dest)))
        try:
            for name, expected in files.items():
                url = mirror.rstrip("/") + "/" + name
                path = os.path.join(tmp, name)
                with urllib.request.urlopen(url, timeout=timeout_s) as response, open(path, "wb") as f:
                    shutil.copyfileobj(response, f)
                got = sha256_file(path, decompress=decompressed_sha256)
                if got != expected:
                    raise DataError(f"checksum mismatch for {url}: got sha256 {got}, expected {expected}")
            os.makedirs(dest, exist_ok=True)
            for name in files:
                os.replace(os.path.join(tmp, name), os.path.join(dest, name))
            return dest
        except DataError as e:
            problems.append(str(e))
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            problems.append(f"{mirror}: {reason}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    raise DataError("download failed (" + "; ".join(problems) + ")")
