"""RBM core checked against exact oracles on RBMs small enough to enumerate."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxae
from jaxae import estimators
from jaxae.errors import ConfigError
from jaxae.models import rbm
from jaxae.samplers import gibbs
from tests.conftest import tree_equal


def tiny_rbm(n_vis=6, n_hid=4, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return rbm.RBMParams(jax.random.normal(k1, (n_vis, n_hid)), 0.5 * jax.random.normal(k2, (n_vis,)),
                         0.5 * jax.random.normal(k3, (n_hid,)))


def exact_visible_distribution(params):
    v = rbm.all_binary(params.W.shape[0])
    return v, jnp.exp(-rbm.free_energy(params, v) - rbm.exact_log_partition(params))


def test_exact_log_partition_matches_brute_force():
    for n_vis, n_hid in ((6, 4), (3, 7)):
        params = tiny_rbm(n_vis, n_hid)
        v, h = rbm.all_binary(n_vis), rbm.all_binary(n_hid)
        energies = jax.vmap(lambda hh: rbm.energy(params, v, jnp.broadcast_to(hh, (v.shape[0], n_hid))))(h)
        np.testing.assert_allclose(rbm.exact_log_partition(params), jax.nn.logsumexp(-energies), rtol=1e-6)


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


def test_scan_equals_python_loop():
    params = tiny_rbm()
    start = gibbs.init(jax.random.PRNGKey(1), params, jnp.ones((5, 6)))
    scanned, _ = gibbs.run(jax.random.PRNGKey(3), start, params, 7)
    state = start
    for i in range(7):
        state, _ = gibbs.kernel(jax.random.fold_in(jax.random.PRNGKey(3), i), state, params)
    assert tree_equal(scanned, state)


def exact_gradient(params, data):
    return jax.grad(lambda p: jnp.mean(rbm.free_energy(p, data)) + rbm.exact_log_partition(p))(params)


def cosine(a, b):
    a, b = jnp.concatenate([x.ravel() for x in a]), jnp.concatenate([x.ravel() for x in b])
    return float(a @ b / (jnp.linalg.norm(a) * jnp.linalg.norm(b)))


@pytest.mark.parametrize("name, estimator, threshold", [
    ("cd1", estimators.cd(1), 0.8), ("cd10", estimators.cd(10), 0.9), ("pcd5", estimators.pcd(5, 2000), 0.9)])
def test_gradient_estimates_point_along_the_exact_gradient(name, estimator, threshold):
    params = tiny_rbm()
    data = jax.random.bernoulli(jax.random.PRNGKey(5), 0.3, (256, 6)).astype(jnp.float32)
    exact = exact_gradient(params, data)
    state = estimator.init(jax.random.PRNGKey(6), params)
    if name.startswith("pcd"):  # let the persistent chains mix first
        state, _ = gibbs.run(jax.random.PRNGKey(7), state, params, 200)
    estimate = jax.jit(estimator.estimate)
    grads = [estimate(jax.random.PRNGKey(100 + i), params, data, state)[0] for i in range(20)]
    mean = jax.tree.map(lambda *g: jnp.mean(jnp.stack(g), axis=0), *grads)
    assert cosine(mean, exact) > threshold


def test_training_a_tiny_rbm_lowers_the_exact_nll():
    # two prototypes with 5% bit flips: correlated pixels that visible biases alone cannot model
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    prototypes = jnp.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], jnp.float32)
    clean = prototypes[jax.random.bernoulli(k1, 0.5, (512,)).astype(int)]
    data = jnp.abs(clean - jax.random.bernoulli(k2, 0.05, (512, 6)))
    data = jaxae.data.from_arrays(np.asarray(data, np.float32).reshape(512, 2, 3), np.zeros(512),
                                  np.asarray(data[:64], np.float32).reshape(64, 2, 3), np.zeros(64))
    config = rbm.RBMConfig(n_hidden=4, k=5, pcd=True, n_chains=200, learning_rate=0.1, momentum_switch=10**9)
    task = rbm.task(config)
    result = jaxae.fit(task, data, jaxae.TrainConfig(epochs=20, batch_size=64, progress=False))
    v = jnp.asarray(data.train_images.reshape(512, 6))

    def nll(p):
        return float(jnp.mean(rbm.free_energy(p, v)) + rbm.exact_log_partition(p))

    start = jaxae.train.init_state(task, 0, data.train_images[:64]).params
    assert nll(result.state.params) < nll(start) - 1.0  # nats per example


def test_pcd_chains_round_trip_through_a_checkpoint(tmp_path, small):
    task = rbm.task(rbm.RBMConfig(n_hidden=16, pcd=True, n_chains=32))
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), str(tmp_path))
    target = jaxae.train.init_state(task, 5, small.train_images[:64])
    epoch, restored = jaxae.train.Checkpointer(str(tmp_path / "checkpoints")).restore_latest(target)
    assert epoch == 1 and isinstance(restored.est_state, gibbs.GibbsState)
    assert tree_equal(restored, result.state)


@pytest.mark.parametrize("kw", [{"k": 0}, {"n_hidden": 0}, {"binarize": "gray"}, {"learning_rate": -1.0},
                                {"k": 5, "k_final": 2, "k_ramp_steps": 10}, {"k_final": 10},
                                {"sparsity_cost": 0.1, "sparsity_target": 0.0}, {"lr_decay_steps": -1}])
def test_bad_rbm_config(kw):
    with pytest.raises(ConfigError):
        rbm.RBMConfig(**kw)


def test_cd_with_zero_steps_is_refused():
    with pytest.raises(ConfigError, match="k >= 1"):
        estimators.cd(0)


def test_ais_log_partition_within_005_nats_of_exact():
    from jaxae.samplers import ais

    params = tiny_rbm(12, 8, seed=3)
    data = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3, (500, 12)).astype(jnp.float32)
    result = ais.log_partition(jax.random.PRNGKey(2), params, ais.base_rate_biases(data), 100, 14_500)
    exact = float(rbm.exact_log_partition(params))
    assert abs(float(result.log_z) - exact) < 0.05
    assert float(result.log_z_std) < 0.05
    assert 90 < float(result.ess) <= 100.001  # a good run: the weights are nearly equal
    rough = ais.log_partition(jax.random.PRNGKey(2), tiny_rbm(12, 8, seed=3)._replace(W=4 * params.W),
                              ais.base_rate_biases(data), 100, 3)
    assert float(rough.ess) < 20  # three temperatures on a strongly coupled RBM: a few chains dominate


def test_rbm_cli_train_and_pictures(tmp_path, capsys):
    import os

    from jaxae.cli import main

    run = str(tmp_path / "rbm")
    assert main(["train", "rbm", "--epochs", "1", "--batch-size", "100", "--n-hidden", "25", "--pcd",
                 "--workdir", run, "--no-progress"]) == 0
    assert "train_recon_error=" in capsys.readouterr().out
    assert main(["sample", "--run", run]) == 0
    assert sorted(os.listdir(tmp_path / "rbm" / "samples")) == ["filters.png", "samples.png"]
    capsys.readouterr()
    assert main(["eval", "--run", run, "--ais", "--ais-chains", "20", "--ais-temperatures", "500",
                 "--no-progress"]) == 0
    import json

    result = json.loads(capsys.readouterr().out.splitlines()[0])
    # 25 hidden units: too many to enumerate (the limit is 24), so only the AIS estimate is there
    assert "exact_log_z" not in result and result["ais_chains"] == 20
    free = result["test_free_energy"]
    assert result["test_log_likelihood"] == pytest.approx(-free - result["ais_log_z"], abs=1e-3)
    assert result["ais_log_z_stderr"] < result["test_log_likelihood_stderr"] < 5


def test_pseudo_likelihood_is_the_exact_conditional():
    params = tiny_rbm()
    v = jax.random.bernoulli(jax.random.PRNGKey(4), 0.5, (32, 6)).astype(jnp.float32)
    key = jax.random.PRNGKey(9)
    pl = rbm.pseudo_log_likelihood(key, params, v)
    i = jax.random.randint(key, (32,), 0, 6)
    v_all, p = exact_visible_distribution(params)
    index = lambda x: int(np.asarray(x) @ (2 ** np.arange(6)))
    for n in range(32):
        other = np.asarray(v[n]).copy()
        other[int(i[n])] = 1 - other[int(i[n])]
        exact = np.log(p[index(v[n])] / (p[index(v[n])] + p[index(other)]))
        assert float(pl[n]) == pytest.approx(float(exact), abs=1e-5)


def test_ais_matches_exact_log_z_on_a_trained_784_20_rbm(mini):
    from jaxae.samplers import ais

    task = rbm.task(rbm.RBMConfig(n_hidden=20))
    result = jaxae.fit(task, mini, jaxae.TrainConfig(epochs=2, batch_size=100, progress=False))
    params = result.state.params
    train = task.preprocess(jax.random.PRNGKey(0), jnp.asarray(mini.train_images))
    estimate = jax.jit(ais.log_partition, static_argnums=(3, 4))(
        jax.random.PRNGKey(1), params, ais.base_rate_biases(train), 100, 14_500)
    exact = float(rbm.exact_log_partition(params))  # 2^20 hidden states
    assert abs(float(estimate.log_z) - exact) < 0.1


def test_softmax_conditional_is_exact():
    """p(v | h) for 2 groups of K=3 softmax units against enumeration of the 9 one-hot states."""
    params = tiny_rbm(6, 4, seed=2)
    h = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (1, 4)).astype(jnp.float32)
    mean, sample = rbm.sample_visible(jax.random.PRNGKey(4), params, h, "softmax:3")
    states = jnp.array([np.concatenate([np.eye(3)[a], np.eye(3)[b]]) for a in range(3) for b in range(3)], jnp.float32)
    log_p = -rbm.energy(params, states, jnp.broadcast_to(h, (9, 4)))
    p = jax.nn.softmax(log_p)
    np.testing.assert_allclose(mean[0], p @ states, rtol=1e-5, atol=1e-6)  # marginals of each unit
    assert np.asarray(sample).reshape(2, 3).sum(axis=1).tolist() == [1.0, 1.0]  # one-hot per group


def test_masked_units_never_influence_the_hidden_layer():
    params = tiny_rbm()
    mask = jnp.array([[1, 1, 1, 0, 0, 0]], jnp.float32)
    state = gibbs.GibbsState(jnp.array([[1, 0, 1, 0, 0, 0]], jnp.float32), jnp.zeros((1, 4)))
    for i in range(20):
        state, info = gibbs.kernel(jax.random.PRNGKey(i), state, params, "bernoulli", mask)
        assert float(jnp.abs(state.v * (1 - mask)).sum()) == 0.0 and float(jnp.abs(info.p_v * (1 - mask)).sum()) == 0.0
    # changing a masked-out unit's (absent) value cannot change p(h | v): it is zeroed before use
    v = jnp.array([[1, 0, 1, 1, 1, 1]], jnp.float32)
    p_masked, _ = rbm.sample_hidden(jax.random.PRNGKey(0), params, v * mask)
    p_other, _ = rbm.sample_hidden(jax.random.PRNGKey(0), params, jnp.array([[1, 0, 1, 0, 1, 0]], jnp.float32) * mask)
    np.testing.assert_array_equal(p_masked, p_other)


def test_bad_visible_type():
    with pytest.raises(ConfigError, match="bernoulli, gaussian or softmax:K"):
        rbm.softmax_groups("poisson")
    with pytest.raises(ConfigError, match="at least 2 units"):
        rbm.softmax_groups("softmax:1")


def test_cd_ramp_grows_the_gibbs_steps_and_keeps_its_counter():
    params = tiny_rbm()
    data = jax.random.bernoulli(jax.random.PRNGKey(5), 0.3, (16, 6)).astype(jnp.float32)
    estimator = estimators.cd(1, k_final=5, ramp_steps=8)
    state = estimator.init(jax.random.PRNGKey(0), params)
    estimate = jax.jit(estimator.estimate)
    seen = []
    for i in range(10):
        _, state, metrics = estimate(jax.random.PRNGKey(i), params, data, state)
        seen.append(int(metrics["gibbs_steps"]))
    assert seen == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5] and int(state.count) == 10
    # at a fixed number of sweeps the ramp's while loop gives the same chain as the scan of cd(k)
    fixed = estimators.cd(3).estimate(jax.random.PRNGKey(9), params, data, optax.EmptyState())[0]
    ramped = estimate(jax.random.PRNGKey(9), params, data, estimators.StepCount(jnp.array(4)))[0]
    np.testing.assert_allclose(np.concatenate([np.ravel(x) for x in fixed]),
                               np.concatenate([np.ravel(x) for x in ramped]), atol=1e-6)


def test_sparsity_pushes_mean_hidden_activation_to_the_target(small):
    def mean_activation(config):
        result = jaxae.fit(rbm.task(config), small, jaxae.TrainConfig(epochs=3, batch_size=50, progress=False), None)
        v = rbm.task(config).preprocess(None, jnp.asarray(small.test_images))
        return float(jnp.mean(jax.nn.sigmoid(rbm.hidden_logits(result.state.params, v))))

    free = mean_activation(rbm.RBMConfig(n_hidden=32))
    sparse = mean_activation(rbm.RBMConfig(n_hidden=32, sparsity_target=0.05, sparsity_cost=0.5))
    assert free > 0.3 and sparse < 0.15  # measured: 0.46 without, 0.10 with the penalty after 3 epochs


def test_rbm_training_reports_the_free_energy_gap(small):
    result = jaxae.fit(rbm.task(rbm.RBMConfig(n_hidden=16)), small,
                       jaxae.TrainConfig(epochs=2, batch_size=50, progress=False), None)
    last = result.history[-1]
    assert last["free_energy_gap"] == pytest.approx(last["test_free_energy"] - last["train_eval_free_energy"])
    assert np.isfinite(last["train_eval_pseudo_ll"])


def test_wrong_feature_count_is_a_clear_error():
    from jaxae.errors import DataError

    with pytest.raises(DataError, match="6 visible units but the data has 5 features"):
        rbm.free_energy(tiny_rbm(), jnp.ones((3, 5)))
    with pytest.raises(DataError, match="visible units"):
        jax.jit(estimators.cd(1).estimate)(jax.random.PRNGKey(0), tiny_rbm(), jnp.ones((3, 7)), optax.EmptyState())


def test_non_binary_data_for_bernoulli_units_is_refused(small):
    from jaxae.errors import DataError

    with pytest.raises(DataError, match="need binary data"):
        rbm.check_binary(jnp.array([[0.0, 0.5, 1.0]]))
    with pytest.raises(DataError, match="binarize"):  # MNIST has grey pixels
        jaxae.fit(rbm.task(rbm.RBMConfig(n_hidden=4, binarize="none")), small,
                  jaxae.TrainConfig(epochs=1, batch_size=50, progress=False), None)
    binary = jaxae.data.from_arrays((np.asarray(small.train_images) > 127).astype(np.uint8) * 255,
                                    np.asarray(small.train_labels),
                                    (np.asarray(small.test_images) > 127).astype(np.uint8) * 255,
                                    np.asarray(small.test_labels), name="binary")
    jaxae.fit(rbm.task(rbm.RBMConfig(n_hidden=4, binarize="none")), binary,
              jaxae.TrainConfig(epochs=1, batch_size=50, progress=False), None)


def test_nan_parameters_are_refused_by_eval_and_sample(tmp_path, capsys):
    import orbax.checkpoint  # noqa: F401  (the checkpoint is rewritten through the Checkpointer)

    from jaxae import cli
    from jaxae.errors import CheckpointError

    with pytest.raises(CheckpointError, match="NaN or inf"):
        rbm.check_finite(tiny_rbm()._replace(b_hid=jnp.array([0.0, jnp.nan, 0.0, 0.0])))
    run = str(tmp_path / "run")
    assert cli.main(["train", "rbm", "--epochs", "1", "--n-hidden", "8", "--batch-size", "100", "--no-progress",
                     "--workdir", run]) == 0
    ckpt = jaxae.train.Checkpointer(os.path.join(run, "checkpoints"))
    task = rbm.task(rbm.RBMConfig(n_hidden=8))
    from jaxae.data import load
    data = load("mnist-mini")
    epoch, state = ckpt.restore_latest(jaxae.train.init_state(task, 0, data.train_images[:100]))
    ckpt.save(2, state._replace(params=state.params._replace(W=state.params.W.at[0, 0].set(jnp.nan))))
    capsys.readouterr()
    assert cli.main(["eval", "--run", run, "--ais", "--no-progress"]) == 2
    assert "contain NaN or inf" in capsys.readouterr().err
    assert cli.main(["sample", "--run", run]) == 2
