"""The layer-1 functions refuse what would give a silently wrong number (issue: a researcher's first hour
calling them directly), float64 runs end to end, and the messages name the fix in the caller's terms."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxae
from jaxae import likelihood, rbm, vae
from jaxae.errors import CheckpointError, ConfigError, DataError

KEY = jax.random.PRNGKey(0)


@pytest.fixture(scope="module")
def tiny_vae():
    model = vae.VAE(hidden=(8,), latent=2, n_features=6)
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 6))
    return model, model.init(KEY, x, jnp.zeros((4, 2)))["params"], x


def test_an_unknown_decoder_is_refused_and_the_known_ones_differ():
    logits, x = jax.random.normal(KEY, (3, 5)), jax.random.uniform(jax.random.PRNGKey(1), (3, 5))
    for typo in ("continuous_bernoulli", "Gaussian", "normal"):
        with pytest.raises(ConfigError, match=f"decoder must be one of bernoulli, continuous-bernoulli, gaussian, got '{typo}'"):
            vae.log_likelihood(typo, logits, x, jnp.zeros(()))
    values = {d: float(vae.log_likelihood(d, logits, x, jnp.zeros(())).sum()) for d in vae.DECODERS}
    assert len(set(values.values())) == 3  # three different likelihoods, none a silent stand-in


@pytest.mark.parametrize("pixels", [np.full((4, 6), 200, np.uint8), np.full((4, 6), 200.0, np.float32)])
def test_raw_pixels_are_refused(tiny_vae, pixels):
    model, params, _ = tiny_vae
    for fn in (lambda x: vae.iwae_bound(KEY, model, params, x, 2), lambda x: vae.elbo_terms(KEY, model, params, x),
               lambda x: vae.log_weights(KEY, model, params, x, 2)):
        with pytest.raises(DataError, match=r"x must be .*pixels in \[0, 1\].*to_unit, or x / 255.0"):
            fn(pixels)
    # under jit only the dtype can be checked: integers are still refused, floats assumed in range
    with pytest.raises(DataError, match="got uint8"):
        jax.jit(lambda x: vae.iwae_bound(KEY, model, params, x, 2))(np.full((4, 6), 200, np.uint8))


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_k_below_one_or_not_an_int_is_refused(tiny_vae, k):
    model, params, x = tiny_vae
    with pytest.raises(ConfigError, match="k must be"):
        vae.iwae_bound(KEY, model, params, x, k)
    with pytest.raises(ConfigError, match="k must be"):
        vae.elbo_terms(KEY, model, params, x, k)
    lw = lambda key, p, x, n: vae.log_weights(key, model, p, x, n)  # noqa: E731
    with pytest.raises(ConfigError, match="k must be|chunk must be"):
        likelihood.dataset_nll(KEY, lw, params, x, k=k, chunk=1)


def test_a_traced_k_says_to_mark_it_static(tiny_vae):
    model, params, x = tiny_vae
    with pytest.raises(ConfigError, match="static_argnames='k'"):
        jax.jit(lambda k: vae.iwae_bound(KEY, model, params, x, k))(3)


def test_dataset_nll_checks_what_log_weights_returns(tiny_vae):
    model, params, x = tiny_vae
    lw = lambda key, p, x, n: vae.log_weights(key, model, p, x, n)  # noqa: E731
    good = likelihood.dataset_nll(KEY, lw, params, x, k=4, chunk=2, batch_size=4)
    assert good.shape == (4,) and np.all(good > 0)
    with pytest.raises(ConfigError, match=r"must return \(k, batch\) = \(2, 4\).*got \(2,\)"):
        likelihood.dataset_nll(KEY, lambda *a: lw(*a).sum(axis=1), params, x, k=4, chunk=2, batch_size=4)
    with pytest.raises(ConfigError, match=r"= \(4, 3\).*got \(3, 4\); it returns \(batch, k\)"):  # k == batch: transposed
        likelihood.dataset_nll(KEY, lambda *a: lw(*a).T, params, x, k=4, chunk=4, batch_size=4)
    with pytest.raises(ConfigError, match=r"got \(4, 2\); it returns \(batch, k\): transpose it"):
        likelihood.dataset_nll(KEY, lambda *a: lw(*a).T, params, x, k=4, chunk=2, batch_size=4)


def test_rbm_functions_refuse_values_outside_their_units():
    params = rbm.init(KEY, 6, 3)
    grey = jnp.full((2, 6), 255.0)
    with pytest.raises(DataError, match=r"values in \[0, 1\], got \[255, 255\]"):
        rbm.free_energy(params, grey)
    with pytest.raises(DataError, match="need binary data"):
        rbm.pseudo_log_likelihood(KEY, params, grey)
    with pytest.raises(DataError, match="need binary data"):
        rbm.pseudo_log_likelihood(KEY, params, jnp.full((2, 6), 0.5))  # flipping needs 0/1 units
    probabilities = jnp.full((2, 6), 0.5)  # a mean-field pass is fine for the free energy
    assert np.isfinite(np.asarray(rbm.free_energy(params, probabilities))).all()
    gaussian = rbm.init(KEY, 6, 3, units=rbm.Units(visible="gaussian"))
    assert np.isfinite(np.asarray(rbm.free_energy(gaussian, grey))).all()  # real-valued units take any value


def test_rbm_raw_errors_are_one_line_jaxae_errors():
    params = rbm.init(KEY, 6, 3)
    with pytest.raises(ConfigError, match=r"units must be a jaxae.rbm.Units, got 'gaussian'; e.g. units=rbm.Units\(hidden='gaussian'\)"):
        rbm.init(KEY, 6, 3, units="gaussian")
    with pytest.raises(DataError, match="3 hidden units but h has 4"):
        rbm.sample_visible(KEY, params, jnp.ones((2, 4)))
    with pytest.raises(DataError, match="3 hidden units but h has 4"):
        rbm.energy(params, jnp.ones((2, 6)), jnp.ones((2, 4)))
    with pytest.raises(DataError, match="6 visible units but the data has 5"):
        rbm.energy(params, jnp.ones((2, 5)), jnp.ones((2, 3)))
    with pytest.raises(ConfigError, match=r"n_chains must be a Python int .* jax.jit\(rbm.ais.log_partition, static_argnames='n_chains'\)"):
        jax.jit(rbm.ais.log_partition)(KEY, params, params.b_vis, 10, 100)
    static = jax.jit(rbm.ais.log_partition, static_argnames=("n_chains", "n_temperatures"))
    assert np.isfinite(float(static(KEY, params, params.b_vis, n_chains=10, n_temperatures=100).log_z))
    for chunk in (0, 1.5):
        with pytest.raises(ConfigError, match="chunk must be"):
            rbm.exact_log_partition(params, chunk=chunk)


def test_train_config_and_task_errors_name_the_fix():
    with pytest.raises(ConfigError, match="epochs must be an integer >= 1, got 1.5"):
        jaxae.TrainConfig(epochs=1.5)
    with pytest.raises(ConfigError, match="seed must be an integer, got 0.5"):
        jaxae.TrainConfig(seed=0.5)
    from jaxae.tasks import MODELS

    task = MODELS["ae"].task(MODELS["ae"].config())
    data = jaxae.data.load("mnist-mini")
    with pytest.raises(ConfigError, match=r"pass the transformation itself \(e.g. optax.adam\(1e-3\)\), not its .update"):
        jaxae.fit(task._replace(optimizer=optax.adam(1e-3).update), data, jaxae.TrainConfig(epochs=1, progress=False))
    with pytest.raises(ConfigError, match=r"call it, e.g. optax.adam\(1e-3\)"):
        jaxae.fit(task._replace(optimizer=optax.adam), data, jaxae.TrainConfig(epochs=1, progress=False))


def test_messages_speak_python_from_python_and_flags_from_the_command_line(tmp_path, capsys):
    from jaxae.apps import cli

    with pytest.raises(CheckpointError) as refused:
        jaxae.load_run(str(tmp_path))  # an empty folder: not a run
    assert "pass the workdir of a training run" in str(refused.value) and "--" not in str(refused.value)
    assert "pass the --workdir of a training run" in refused.value.cli
    with pytest.raises(ConfigError) as refused:
        jaxae.TrainConfig(seeds=2, mode="stream")
    assert 'use mode="scan" or mode="step"' in str(refused.value)
    assert "--seeds and --lr-scales" in refused.value.cli and "use --mode scan or --mode step" in refused.value.cli
    assert cli.main(["eval", "--run", str(tmp_path)]) == 2  # the command line prints the flags
    assert "pass the --workdir of a training run" in capsys.readouterr().err


def test_float64_runs_end_to_end_when_enabled():
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: a.astype(jnp.float64), rbm.init(KEY, 7, 5, scale=0.5))
        v = (jax.random.uniform(jax.random.PRNGKey(1), (8, 7)) < 0.5).astype(jnp.float64)
        grads = rbm.cd_gradient(params, v, 1.0 - v)
        assert all(g.dtype == jnp.float64 for g in jax.tree.leaves(grads))
        # 2^5 hidden states, not a multiple of the chunk: the padded enumeration stays float64
        log_z = rbm.exact_log_partition(params, chunk=3)
        assert log_z.dtype == jnp.float64
        assert abs(float(log_z) - float(rbm.exact_log_partition(params))) < 1e-12
        estimator = rbm.pcd(k=1, n_chains=4)
        chains = estimator.init(KEY, params)
        grads, chains, _ = estimator.estimate(KEY, params, v, chains)
        assert chains.v.dtype == jnp.float64 and all(g.dtype == jnp.float64 for g in jax.tree.leaves(grads))
        ais = rbm.ais.log_partition(KEY, params, rbm.ais.base_rate_biases(v), n_chains=50, n_temperatures=2000)
        assert ais.log_z.dtype == jnp.float64
        assert abs(float(ais.log_z) - float(log_z)) < 4 * float(ais.log_z_std) + 0.05
    # float32 parameters are unchanged by x64 off: their gradients stay float32
    params32 = rbm.init(KEY, 7, 5)
    assert rbm.cd_gradient(params32, v.astype(jnp.float32), 1.0 - v.astype(jnp.float32)).W.dtype == jnp.float32


def test_an_nnx_module_whose_state_holds_rng_keys_is_refused_in_one_line():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.dense, self.drop = nnx.Linear(784, 784, rngs=rngs), nnx.Dropout(0.1, rngs=rngs)

    graphdef, _ = nnx.split(Net(nnx.Rngs(0)))

    def loss_fn(key, state, x):
        return jnp.mean((nnx.merge(graphdef, state).dense(x) - x) ** 2), {}

    task = jaxae.Task(name="nnx", init=lambda key, x: nnx.state(Net(nnx.Rngs(0))), estimator=jaxae.from_loss(loss_fn),
                      optimizer=optax.adam(1e-3), preprocess=lambda key, raw: raw.reshape(raw.shape[0], -1) / 255.0,
                      evaluate=lambda key, params, x: {"mse": jnp.mean(x, axis=-1)})
    with pytest.raises(ConfigError, match=r"parameters must all be floating point.*rngs.*nnx.split\(model, nnx.Param"):
        jaxae.fit(task, jaxae.data.load("mnist-mini"), jaxae.TrainConfig(epochs=1, progress=False))


def test_the_conditional_vae_refuses_raw_pixels_too():
    from jaxae import cvae

    model = cvae.CVAE(hidden=(8,), latent=2, n_features=6, classes=3)
    x, y = jax.random.uniform(KEY, (4, 6)), jnp.arange(4) % 3  # integer labels
    params = model.init(KEY, x, y, jnp.zeros((4, 2)))["params"]
    for fn in (lambda x: cvae.elbo_terms(KEY, model, params, x, y), lambda x: cvae.log_weights(KEY, model, params, x, y, 2)):
        with pytest.raises(DataError, match="got uint8"):
            fn(np.full((4, 6), 200, np.uint8))
        with pytest.raises(DataError, match=r"got values in \[0, 255\]"):
            fn(np.linspace(0, 255, 24, dtype=np.float32).reshape(4, 6))
    with pytest.raises(ConfigError, match="k must be at least 1"):
        cvae.log_weights(KEY, model, params, x, y, 0)
