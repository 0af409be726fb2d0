"""Annealed importance sampling against exact log Z, for Bernoulli and Gaussian hidden units."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError
from tests.rbm.conftest import tiny_rbm

ais = rbm.ais


def test_ais_log_partition_within_005_nats_of_exact():
    params = tiny_rbm(12, 8, seed=3)
    data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3, (500, 12)).astype(jnp.float32)
    result = ais.log_partition(jax.random.PRNGKey(2), params, ais.base_rate_biases(data), 100, 14_500)
    exact = float(rbm.exact_log_partition(params))
    assert abs(float(result.log_z) - exact) < 0.05
    assert float(result.log_z_std) < 0.05
    assert 90 < float(result.ess) <= 100.001  # a good run: the weights are nearly equal
    rough = ais.log_partition(jax.random.PRNGKey(2), params.replace(W=4 * params.W),
                              ais.base_rate_biases(data), 100, 3)
    assert float(rough.ess) < 20  # three temperatures on a strongly coupled RBM: a few chains dominate


def test_salakhutdinov_schedule_has_their_step_sizes_and_estimates_log_z():
    betas = np.asarray(ais.temperatures(14_501, "salakhutdinov", jnp.float64 if jax.config.jax_enable_x64
                                        else jnp.float32))
    steps = np.diff(betas)
    assert betas[0] == 0.0 and betas[-1] == 1.0 and np.all(steps > 0)
    np.testing.assert_allclose([steps[:500].mean(), steps[500:4500].mean(), steps[4500:].mean()],
                               [1e-3, 1e-4, 1e-5], rtol=1e-3)
    np.testing.assert_allclose(betas[[500, 4500]], [0.5, 0.9], atol=1e-6)
    assert np.asarray(ais.temperatures(4, "salakhutdinov")).tolist() == pytest.approx([0.0, 0.5, 0.9, 1.0])
    params = tiny_rbm(12, 8, seed=3).replace(W=3 * tiny_rbm(12, 8, seed=3).W)
    data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3, (500, 12)).astype(jnp.float32)
    run = jax.jit(ais.log_partition, static_argnames=("n_chains", "n_temperatures", "schedule"))
    result = run(jax.random.PRNGKey(4), params, ais.base_rate_biases(data), n_chains=100, n_temperatures=5_000,
                 schedule="salakhutdinov")
    error = abs(float(result.log_z) - float(rbm.exact_log_partition(params)))
    assert error < 0.05 and error < 4 * float(result.log_z_std) + 1e-3


@pytest.mark.parametrize("n,schedule", [(3, "salakhutdinov"), (100, "geometric")])
def test_temperatures_refuses_bad_schedules(n, schedule):
    with pytest.raises(ConfigError, match="schedule must be one of|n_temperatures"):
        ais.temperatures(n, schedule)


def test_ais_handles_gaussian_hidden_units():
    """The free energy of Gaussian hidden units is analytic, so AIS anneals them too; checked against
    enumerating the 2^12 visible states."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(7))
    params = rbm.RBMParams(0.3 * jax.random.normal(k1, (12, 30)), 0.5 * jax.random.normal(k2, (12,)),
                           jnp.zeros(30), rbm.Units(hidden="gaussian"))
    data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3, (500, 12)).astype(jnp.float32)
    result = jax.jit(ais.log_partition, static_argnums=(3, 4))(
        jax.random.PRNGKey(2), params, ais.base_rate_biases(data), 100, 5_000)
    assert abs(float(result.log_z) - float(rbm.exact_log_partition(params))) < 0.05


@pytest.mark.parametrize("units", [rbm.Units(labels=3), rbm.Units(visible="gaussian"),
                                   rbm.Units(visible="softmax", group=3)])
def test_ais_refuses_units_it_does_not_anneal(units):
    params = tiny_rbm(12, 4, units=units)
    with pytest.raises(ConfigError, match="cannot be estimated by jaxae.rbm.ais"):
        ais.log_partition(jax.random.PRNGKey(0), params, jnp.zeros(12), 10, 10)
