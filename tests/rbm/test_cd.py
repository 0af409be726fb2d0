"""CD and PCD gradients against the exact gradient of small RBMs, the CD-k ramp, the written-out statistics."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError, DataError
from jaxae.estimators import StepCount
from tests.rbm.conftest import tiny_rbm


def exact_gradient(params, data):
    return jax.grad(lambda p: jnp.mean(rbm.free_energy(p, data)) + rbm.exact_log_partition(p))(params)


def cosine(a, b):
    a, b = (jnp.concatenate([x.ravel() for x in jax.tree.leaves(t)]) for t in (a, b))
    return float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


@pytest.mark.parametrize("name, estimator, threshold", [
    ("cd1", rbm.cd(1), 0.8), ("cd10", rbm.cd(10), 0.9), ("pcd5", rbm.pcd(5, 2000), 0.9)])
def test_gradient_estimates_point_along_the_exact_gradient(name, estimator, threshold):
    params = tiny_rbm()
    data = jax.random.bernoulli(jax.random.PRNGKey(5), 0.3, (256, 6)).astype(jnp.float32)
    exact = exact_gradient(params, data)
    state = estimator.init(jax.random.PRNGKey(6), params)
    if name.startswith("pcd"):  # let the persistent chains mix first
        state, _ = rbm.gibbs.run(jax.random.PRNGKey(7), state, params, 200)
    estimate = jax.jit(estimator.estimate)
    grads = [estimate(jax.random.PRNGKey(100 + i), params, data, state)[0] for i in range(20)]
    mean = jax.tree.map(lambda *g: jnp.mean(jnp.stack(g), axis=0), *grads)
    assert cosine(mean, exact) > threshold


@pytest.mark.parametrize("units", [rbm.Units(), rbm.Units(hidden="gaussian"), rbm.Units(labels=3),
                                   rbm.Units(visible="softmax", group=3)])
def test_cd_gradient_is_the_free_energy_gradient(units):
    """The written-out CD statistics equal autodiff of mean F(v_data) - mean F(v_model), for each unit type."""
    params = rbm.init(jax.random.PRNGKey(0), 12, 5, scale=0.3, units=units).replace(b_hid=jnp.linspace(-1, 1, 5))
    v_data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.4, (20, 12)).astype(jnp.float32)
    v_model = jax.random.bernoulli(jax.random.PRNGKey(2), 0.6, (16, 12)).astype(jnp.float32)
    explicit = rbm.cd_gradient(params, v_data, v_model)
    auto = jax.grad(lambda p: jnp.mean(rbm.free_energy(p, v_data)) - jnp.mean(rbm.free_energy(p, v_model)))(params)
    for a, b in zip(jax.tree.leaves(explicit), jax.tree.leaves(auto)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert explicit.units == units


def test_cd_ramp_grows_the_gibbs_steps_and_keeps_its_counter():
    params = tiny_rbm()
    data = jax.random.bernoulli(jax.random.PRNGKey(5), 0.3, (16, 6)).astype(jnp.float32)
    estimator = rbm.cd(1, k_final=5, ramp_steps=8)
    state = estimator.init(jax.random.PRNGKey(0), params)
    estimate = jax.jit(estimator.estimate)
    seen = []
    for i in range(10):
        _, state, metrics = estimate(jax.random.PRNGKey(i), params, data, state)
        seen.append(int(metrics["gibbs_steps"]))
    assert seen == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and int(state.count) == 10
    # at a fixed number of sweeps the ramp's while loop gives the same chain as the scan of cd(k)
    fixed = rbm.cd(3).estimate(jax.random.PRNGKey(9), params, data, optax.EmptyState())[0]
    ramped = estimate(jax.random.PRNGKey(9), params, data, StepCount(jnp.array(4)))[0]
    np.testing.assert_allclose(np.concatenate([np.ravel(x) for x in jax.tree.leaves(fixed)]),
                               np.concatenate([np.ravel(x) for x in jax.tree.leaves(ramped)]), atol=1e-6)


@pytest.mark.parametrize("make, match", [(lambda: rbm.cd(0), "k >= 1"), (lambda: rbm.pcd(1, 0), "n_chains must be at least 1"),
                                         (lambda: rbm.cd(1, sparsity=(0.0, 0.1)), "target in")])
def test_bad_estimator_settings(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_wrong_feature_count_is_a_clear_error_under_jit():
    with pytest.raises(DataError, match="visible units"):
        jax.jit(rbm.cd(1).estimate)(jax.random.PRNGKey(0), tiny_rbm(), jnp.ones((3, 7)), optax.EmptyState())


def test_a_researchers_own_training_loop():
    """CD-1 through an Optax optimizer inside the user's own lax.scan lowers the exact NLL of a tiny RBM."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    prototypes = jnp.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], jnp.float32)
    data = jnp.abs(prototypes[jax.random.bernoulli(k1, 0.5, (512,)).astype(int)]
                   - jax.random.bernoulli(k2, 0.05, (512, 6)))
    params = rbm.init(jax.random.PRNGKey(0), 6, 4, data_mean=data.mean(0))
    estimator, tx = rbm.cd(1), optax.sgd(0.1, momentum=0.5)

    def step(carry, i):
        params, opt_state, est_state = carry
        batch = jax.lax.dynamic_slice_in_dim(data, (i % 8) * 64, 64)
        grads, est_state, _ = estimator.estimate(jax.random.fold_in(jax.random.PRNGKey(1), i), params, batch, est_state)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, est_state), None

    start = (params, tx.init(params), estimator.init(jax.random.PRNGKey(2), params))
    (trained, _, _), _ = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(400)))(start)

    def nll(p):
        return float(jnp.mean(rbm.free_energy(p, data)) + rbm.exact_log_partition(p))

    assert nll(trained) < nll(params) - 1.0
