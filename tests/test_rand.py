"""jaxae.rand outside the pmap backend's rows_split_over is exactly jax.random (so runs reproduce across versions of jaxae
that drew with jax.random directly); under pmap, see also tests/train/parallel_worker.py."""
import json
import os
import subprocess
import sys

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


def test_under_pmap_each_device_slices_a_whole_batch_draw_computed_on_its_own():
    """The pmap backend's draws equal one device's because each device computes the whole batch's draw as
    one device would and keeps its rows. If XLA fuses the row slice into the draw's float transform (as it
    did before the optimization barrier in jaxae.rand: erf_inv for `normal`), the device compiles another
    program than one device, and whether the last bits agree depends on the machine's code generator
    (they did not on one machine under jax 0.12; they do on others). So the compiled program is checked,
    not only the values on this machine."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "tests.rand_program_worker"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = json.loads(proc.stdout)
    for name, case in cases.items():
        assert case["equal"], name
        if name != "categorical":  # categorical adds the logits to its rows of the noise after the slice
            assert case["fused_into_slice"] == [], (name, case["fused_into_slice"])
