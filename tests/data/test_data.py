import gzip
import os
import shutil

import numpy as np
import pytest

import jaxae
from jaxae.data import idx, mnist
from jaxae.errors import DataError

TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_real_mnist_counts_and_histograms(data_dir):
    d = jaxae.data.load("mnist", data_dir, download=False)
    assert d.train_images.shape == (60000, 28, 28) and d.train_images.dtype == np.uint8
    assert d.test_images.shape == (10000, 28, 28)
    assert np.bincount(d.train_labels, minlength=10).tolist() == TRAIN_HIST
    assert np.bincount(d.test_labels, minlength=10).tolist() == TEST_HIST
    assert d.train_images.max() == 255 and d.train_images.min() == 0
    assert round(float(d.train_images.mean()), 4) == 33.3184
    assert round(float(d.test_images.mean()), 4) == 33.7912


def test_env_var_is_searched(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXAE_DATA_DIR", data_dir)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path))
    assert jaxae.data.load("mnist", download=False).train_images.shape[0] == 60000


def test_mini_is_the_first_digits_of_mnist(data_dir, mini):
    full = jaxae.data.load("mnist", data_dir, download=False)
    assert mini.train_images.shape == (10000, 28, 28) and mini.test_images.shape == (2000, 28, 28)
    np.testing.assert_array_equal(mini.train_images, full.train_images[:10000])
    np.testing.assert_array_equal(mini.train_labels, full.train_labels[:10000])
    np.testing.assert_array_equal(mini.test_images, full.test_images[:2000])
    np.testing.assert_array_equal(mini.test_labels, full.test_labels[:2000])


@pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian_package(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path))
    d = jaxae.data.load("fashion-mnist", download=False)
    assert d.train_images.shape == (60000, 28, 28) and d.test_images.shape == (10000, 28, 28)
    assert np.bincount(d.train_labels).tolist() == [6000] * 10
    assert np.bincount(d.test_labels).tolist() == [1000] * 10


def test_raw_and_gz_parse_the_same(tmp_path, mini):
    raw = tmp_path / "raw"
    idx.write_idx(tmp_path / "x.gz", mini.test_images[:5])
    raw.write_bytes(gzip.decompress((tmp_path / "x.gz").read_bytes()))
    np.testing.assert_array_equal(idx.read_images(raw), mini.test_images[:5])
    np.testing.assert_array_equal(idx.read_images(tmp_path / "x.gz"), mini.test_images[:5])


def _copy_mini(tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(os.path.join(os.path.dirname(mnist.__file__), "mnist_mini"), folder)
    return folder


def test_missing_files_name_the_searched_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXAE_DATA_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError) as e:
        jaxae.data.load("mnist", str(tmp_path / "explicit"), download=False)
    message = str(e.value)
    assert str(tmp_path / "explicit") in message and str(tmp_path / "env") in message
    assert str(tmp_path / "cache") in message and "mnist-mini" in message


def test_wrong_magic(tmp_path):
    folder = _copy_mini(tmp_path)
    # a label file where an image file belongs
    shutil.copy(folder / "t10k-labels-idx1-ubyte.gz", folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError, match="magic 0x00000801, expected 0x00000803"):
        jaxae.data.load("mnist", str(tmp_path), download=False)


def test_truncated_gzip(tmp_path):
    folder = _copy_mini(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:50000])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        jaxae.data.load("mnist", str(tmp_path), download=False)


def test_corrupt_gzip(tmp_path):
    folder = _copy_mini(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[1000:1100] = b"\x00" * 100
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        jaxae.data.load("mnist", str(tmp_path), download=False)


def test_truncated_idx_payload(tmp_path):
    folder = _copy_mini(tmp_path)
    path = folder / "t10k-images-idx3-ubyte.gz"
    content = gzip.decompress(path.read_bytes())
    path.unlink()
    (folder / "t10k-images-idx3-ubyte").write_bytes(content[:-784])
    with pytest.raises(DataError, match="truncated or corrupt"):
        jaxae.data.load("mnist", str(tmp_path), download=False)


def test_mismatched_image_and_label_counts(tmp_path, mini):
    folder = _copy_mini(tmp_path)
    idx.write_idx(folder / "t10k-labels-idx1-ubyte.gz", mini.test_labels[:1999])
    with pytest.raises(DataError, match="2000 images but .* 1999 labels"):
        jaxae.data.load("mnist", str(tmp_path), download=False)


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        jaxae.data.load("cifar")


@pytest.mark.parametrize("images, match", [
    (np.full((4, 28, 28), np.nan, np.float32), "NaN or infinite"),
    (np.full((4, 28, 28), np.inf, np.float32), "NaN or infinite"),
    (np.zeros((4, 28, 28, 3), np.uint8), "expected images \\(n, height, width\\) or vectors"),
    (np.zeros((0, 28, 28), np.uint8), "empty"),
    (np.full((4, 28, 28), 255.0, np.float32), "values in \\[255, 255\\]"),
    (np.zeros((4, 28, 28), np.complex64), "dtype complex64"),
])
def test_bad_arrays_are_refused(images, match):
    with pytest.raises(DataError, match=match):
        jaxae.data.from_arrays(images, np.zeros(len(images)), np.zeros((2, 28, 28), np.uint8), np.zeros(2))


def test_label_count_mismatch_in_arrays():
    with pytest.raises(DataError, match="4 images but 3 labels"):
        jaxae.data.from_arrays(np.zeros((4, 28, 28), np.uint8), np.zeros(3), np.zeros((2, 28, 28), np.uint8), np.zeros(2))


def test_vectors_of_any_width_are_accepted():
    for width in (784, 50, 3):
        d = jaxae.data.from_arrays(np.random.rand(4, width), np.zeros(4), np.random.rand(2, width), np.zeros(2))
        assert d.train_images.shape == (4, width) and d.train_images.dtype == np.float32
        assert d.image_shape is None and d.n_features == width
