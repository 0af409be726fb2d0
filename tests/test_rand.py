"""jaxae.rand outside the pmap backend's rows_split_over is exactly jax.random (so runs reproduce across versions of jaxae
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


def test_a_users_axis_named_data_changes_nothing():
    """No axis-name magic: under a user's vmap(axis_name="data") the samplers draw exactly what they
    draw without an axis name (only the pmap backend's explicit rows_split_over splits draws)."""
    from jaxae import rbm, vae

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    p = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 6))
    params = rbm.init(jax.random.PRNGKey(2), 6, 3, scale=0.5)
    draws = {
        "bernoulli": lambda k, x: rand.bernoulli(k, x),
        "normal": lambda k, x: rand.normal(k, x.shape),
        "sample_hidden": lambda k, x: rbm.sample_hidden(k, params, x)[1],
        "sample_visible": lambda k, x: rbm.sample_visible(k, params, x[:, :3])[1],
        "latent": lambda k, x: vae.sample_latent(k, x[:, :2], x[:, 2:4], 3),
    }
    for name, draw in draws.items():
        named = jax.vmap(draw, axis_name="data")(keys, p)
        plain = jax.vmap(draw)(keys, p)
        np.testing.assert_array_equal(np.asarray(named), np.asarray(plain), err_msg=name)
        np.testing.assert_array_equal(np.asarray(named[1]), np.asarray(draw(keys[1], p[1])), err_msg=name)
