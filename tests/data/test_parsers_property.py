"""Property tests of every parser that reads files a user hands us: random damage to IDX files (gzip and
raw), MovieLens rating and title lines, and a run's config.json end in a DataError or CheckpointError
with a message (or parse), never another exception. Case counts are fixed (derandomized) to keep the
suite's time bounded."""
import gzip
import json
import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxae.data import idx, movielens
from jaxae.errors import CheckpointError, ConfigError, DataError
from jaxae.tasks import load_run

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
_IMAGE = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
_RAW = (idx.IMAGES_MAGIC.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in _IMAGE.shape)
        + _IMAGE.tobytes())


def damage(data: bytes, edits, cut):
    out = bytearray(data)
    for position, value in edits:
        if out:
            out[position % len(out)] = value
    return bytes(out[: None if cut is None else cut % (len(out) + 1)])


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6)
CUT = st.one_of(st.none(), st.integers(0, 10_000))


def _read(path, reader):
    try:
        result = reader(path)
    except DataError as e:
        assert str(e)
        return
    assert isinstance(result, np.ndarray) and result.dtype == np.uint8


@SETTINGS
@given(edits=EDITS, cut=CUT, compressed=st.booleans(), labels=st.booleans())
def test_damaged_idx_files_give_data_errors(edits, cut, compressed, labels):
    payload = damage(_RAW, edits, cut)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "f.gz" if compressed else "f")
        with open(path, "wb") as f:
            f.write(damage(gzip.compress(payload, mtime=0), edits, cut) if compressed else payload)
        _read(path, idx.read_labels if labels else idx.read_images)


LINE = st.text(alphabet=st.sampled_from(list("0123456789\t:| -.ax\n\r")), max_size=60)


@SETTINGS
@given(lines=st.lists(LINE, max_size=6), sep=st.sampled_from(["\t", "::"]))
def test_damaged_rating_files_give_data_errors(lines, sep):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "u.data")
        with open(path, "w", encoding="latin-1") as f:
            f.write("1\t2\t3\t0\n".replace("\t", sep) + "\n".join(lines))
        try:
            ratings = movielens.read_ratings(path, sep=sep)
        except DataError as e:
            assert str(e)
            return
        assert ratings.rating.min() >= 1 and ratings.rating.max() <= 5 and ratings.user.min() >= 0


@SETTINGS
@given(text=st.binary(max_size=200), sep=st.sampled_from(["|", "::"]))
def test_damaged_title_files_give_data_errors(text, sep):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "u.item")
        with open(path, "wb") as f:
            f.write(b"1" + sep.encode() + b"Toy Story (1995)\n" + text)
        try:
            titles = movielens.read_titles(path, sep=sep)
        except DataError as e:
            assert str(e)
            return
        assert titles[0] == "Toy Story (1995)"


CONFIG = {"model_name": "ae", "model": {"hidden": [8], "latent": 2}, "data": "mnist-mini", "task": "ae",
          "train": {"epochs": 1, "batch_size": 64, "seed": 0}}


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(-2, 2) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=6)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(edits=EDITS, cut=CUT, key=st.sampled_from([None, *CONFIG, "epochs", "latent"]), value=JSON)
def test_damaged_config_files_give_checkpoint_or_config_errors(edits, cut, key, value):
    config = json.loads(json.dumps(CONFIG))
    if key in config:
        config[key] = value  # a field of the wrong kind
    elif key in config["train"]:
        config["train"][key] = value
    elif key in config["model"]:
        config["model"][key] = value
    text = damage(json.dumps(config).encode(), edits, cut) if key is None else json.dumps(config).encode()
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "config.json"), "wb") as f:
            f.write(text)
        try:
            load_run(folder)
        except (CheckpointError, ConfigError, DataError) as e:
            assert str(e)
        else:
            raise AssertionError("a run without checkpoints cannot load")
