import numpy as np
import pytest

import jaxae

tfds = pytest.importorskip("tensorflow_datasets", reason="the [tfds] extra is not installed")


def test_tfds_source_reads_mock_data():
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        d = jaxae.data.load("tfds:mnist")
    assert d.name == "tfds:mnist"
    assert d.train_images.shape == (12, 28, 28) and d.train_images.dtype == np.uint8
    assert d.test_images.shape == (12, 28, 28) and d.train_labels.shape == (12,)


def test_tfds_missing_dataset_fails_at_once(tmp_path):
    import time

    t0 = time.monotonic()
    with pytest.raises(jaxae.DataError, match="pass --tfds-download"):
        jaxae.data.load("tfds:mnist", str(tmp_path))
    assert time.monotonic() - t0 < 30
