"""jaxae.rand outside the pmap backend is exactly jax.random (so runs reproduce across versions of jaxae
that drew with jax.random directly); under pmap, see tests/train/parallel_worker.py."""
import jax
import numpy as np

from jaxae import rand


def test_rand_is_jax_random_outside_pmap():
    key = jax.random.PRNGKey(7)
    p = jax.random.uniform(jax.random.PRNGKey(8), (16, 5))
    pairs = [
        (rand.bernoulli(key, p), jax.random.bernoulli(key, p)),
        (rand.bernoulli(key, 0.3, (16, 5)), jax.random.bernoulli(key, 0.3, (16, 5))),
        (rand.normal(key, (3, 16, 5), axis=1), jax.random.normal(key, (3, 16, 5))),
        (rand.uniform(key, (16, 5)), jax.random.uniform(key, (16, 5))),
        (rand.categorical(key, p), jax.random.categorical(key, p)),
        (rand.categorical(key, p.reshape(16, 5, 1).repeat(3, -1)), jax.random.categorical(key, p.reshape(16, 5, 1).repeat(3, -1))),
        (rand.randint(key, (16,), 0, 5), jax.random.randint(key, (16,), 0, 5)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert not np.array_equal(rand.normal(key, (16, 5)), rand.normal(jax.random.PRNGKey(9), (16, 5)))
