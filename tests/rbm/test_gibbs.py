"""Block Gibbs sampling: the chains reach the exact marginals, scan equals a Python loop, masks hold."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError
from tests.conftest import tree_equal
from tests.rbm.conftest import exact_visible_distribution, tiny_rbm

gibbs = rbm.gibbs


def test_gibbs_chains_reach_the_exact_marginals():
    params = tiny_rbm()
    v_all, p = exact_visible_distribution(params)
    exact_means = p @ v_all
    state = gibbs.init(jax.random.PRNGKey(1), params, jnp.zeros((4000, 6)))
    state, _ = gibbs.run(jax.random.PRNGKey(2), state, params, 200)
    empirical = np.asarray(state.v.mean(axis=0))
    sigma = np.sqrt(exact_means * (1 - exact_means) / 4000)
    assert np.all(np.abs(empirical - exact_means) < 4 * sigma + 1e-3)
    # joint distribution too: total variation distance over the 64 visible states
    index = np.asarray(state.v @ (2 ** jnp.arange(6)).astype(jnp.float32)).astype(int)
    tv = 0.5 * np.abs(np.bincount(index, minlength=64) / 4000 - np.asarray(p)).sum()
    assert tv < 0.06


def test_gaussian_hidden_chains_reach_the_exact_marginals():
    k1, k2 = jax.random.split(jax.random.PRNGKey(3))
    params = rbm.RBMParams(0.4 * jax.random.normal(k1, (6, 3)), 0.5 * jax.random.normal(k2, (6,)), jnp.zeros(3),
                           rbm.Units(hidden="gaussian"))
    v_all, p = exact_visible_distribution(params)
    kernel = gibbs.build_kernel(params.units)
    state = gibbs.init(jax.random.PRNGKey(1), params, jnp.zeros((4000, 6)))
    state, _ = jax.lax.scan(lambda s, i: (kernel(jax.random.fold_in(jax.random.PRNGKey(2), i), s, params)[0], None),
                            state, jnp.arange(200))
    exact_means = np.asarray(p @ v_all)
    sigma = np.sqrt(exact_means * (1 - exact_means) / 4000)
    assert np.all(np.abs(np.asarray(state.v.mean(axis=0)) - exact_means) < 4 * sigma + 1e-3)


def test_scan_equals_python_loop():
    params = tiny_rbm()
    start = gibbs.init(jax.random.PRNGKey(1), params, jnp.ones((5, 6)))
    scanned, _ = gibbs.run(jax.random.PRNGKey(3), start, params, 7)
    state = start
    kernel = gibbs.build_kernel(params.units)
    for i in range(7):
        state, _ = kernel(jax.random.fold_in(jax.random.PRNGKey(3), i), state, params)
    assert tree_equal(scanned, state)


def test_a_kernel_refuses_parameters_of_other_units():
    kernel = gibbs.build_kernel(rbm.Units(hidden="gaussian"))
    params = tiny_rbm()
    with pytest.raises(ConfigError, match="build it with build_kernel"):
        kernel(jax.random.PRNGKey(0), gibbs.init(jax.random.PRNGKey(0), params, jnp.ones((2, 6))), params)
    with pytest.raises(ConfigError, match="jaxae.rbm.Units"):
        gibbs.build_kernel("gaussian")


def test_masked_units_never_influence_the_hidden_layer():
    params = tiny_rbm()
    mask = jnp.array([[1, 1, 1, 0, 0, 0]], jnp.float32)
    state = gibbs.GibbsState(jnp.array([[1, 0, 1, 0, 0, 0]], jnp.float32), jnp.zeros((1, 4)))
    kernel = gibbs.build_kernel(params.units)
    for i in range(20):
        state, info = kernel(jax.random.PRNGKey(i), state, params, mask)
        assert float(jnp.abs(state.v * (1 - mask)).sum()) == 0.0 and float(jnp.abs(info.p_v * (1 - mask)).sum()) == 0.0
    # changing a masked-out unit's (absent) value cannot change p(h | v): it is zeroed before use
    v = jnp.array([[1, 0, 1, 1, 1, 1]], jnp.float32)
    p_masked, _ = rbm.sample_hidden(jax.random.PRNGKey(0), params, v * mask)
    p_other, _ = rbm.sample_hidden(jax.random.PRNGKey(0), params, jnp.array([[1, 0, 1, 0, 1, 0]], jnp.float32) * mask)
    np.testing.assert_array_equal(p_masked, p_other)


@pytest.mark.parametrize("n_steps", [0, -3, 2.5, True])
def test_n_steps_must_be_a_positive_int(n_steps):
    params = tiny_rbm()
    state = gibbs.init(jax.random.PRNGKey(0), params, jnp.ones((2, 6)))
    with pytest.raises(ConfigError, match="n_steps must be a positive int"):
        gibbs.run(jax.random.PRNGKey(1), state, params, n_steps)
