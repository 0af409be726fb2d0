"""MovieLens loaders on the real files, the download path, the ML-1M format and folds."""
import io
import os
import zipfile

import numpy as np
import pytest

import jaxae
from jaxae.data import movielens
from jaxae.errors import DataError


@pytest.fixture(scope="module")
def u1(data_dir):
    return movielens.load("ml-100k", "u1", data_dir, download_ok=False)


def test_real_files_have_the_published_counts(data_dir):
    folder = os.path.join(data_dir, "ml-100k")
    everything = movielens.read_ratings(os.path.join(folder, "u.data"))
    assert len(everything.rating) == 100_000
    assert everything.user.max() + 1 == 943 and len(np.unique(everything.user)) == 943
    assert everything.item.max() + 1 == 1682 and len(np.unique(everything.item)) == 1682
    assert np.bincount(everything.rating.astype(int), minlength=6)[1:].tolist() == [6110, 11370, 27145, 34174, 21201]
    pairs = set(zip(everything.user.tolist(), everything.item.tolist()))
    for split in movielens.SPLITS_100K:
        ml = movielens.load("ml-100k", split, data_dir, download_ok=False)
        train = set(zip(ml.train.user.tolist(), ml.train.item.tolist()))
        test = set(zip(ml.test.user.tolist(), ml.test.item.tolist()))
        assert not train & test, split  # disjoint
        assert train | test == pairs and len(ml.train.rating) + len(ml.test.rating) == 100_000
    assert movielens.load("ml-100k", "ua", data_dir, download_ok=False).test.rating.size == 9430  # 10 per user
    titles = movielens.load("ml-100k", "u1", data_dir, download_ok=False).titles
    assert titles[0] == "Toy Story (1995)" and len(titles) == 1682
    assert any("é" in t for t in titles)  # latin-1 decoded (e.g. "Misérables")


def test_dataset_layout_keeps_test_ratings_out_of_the_input(u1):
    data = movielens.as_dataset(u1)
    test = data.test_images
    assert data.train_images.shape == (943, 1682) and test["ratings"].shape == test["targets"].shape == (943, 1682)
    assert np.array_equal(test["ratings"], data.train_images)  # the model's input: training ratings only
    assert not np.any((test["ratings"] > 0) & (test["targets"] > 0))
    assert (test["targets"] > 0).sum() == 20_000
    assert data.source and os.path.isfile(os.path.join(data.source, "u1.base"))  # where the files were found
    items = movielens.transpose(data)
    assert items.train_images.shape == (1682, 943) and np.array_equal(items.test_images["targets"].T, test["targets"])


def test_bad_rating_files(tmp_path):
    cases = {"fields.data": "1\t2\t3\n4\t5\n", "letters.data": "1\tx\t3\t0\n", "high.data": "1\t2\t3\t0\n1\t3\t6\t0\n",
             "zero.data": "1\t2\t0\t0\n", "ids.data": "0\t2\t3\t0\n", "empty.data": ""}
    messages = {"fields.data": "malformed", "letters.data": "line 1: item 'x' is not an integer",
                "high.data": "line 2: rating 6 is outside 1..5", "zero.data": "outside 1..5",
                "ids.data": "start at 1", "empty.data": "empty"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=messages[name]):
            movielens.read_ratings(str(tmp_path / name))


def test_unknown_release_split_and_missing_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="choose ml-100k or ml-1m"):
        movielens.load("ml-10m")
    with pytest.raises(DataError, match="split 'u9'"):
        movielens.load("ml-100k", "u9")
    with pytest.raises(DataError, match="does not ship it"):
        movielens.load("ml-100k", "u1", str(tmp_path), download_ok=False)


def _zip_of(folder, names, damage=None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            if name == damage:
                data = data.replace(b"\t5\t", b"\t4\t", 1)
            z.writestr(f"ml-100k/{name}", data)
    return buffer.getvalue()


def test_download_from_a_local_server(data_dir, server, tmp_path, monkeypatch):
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    served = tmp_path / "served"
    served.mkdir()
    folder = os.path.join(data_dir, "ml-100k")
    names = list(movielens.ML_100K.sha256) + ["README"]
    (served / "good.zip").write_bytes(_zip_of(folder, names))
    (served / "bad.zip").write_bytes(_zip_of(folder, names, damage="u3.test"))
    base = server(served)

    monkeypatch.setenv("JAXAE_ML_100K_URL", base + "/bad.zip")
    with pytest.raises(DataError, match="checksum mismatch for u3.test"):
        movielens.load("ml-100k", "u3")
    assert not os.path.exists(tmp_path / "cache" / "ml-100k")  # nothing half-written

    monkeypatch.setenv("JAXAE_ML_100K_URL", base + "/good.zip")
    ml = movielens.load("ml-100k", "u3")
    assert len(ml.train.rating) == 80_000 and ml.titles[0] == "Toy Story (1995)"
    monkeypatch.setenv("JAXAE_ML_100K_URL", "http://127.0.0.1:9/none.zip")  # closed port; the cache answers
    assert len(movielens.load("ml-100k", "u1").test.rating) == 20_000


def test_offline_download_fails_fast(tmp_path, monkeypatch):
    import time

    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXAE_ML_100K_URL", "http://127.0.0.1:9/ml-100k.zip")
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="download of http://127.0.0.1:9/ml-100k.zip failed"):
        movielens.load("ml-100k", "u1")
    assert time.perf_counter() - t0 < 10


def test_ml_1m_format_and_folds(tmp_path):
    """ML-1M's `::` files (a small synthetic copy: the real one is not in ../shared/data)."""
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    rng = np.random.default_rng(0)
    lines = {(int(u), int(i)): int(r) for u, i, r in zip(rng.integers(1, 6041, 500), rng.integers(1, 3953, 500),
                                                         rng.integers(1, 6, 500))}
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::978300760\n" for (u, i), r in lines.items()))
    (folder / "movies.dat").write_bytes("1::Toy Story (1995)::Animation\n2::Misérables, Les (1995)::Drama\n"
                                        .encode("latin-1"))
    folds = [movielens.load("ml-1m", f, str(tmp_path), download_ok=False) for f in movielens.FOLDS_1M]
    tests = [set(zip(f.test.user.tolist(), f.test.item.tolist())) for f in folds]
    assert sum(len(t) for t in tests) == len(lines) and len(set().union(*tests)) == len(lines)  # a partition
    for f, t in zip(folds, tests):
        assert not t & set(zip(f.train.user.tolist(), f.train.item.tolist()))
    assert folds[0].n_users == 6040 and folds[0].titles[1] == "Misérables, Les (1995)"
    assert jaxae.data.load("ml-1m/3", str(tmp_path), download=False).train_images.shape == (6040, 3952)
