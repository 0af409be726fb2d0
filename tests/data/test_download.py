import dataclasses
import gzip
import os
import socket
import time

import numpy as np
import pytest

import jaxae
from jaxae.data import mnist
from jaxae.errors import DataError


@pytest.fixture(autouse=True)
def no_data_dir(monkeypatch):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)


def test_download_from_local_server(data_dir, server, tmp_path, monkeypatch):
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXAE_MNIST_URL", server(os.path.join(data_dir, "mnist")))
    d = jaxae.data.load("mnist")
    assert d.train_images.shape == (60000, 28, 28) and d.test_labels.shape == (10000,)
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(mnist.MNIST.sha256)
    # the second load reads the cache, with no server at all
    monkeypatch.setenv("JAXAE_MNIST_URL", "http://127.0.0.1:9")
    np.testing.assert_array_equal(jaxae.data.load("mnist", download=False).test_labels, d.test_labels)


def test_checksum_mismatch_leaves_nothing(data_dir, server, tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    for name in mnist.FILES:
        os.symlink(os.path.abspath(os.path.join(data_dir, "mnist", name + ".gz")), served / (name + ".gz"))
    os.unlink(served / "t10k-labels-idx1-ubyte.gz")
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 12))
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    source = dataclasses.replace(mnist.MNIST, mirrors=(server(served),))
    with pytest.raises(DataError, match="checksum mismatch"):
        mnist.load_idx_dataset(source, str(tmp_path / "nothing"))
    assert not os.path.exists(tmp_path / "cache" / "mnist")
    assert [p for p in os.listdir(tmp_path / "cache") if p.startswith(".download")] == []


def test_unreachable_mirror_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = dataclasses.replace(mnist.MNIST, mirrors=(f"http://127.0.0.1:{port}",))
    t0 = time.monotonic()
    with pytest.raises(DataError, match="download failed.*To fix"):
        mnist.load_idx_dataset(source, str(tmp_path / "nothing"))
    assert time.monotonic() - t0 < 5


def test_silent_server_times_out(tmp_path, monkeypatch):
    """A server that accepts but never answers must not hang the loader."""
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        source = dataclasses.replace(mnist.MNIST, mirrors=(f"http://127.0.0.1:{listener.getsockname()[1]}",))
        t0 = time.monotonic()
        with pytest.raises(DataError, match="timed out"):
            mnist.load_idx_dataset(source, str(tmp_path / "nothing"), timeout_s=0.5)
        assert time.monotonic() - t0 < 5
