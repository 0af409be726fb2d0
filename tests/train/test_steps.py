import jax
import jax.numpy as jnp
import numpy as np

from jaxae.data.dataset import take
from jaxae.train import steps


def test_gather_takes_the_same_examples_as_take_for_every_leaf_shape():
    rng = np.random.default_rng(0)
    tree = {"pixels": rng.integers(0, 256, (50, 7, 5), dtype=np.uint8),
            "channels": rng.normal(size=(50, 4, 3, 2)).astype(np.float32),
            "rows": rng.normal(size=(50, 6)).astype(np.float32), "labels": np.arange(50, dtype=np.int32)}
    index = jnp.array([3, 49, 0, 3, 17], jnp.int32)
    got = jax.jit(steps.gather)(jax.device_put(tree), index)
    want = take(tree, np.asarray(index))
    for name in tree:
        assert got[name].shape == want[name].shape and got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(np.asarray(got[name]), want[name])
