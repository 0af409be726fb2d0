"""Deep Boltzmann machines: every estimator and sampler against exact enumeration of a tiny model."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError, DataError
from jaxae.rbm import dbm


def random_dbm(seed, sizes, scale):
    """A DBM with N(0, scale^2) weights and N(0, 0.5^2) biases (strong weights: scale >= 1)."""
    key_w, key_b = jax.random.split(jax.random.key(seed))
    params = dbm.init(key_w, sizes, scale=scale)
    biases = tuple(0.5 * jax.random.normal(jax.random.fold_in(key_b, l), (n,)) for l, n in enumerate(sizes))
    return params.replace(biases=biases)


def every_state(sizes):
    """Every joint state as one (batch, n_l) array per layer (2^(sum of sizes) rows)."""
    states = np.array(list(itertools.product([0.0, 1.0], repeat=sum(sizes))), np.float32)
    return tuple(jnp.asarray(s) for s in np.split(states, np.cumsum(sizes)[:-1], axis=1))


def brute_log_z(params):
    return jax.nn.logsumexp(-dbm.energy(params, every_state(params.sizes)))


def brute_log_marginal(params, v):
    """log sum_h exp(-E(v, h)) by enumerating every hidden layer, (batch,)."""
    hidden = every_state(params.sizes[1:])
    def one(x):
        layers = (jnp.broadcast_to(x, (hidden[0].shape[0], x.shape[0])), *hidden)
        return jax.nn.logsumexp(-dbm.energy(params, layers))
    return jax.vmap(one)(v)


@pytest.mark.parametrize("sizes", [(4, 3, 4), (3, 3, 3, 3)])
def test_exact_log_z_and_marginal_sum_out_the_even_layers_correctly(sizes):
    params = random_dbm(0, sizes, scale=1.5)
    np.testing.assert_allclose(dbm.exact_log_partition(params, chunk=16), brute_log_z(params), rtol=1e-6)
    v = every_state(sizes[:1])[0]
    np.testing.assert_allclose(dbm.exact_log_marginal(params, v, chunk=8), brute_log_marginal(params, v), rtol=1e-6)


@pytest.mark.parametrize("sizes,seed,schedule", [((12, 8, 10), 1, "uniform"), ((10, 6, 8, 6), 2, "uniform"),
                                                  ((12, 8, 10), 3, "salakhutdinov")])
def test_ais_log_z_of_strongly_coupled_dbms_matches_enumeration(sizes, seed, schedule):
    params = random_dbm(seed, sizes, scale=2.0)
    exact = float(dbm.exact_log_partition(params))
    b_a = jnp.asarray(np.random.default_rng(seed).normal(0.0, 0.5, sizes[0]), jnp.float32)
    run = jax.jit(dbm.log_partition, static_argnames=("n_chains", "n_temperatures", "schedule"))
    result = run(jax.random.key(seed), params, b_a, n_chains=100, n_temperatures=10_000, schedule=schedule)
    error = abs(float(result.log_z) - exact)
    assert error < 0.05, (float(result.log_z), exact)
    assert error < 4 * float(result.log_z_std) + 1e-3, (float(result.log_z), exact, float(result.log_z_std))
    assert 1 <= float(result.ess) <= 100


def test_lower_bound_is_below_the_exact_log_likelihood_of_every_visible_vector():
    params = random_dbm(3, (8, 5, 6), scale=1.0)
    v = every_state((8,))[0]
    log_z = dbm.exact_log_partition(params)
    exact = dbm.exact_log_marginal(params, v) - log_z
    bound = dbm.lower_bound(params, v, log_z, n_updates=50)
    assert bool(jnp.all(bound <= exact + 1e-5))
    assert float(jnp.mean(exact - bound)) > 1e-3  # the hidden layers interact: q is not the posterior
    # any factorised q at all is a lower bound too, e.g. the bottom-up pass alone
    assert bool(jnp.all(dbm.unnormalized_bound(params, v, dbm.bottom_up(params, v)) - log_z <= exact + 1e-5))


@pytest.mark.parametrize("sizes", [(8, 5, 6), (6, 4, 5, 3)])
def test_lower_bound_is_exact_when_the_posterior_factorises(sizes):
    """With no weights between hidden layers, p(h | v) = p(h1 | v) p(h2) ... is factorial."""
    params = random_dbm(4, sizes, scale=1.0)
    params = params.replace(weights=(params.weights[0],) + tuple(jnp.zeros_like(W) for W in params.weights[1:]))
    v = every_state(sizes[:1])[0]
    log_z = dbm.exact_log_partition(params)
    np.testing.assert_allclose(dbm.lower_bound(params, v, log_z, n_updates=3),
                               dbm.exact_log_marginal(params, v) - log_z, atol=2e-5)


@pytest.mark.parametrize("damping", [0.0, 0.5])
def test_mean_field_is_a_fixed_point_of_its_update(damping):
    params = random_dbm(5, (20, 12, 10, 8), scale=0.3)
    v = jax.random.bernoulli(jax.random.key(0), 0.4, (16, 20)).astype(jnp.float32)
    mu = dbm.mean_field(params, v, n_updates=200, damping=damping)
    again = dbm.mean_field_update(params, v, mu)
    for a, b in zip(mu, again):
        np.testing.assert_allclose(a, b, atol=1e-6)
    if damping:  # damping changes the path, not the fixed point
        for a, b in zip(mu, dbm.mean_field(params, v, n_updates=200)):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_data_statistics_are_the_gradient_of_the_bound_at_fixed_mean_field():
    params = random_dbm(6, (7, 5, 4), scale=0.7)
    v = jax.random.bernoulli(jax.random.key(1), 0.5, (9, 7)).astype(jnp.float32)
    mu = dbm.mean_field(params, v, n_updates=30)
    zeros = tuple(jnp.zeros((1, n)) for n in params.sizes)
    expected = jax.grad(lambda p: -jnp.mean(dbm.unnormalized_bound(p, v, mu)))(params)
    got = dbm.statistics_gradient(params, (v, *mu), zeros)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_joint_training_gradient_matches_the_brute_force_gradient_of_the_bound():
    """mean_field_pcd's gradient, chains at equilibrium, = grad of -(bound(v, mu fixed) - exact log Z)."""
    params = random_dbm(7, (6, 4, 5), scale=0.8)
    v = jax.random.bernoulli(jax.random.key(2), 0.5, (32, 6)).astype(jnp.float32)
    mu = jax.lax.stop_gradient(dbm.mean_field(params, v, n_updates=10))
    brute = jax.grad(lambda p: dbm.exact_log_partition(p) - jnp.mean(dbm.unnormalized_bound(p, v, mu)))(params)
    estimator = dbm.mean_field_pcd(k=5, n_chains=20_000, mean_field_updates=10)
    estimate = jax.jit(estimator.estimate)
    chains = estimator.init(jax.random.key(3), params)
    for i in range(8):  # burn in: 40 sweeps at fixed parameters
        grads, chains, metrics = estimate(jax.random.key(10 + i), params, v, chains)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(brute)):
        np.testing.assert_allclose(a, b, atol=0.02)
    assert set(metrics) == {"recon_error", "mean_field_change"}


def test_gibbs_chains_reach_the_exact_marginals():
    params = random_dbm(8, (5, 4, 3), scale=1.0)
    layers = every_state(params.sizes)
    p = jax.nn.softmax(-dbm.energy(params, layers))
    exact_means = [p @ x for x in layers]
    state = dbm.init_chains(jax.random.key(4), params, 20_000)
    state, _ = jax.jit(dbm.run, static_argnums=3)(jax.random.key(5), state, params, 50)
    for x, m in zip(state.layers, exact_means):
        np.testing.assert_allclose(jnp.mean(x, axis=0), m, atol=0.015)


def test_doubled_cd_uses_the_doubled_conditionals_of_its_position():
    rbm_params = rbm.init(jax.random.key(6), 6, 4, scale=0.5)
    v = jax.random.bernoulli(jax.random.key(7), 0.5, (8, 6)).astype(jnp.float32)
    key = jax.random.key(8)
    for position, (up, down) in [("bottom", (2.0, 1.0)), ("top", (1.0, 2.0)), ("middle", (2.0, 2.0))]:
        estimator = dbm.doubled_cd(k=1, position=position)
        grads, _, _ = estimator.estimate(key, rbm_params, v, estimator.init(key, rbm_params))
        W, b, c = rbm_params.W, rbm_params.b_vis, rbm_params.b_hid
        ph = jax.nn.sigmoid(up * v @ W + c)  # the same draws as the estimator: fold_in(key, 0), split
        k_h, k_v = jax.random.split(jax.random.fold_in(key, 0))
        h = jax.random.bernoulli(k_h, ph).astype(jnp.float32)
        vm = jax.random.bernoulli(k_v, jax.nn.sigmoid(down * h @ W.T + b)).astype(jnp.float32)
        phm = jax.nn.sigmoid(up * vm @ W + c)
        np.testing.assert_allclose(grads.W, (vm.T @ phm - v.T @ ph) / 8, atol=1e-6)
        np.testing.assert_allclose(grads.b_hid, jnp.mean(phm - ph, axis=0), atol=1e-6)
    assert dbm.positions(3) == ("bottom", "middle", "top")


def test_from_rbms_chains_pretrained_rbms_into_a_dbm():
    a, b = rbm.init(jax.random.key(0), 6, 4), rbm.init(jax.random.key(1), 4, 3)
    a, b = a.replace(b_hid=jnp.ones(4)), b.replace(b_vis=3 * jnp.ones(4), b_hid=2 * jnp.ones(3))
    params = dbm.from_rbms([a, b])
    assert params.sizes == (6, 4, 3)
    np.testing.assert_allclose(params.biases[1], 2.0)
    np.testing.assert_allclose(params.biases[2], 2.0)
    with pytest.raises(ConfigError, match="must chain"):
        dbm.from_rbms([a, a])


def test_dbm_math_composes_with_vmap_and_jit():
    stack = jax.vmap(lambda k: dbm.init(k, (6, 4, 3), scale=0.5))(jax.random.split(jax.random.key(0), 3))
    v = jax.random.bernoulli(jax.random.key(1), 0.5, (5, 6)).astype(jnp.float32)
    log_z = jax.vmap(dbm.exact_log_partition)(stack)
    bounds = jax.jit(jax.vmap(lambda p, z: dbm.lower_bound(p, v, z)))(stack, log_z)
    assert bounds.shape == (3, 5)
    one = jax.tree.map(lambda x: x[1], stack)
    np.testing.assert_allclose(bounds[1], dbm.lower_bound(one, v, dbm.exact_log_partition(one)), rtol=1e-5)


def test_bad_input_gets_a_message_that_says_what_to_do():
    params = dbm.init(jax.random.key(0), (6, 4, 3))
    with pytest.raises(DataError, match="binarize"):
        dbm.mean_field(params, jnp.ones((2, 6), jnp.uint8))
    with pytest.raises(DataError, match="6 visible units"):
        dbm.mean_field(params, jnp.ones((2, 5)))
    with pytest.raises(ConfigError, match=r"W_2 has shape"):
        dbm.exact_log_partition(params.replace(weights=(params.weights[0], jnp.zeros((5, 3)))))
    with pytest.raises(ConfigError, match="damping"):
        dbm.mean_field_pcd(damping=1.0)
    with pytest.raises(ConfigError, match="static"):
        jax.jit(dbm.mean_field)(params, jnp.ones((2, 6)), 3)
    with pytest.raises(ConfigError, match="log_partition"):
        dbm.exact_log_partition(dbm.init(jax.random.key(0), (4, 30, 3)))
    with pytest.raises(DataError, match="not 0 or 1"):
        dbm.check_binary(np.array([0.0, 0.5]))
