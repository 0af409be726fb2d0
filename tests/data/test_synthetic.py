"""jaxae.data.synthetic: firing rates, the parent/child hierarchy, and the ground truth written beside a set."""
import numpy as np
import pytest

from jaxae.data import synthetic
from jaxae.errors import DataError


def test_features_fire_at_their_probabilities_and_build_the_samples():
    model = synthetic.synthetic_model(0, 16, 32, min_prob=0.05)
    assert model.parent is None
    x, f = synthetic.sample(np.random.default_rng(0), model, 20_000)
    rate = (f > 0).mean(0)
    np.testing.assert_allclose(rate, model.probs, atol=4 * np.sqrt(0.3 * 0.7 / 20_000) + 0.01)
    np.testing.assert_allclose(x, f @ model.features, rtol=1e-5, atol=1e-5)


def test_a_child_fires_only_where_its_parent_fires():
    model = synthetic.synthetic_model(0, 16, 40, min_prob=0.05, children=3)
    assert list(model.parent[:9]) == [-1, 0, 0, 0, -1, 4, 4, 4, -1] and model.parent[-1] == 36
    assert list(synthetic.synthetic_model(0, 4, 7, children=2).parent) == [-1, 0, 0, -1, 3, 3, -1]  # a root left
    _, f = synthetic.sample(np.random.default_rng(1), model, 40_000)
    fired = f > 0
    child = np.flatnonzero(model.parent >= 0)
    assert not np.any(fired[:, child] & ~fired[:, model.parent[child]])  # never without its parent
    # a child fires with probability p(parent) * p(child); a parent (a root) with its own
    expected = model.probs.copy()
    expected[child] *= model.probs[model.parent[child]]
    np.testing.assert_allclose(fired.mean(0), expected, atol=4 * np.sqrt(0.25 / 40_000) + 0.003)
    assert fired[:, child].mean() < 0.5 * model.probs[child].mean()  # the hierarchy changed the rates


def test_write_keeps_the_hierarchy_in_the_ground_truth(tmp_path):
    synthetic.write(str(tmp_path / "h"), 0, 8, 12, 512, 256, batch_size=256, min_prob=0.05, children=2)
    model, meta = synthetic.truth(str(tmp_path / "h"))
    assert meta["options"] == {"min_prob": 0.05, "children": 2}
    np.testing.assert_array_equal(model.parent, synthetic.synthetic_model(0, 8, 12, min_prob=0.05, children=2).parent)
    _, f = next(synthetic.test_batches(str(tmp_path / "h")))
    child = np.flatnonzero(model.parent >= 0)
    assert not np.any((f[:, child] > 0) & (f[:, model.parent[child]] == 0))
    synthetic.write(str(tmp_path / "flat"), 0, 8, 12, 512, 256, batch_size=256)
    assert synthetic.truth(str(tmp_path / "flat"))[0].parent is None


def test_negative_children_is_refused():
    with pytest.raises(DataError, match="children >= 0"):
        synthetic.synthetic_model(0, 8, 12, children=-1)
    with pytest.raises(DataError, match="a tree needs children \\+ 1 features"):
        synthetic.synthetic_model(0, 8, 12, children=12)
