"""Energies, free energies, conditionals and exact log Z of every unit type, against enumeration."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError, DataError
from tests.rbm.conftest import exact_visible_distribution, tiny_rbm

GAUSSIAN_HIDDEN = rbm.Units(hidden="gaussian")


def test_exact_log_partition_matches_brute_force():
    for n_vis, n_hid in ((6, 4), (3, 7)):
        params = tiny_rbm(n_vis, n_hid)
        v, h = rbm.all_binary(n_vis), rbm.all_binary(n_hid)
        energies = jax.vmap(lambda hh: rbm.energy(params, v, jnp.broadcast_to(hh, (v.shape[0], n_hid))))(h)
        np.testing.assert_allclose(rbm.exact_log_partition(params), jax.nn.logsumexp(-energies), rtol=1e-6)


@pytest.mark.parametrize("n_vis, n_hid", [(6, 4), (4, 9)])
def test_gaussian_hidden_free_energy_and_log_z_normalise(n_vis, n_hid):
    """Gaussian hidden units: exp(-F(v) - log Z) sums to 1 over the binary visible states, whichever
    layer is enumerated (F and log Z leave out the same constant)."""
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    params = rbm.RBMParams(0.3 * jax.random.normal(k1, (n_vis, n_hid)), jax.random.normal(k2, (n_vis,)),
                           0.3 * jax.random.normal(k3, (n_hid,)), GAUSSIAN_HIDDEN)
    v = rbm.all_binary(n_vis)
    log_p = -rbm.free_energy(params, v) - rbm.exact_log_partition(params)
    assert float(jnp.sum(jnp.exp(log_p))) == pytest.approx(1.0, abs=1e-5)


def test_label_and_softmax_units_normalise():
    """Summing the visible layer out analytically (label group, softmax groups) gives the same log Z
    as enumerating the valid visible states."""
    labels = tiny_rbm(5, 3, seed=4, units=rbm.Units(labels=3))  # 2 bits + 3 labels
    states = jnp.array([[a, b, *np.eye(3)[c]] for a in (0, 1) for b in (0, 1) for c in range(3)], jnp.float32)
    np.testing.assert_allclose(rbm.exact_log_partition(labels), jax.nn.logsumexp(-rbm.free_energy(labels, states)),
                               rtol=1e-6)
    softmax = tiny_rbm(6, 3, seed=5, units=rbm.Units(visible="softmax", group=3))
    states = jnp.array([np.concatenate([np.eye(3)[a], np.eye(3)[b]]) for a in range(3) for b in range(3)], jnp.float32)
    np.testing.assert_allclose(rbm.exact_log_partition(softmax), jax.nn.logsumexp(-rbm.free_energy(softmax, states)),
                               rtol=1e-6)


def test_gaussian_visible_log_z_is_the_integral():
    """A 1-visible, 2-hidden Gaussian-Bernoulli RBM: log Z against quadrature over v."""
    params = rbm.RBMParams(jnp.array([[0.8, -0.5]]), jnp.array([0.3]), jnp.array([0.1, -0.2]),
                           rbm.Units(visible="gaussian"))
    grid = jnp.linspace(-15, 15, 30001)[:, None]
    integral = jnp.trapezoid(jnp.exp(-rbm.free_energy(params, grid)), grid[:, 0])
    np.testing.assert_allclose(rbm.exact_log_partition(params), jnp.log(integral), rtol=1e-5)


def test_gaussian_hidden_free_energy_is_the_integral_over_h():
    """F is -log of the integral of exp(-E) over h: one example by quadrature on a 1-unit RBM, up to
    the constant log(2 pi) / 2 that F leaves out."""
    one = rbm.RBMParams(jnp.array([[0.7], [-0.4]]), jnp.array([0.2, -0.1]), jnp.array([0.3]), GAUSSIAN_HIDDEN)
    v = jnp.array([[1.0, 1.0]])
    grid = jnp.linspace(-12, 12, 20001)[:, None]
    integral = jnp.trapezoid(jnp.exp(-rbm.energy(one, jnp.tile(v, (20001, 1)), grid)), grid[:, 0])
    np.testing.assert_allclose(-jnp.log(integral) + 0.5 * jnp.log(2 * jnp.pi), rbm.free_energy(one, v)[0], rtol=1e-5)
    key = jax.random.PRNGKey(0)
    params = rbm.init(key, 12, 5, scale=0.3, units=GAUSSIAN_HIDDEN)
    v_data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.4, (1, 12)).astype(jnp.float32)
    mean, h = rbm.sample_hidden(key, params, jnp.tile(v_data, (20000, 1)))
    np.testing.assert_allclose(mean[0], rbm.hidden_logits(params, v_data)[0])
    np.testing.assert_allclose(np.std(np.asarray(h - mean), axis=0), 1.0, atol=0.03)


def test_pseudo_likelihood_is_the_exact_conditional():
    params = tiny_rbm()
    v = jax.random.bernoulli(jax.random.PRNGKey(4), 0.5, (32, 6)).astype(jnp.float32)
    key = jax.random.PRNGKey(9)
    pl = rbm.pseudo_log_likelihood(key, params, v)
    i = jax.random.randint(key, (32,), 0, 6)
    v_all, p = exact_visible_distribution(params)
    index = lambda x: int(np.asarray(x) @ (2 ** np.arange(6)))  # noqa: E731
    for n in range(32):
        other = np.asarray(v[n]).copy()
        other[int(i[n])] = 1 - other[int(i[n])]
        exact = np.log(p[index(v[n])] / (p[index(v[n])] + p[index(other)]))
        assert float(pl[n]) == pytest.approx(float(exact), abs=1e-5)


def test_softmax_conditional_is_exact():
    """p(v | h) for 2 groups of K=3 softmax units against enumeration of the 9 one-hot states."""
    params = tiny_rbm(6, 4, seed=2, units=rbm.Units(visible="softmax", group=3))
    h = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (1, 4)).astype(jnp.float32)
    mean, sample = rbm.sample_visible(jax.random.PRNGKey(4), params, h)
    states = jnp.array([np.concatenate([np.eye(3)[a], np.eye(3)[b]]) for a in range(3) for b in range(3)], jnp.float32)
    log_p = -rbm.energy(params, states, jnp.broadcast_to(h, (9, 4)))
    p = jax.nn.softmax(log_p)
    np.testing.assert_allclose(mean[0], p @ states, rtol=1e-5, atol=1e-6)  # marginals of each unit
    assert np.asarray(sample).reshape(2, 3).sum(axis=1).tolist() == [1.0, 1.0]  # one-hot per group


def test_label_units_are_one_softmax_group():
    params = rbm.init(jax.random.PRNGKey(0), 8 + 3, 4, scale=1.0, units=rbm.Units(labels=3))
    h = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (500, 4)).astype(jnp.float32)
    mean, v = rbm.sample_visible(jax.random.PRNGKey(2), params, h)
    np.testing.assert_allclose(jnp.sum(mean[:, -3:], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(jnp.sum(v[:, -3:], axis=1), 1.0)
    np.testing.assert_allclose(mean[:, :8], jax.nn.sigmoid(rbm.visible_logits(params, h))[:, :8])
    assert set(np.unique(np.asarray(v[:, :8]))) <= {0.0, 1.0}


@pytest.mark.parametrize("kw, match", [
    ({"visible": "gausian"}, "visible units must be one of bernoulli, gaussian, softmax, got 'gausian'"),
    ({"hidden": "linear"}, "hidden units must be one of bernoulli, gaussian"),
    ({"visible": "softmax"}, "group size K >= 2"),
    ({"visible": "softmax", "group": 1}, "group size K >= 2"),
    ({"group": 3}, "only they take one"),
    ({"labels": 1}, "at least 2 classes"),
    ({"visible": "gaussian", "labels": 10}, "bernoulli visible units"),
])
def test_misspelt_or_inconsistent_units_are_clear_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        rbm.Units(**kw)


def test_sizes_that_do_not_fit_the_units():
    with pytest.raises(DataError, match="softmax groups of 5"):
        rbm.init(jax.random.PRNGKey(0), 12, 3, units=rbm.Units(visible="softmax", group=5))
    with pytest.raises(DataError, match="6 visible units but the data has 5 features"):
        rbm.free_energy(tiny_rbm(), jnp.ones((3, 5)))


def test_units_travel_with_the_parameters_through_transformations():
    params = tiny_rbm(units=GAUSSIAN_HIDDEN)
    v = jnp.ones((2, 6))
    grads = jax.grad(lambda p: jnp.sum(rbm.free_energy(p, v)))(params)
    assert isinstance(grads, rbm.RBMParams) and grads.units == GAUSSIAN_HIDDEN
    stacked = jax.tree.map(lambda x: jnp.stack([x, x]), params)
    assert jax.vmap(rbm.free_energy, in_axes=(0, None))(stacked, v).shape == (2, 2)
    assert jax.jit(rbm.free_energy)(params, v).shape == (2,)
    bernoulli = params.replace(units=rbm.Units())
    assert not np.allclose(rbm.free_energy(params, v), rbm.free_energy(bernoulli, v))  # the units matter


def test_exact_log_z_refuses_what_it_cannot_enumerate():
    with pytest.raises(ConfigError, match="jaxae.rbm.ais"):
        rbm.exact_log_partition(tiny_rbm(30, 30))
    with pytest.raises(ConfigError, match="at most 24 units"):
        rbm.exact_log_partition(tiny_rbm(3, 30, units=rbm.Units(visible="gaussian", hidden="gaussian")))


def test_non_binary_data_is_named():
    with pytest.raises(DataError, match="need binary data"):
        rbm.check_binary(jnp.array([[0.0, 0.5, 1.0]]))
    from jaxae.errors import CheckpointError

    with pytest.raises(CheckpointError, match="NaN or inf"):
        rbm.check_finite(tiny_rbm().replace(b_hid=jnp.array([0.0, jnp.nan, 0.0, 0.0])))


def test_uint8_pixels_are_refused_not_miscomputed():
    """uint8 0/255 data would give silently wrong energies (and NaN base rates); each entry refuses it."""
    params = tiny_rbm()
    pixels = jnp.full((3, 6), 255, jnp.uint8)
    with pytest.raises(DataError, match="must be floating point, got uint8.*binarize"):
        rbm.free_energy(params, pixels)
    with pytest.raises(DataError, match="must be floating point, got uint8"):
        jax.jit(rbm.cd(1).estimate)(jax.random.PRNGKey(0), params, pixels, None)
    with pytest.raises(DataError, match="float 0/1 data, got uint8"):
        rbm.ais.base_rate_biases(pixels)
    with pytest.raises(DataError, match="values in \\[0, 1\\]"):
        rbm.ais.base_rate_biases(jnp.full((3, 6), 255.0))
