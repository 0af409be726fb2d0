"""The rbm task: training through fit, checkpoints, the practical guide's monitors, the command line."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae import rbm
from jaxae.errors import ConfigError, DataError
from jaxae.tasks import rbm as rbm_task
from tests.conftest import tree_equal


def test_training_a_tiny_rbm_lowers_the_exact_nll():
    # two prototypes with 5% bit flips: correlated pixels that visible biases alone cannot model
    k1, k2 = jax.random.split(jax.random.PRNGKey(5))
    prototypes = jnp.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], jnp.float32)
    clean = prototypes[jax.random.bernoulli(k1, 0.5, (512,)).astype(int)]
    data = jnp.abs(clean - jax.random.bernoulli(k2, 0.05, (512, 6)))
    data = jaxae.data.from_arrays(np.asarray(data, np.float32).reshape(512, 2, 3), np.zeros(512),
                                  np.asarray(data[:64], np.float32).reshape(64, 2, 3), np.zeros(64))
    config = rbm_task.RBMConfig(n_hidden=4, k=5, pcd=True, n_chains=200, learning_rate=0.1, momentum_switch=10**9)
    task = rbm_task.task(config)
    result = jaxae.fit(task, data, jaxae.TrainConfig(epochs=20, batch_size=64, progress=False))
    v = jnp.asarray(data.train_images.reshape(512, 6))

    def nll(p):
        return float(jnp.mean(rbm.free_energy(p, v)) + rbm.exact_log_partition(p))

    start = jaxae.train.init_state(task, 0, data.train_images[:64]).params
    assert nll(result.state.params) < nll(start) - 1.0  # nats per example


def test_pcd_chains_round_trip_through_a_checkpoint(tmp_path, small):
    task = rbm_task.task(rbm_task.RBMConfig(n_hidden=16, pcd=True, n_chains=32))
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), str(tmp_path))
    target = jaxae.train.init_state(task, 5, small.train_images[:64])
    epoch, restored = jaxae.train.Checkpointer(str(tmp_path / "checkpoints")).restore_latest(target)
    assert epoch == 1 and isinstance(restored.est_state, rbm.GibbsState)
    assert tree_equal(restored, result.state)


@pytest.mark.parametrize("kw", [{"k": 0}, {"n_hidden": 0}, {"binarize": "gray"}, {"learning_rate": -1.0},
                                {"k": 5, "k_final": 2, "k_ramp_steps": 10}, {"k_final": 10},
                                {"sparsity_cost": 0.1, "sparsity_target": 0.0}, {"lr_decay_steps": -1},
                                {"momentum": 1.0}, {"final_momentum": -0.1}, {"momentum_switch": -1}])
def test_bad_rbm_config(kw):
    with pytest.raises(ConfigError):
        rbm_task.RBMConfig(**kw)


@pytest.mark.parametrize("m0,m1", [(0.5, 0.9), (0.0, 0.9), (0.5, 0.0)])
def test_momentum_switches_at_the_given_step(m0, m1):
    """The optimizer's momentum is m0 before momentum_switch and m1 from it on (momentum 0 included: it
    used to divide by zero)."""
    tx = rbm_task.optimizer(rbm_task.RBMConfig(momentum=m0, final_momentum=m1, momentum_switch=2))
    params = rbm.init(jax.random.PRNGKey(0), 3, 2)
    state, seen = tx.init(params), []
    for _ in range(4):
        _, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
        seen.append(float(state[1].hyperparams["momentum"]))
    # inject_hyperparams records the value used by the update just made (steps 0, 1, 2, 3)
    np.testing.assert_allclose(seen, [m0, m0, m1, m1], rtol=1e-7)


def test_rbm_cli_train_and_pictures(tmp_path, capsys):
    from jaxae.apps.cli import main

    run = str(tmp_path / "rbm")
    assert main(["train", "rbm", "--epochs", "1", "--batch-size", "100", "--n-hidden", "25", "--pcd",
                 "--workdir", run, "--no-progress"]) == 0
    assert "train_recon_error=" in capsys.readouterr().out
    assert main(["sample", "--run", run]) == 0
    assert sorted(os.listdir(tmp_path / "rbm" / "samples")) == ["filters.png", "samples.png"]
    capsys.readouterr()
    assert main(["eval", "--run", run, "--ais", "--ais-chains", "20", "--ais-temperatures", "500",
                 "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    # 25 hidden units: too many to enumerate (the limit is 24), so only the AIS estimate is there
    assert "exact_log_z" not in result and result["ais_chains"] == 20
    free = result["test_free_energy"]
    assert result["test_log_likelihood"] == pytest.approx(-free - result["ais_log_z"], abs=1e-3)
    assert result["ais_log_z_stderr"] < result["test_log_likelihood_stderr"] < 5
    # a schedule that cannot be laid on so few temperatures is refused before any work, eval.json kept
    before = (tmp_path / "rbm" / "eval.json").read_text()
    assert main(["eval", "--run", run, "--ais", "--ais-temperatures", "3", "--ais-schedule", "salakhutdinov",
                 "--no-progress"]) == 2
    assert "n_temperatures" in capsys.readouterr().err
    # AIS options without --ais would be ignored: refused in one line, eval.json kept
    assert main(["eval", "--run", run, "--ais-chains", "20", "--ais-schedule", "uniform", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "jaxae: error: --ais-chains, --ais-schedule only take effect with --ais; add --ais to estimate log Z, or drop them")
    assert (tmp_path / "rbm" / "eval.json").read_text() == before


def test_ais_matches_exact_log_z_on_a_trained_784_20_rbm(mini):
    ais = rbm.ais
    task = rbm_task.task(rbm_task.RBMConfig(n_hidden=20))
    result = jaxae.fit(task, mini, jaxae.TrainConfig(epochs=2, batch_size=100, progress=False))
    params = result.state.params
    train = task.preprocess(jax.random.PRNGKey(0), jnp.asarray(mini.train_images))
    estimate = jax.jit(ais.log_partition, static_argnums=(3, 4))(
        jax.random.PRNGKey(1), params, ais.base_rate_biases(train), 100, 14_500)
    exact = float(rbm.exact_log_partition(params))  # 2^20 hidden states
    assert abs(float(estimate.log_z) - exact) < 0.1


def test_sparsity_pushes_mean_hidden_activation_to_the_target(small):
    def mean_activation(config):
        train = jaxae.TrainConfig(epochs=3, batch_size=50, progress=False)
        result = jaxae.fit(rbm_task.task(config), small, train, None)
        v = rbm_task.task(config).preprocess(None, jnp.asarray(small.test_images))
        return float(jnp.mean(jax.nn.sigmoid(rbm.hidden_logits(result.state.params, v))))

    free = mean_activation(rbm_task.RBMConfig(n_hidden=32))
    sparse = mean_activation(rbm_task.RBMConfig(n_hidden=32, sparsity_target=0.05, sparsity_cost=0.5))
    assert free > 0.3 and sparse < 0.15  # measured: 0.46 without, 0.10 with the penalty after 3 epochs


def test_rbm_training_reports_the_free_energy_gap(small):
    result = jaxae.fit(rbm_task.task(rbm_task.RBMConfig(n_hidden=16)), small,
                       jaxae.TrainConfig(epochs=2, batch_size=50, train_eval=True, progress=False), None)
    last = result.history[-1]
    assert last["free_energy_gap"] == pytest.approx(last["test_free_energy"] - last["train_eval_free_energy"])
    assert np.isfinite(last["train_eval_pseudo_ll"])


def test_non_binary_data_for_bernoulli_units_is_refused(small):
    with pytest.raises(DataError, match="binarize"):  # MNIST has grey pixels
        jaxae.fit(rbm_task.task(rbm_task.RBMConfig(n_hidden=4, binarize="none")), small,
                  jaxae.TrainConfig(epochs=1, batch_size=50, progress=False), None)
    binary = jaxae.data.from_arrays((np.asarray(small.train_images) > 127).astype(np.uint8) * 255,
                                    np.asarray(small.train_labels),
                                    (np.asarray(small.test_images) > 127).astype(np.uint8) * 255,
                                    np.asarray(small.test_labels), name="binary")
    jaxae.fit(rbm_task.task(rbm_task.RBMConfig(n_hidden=4, binarize="none")), binary,
              jaxae.TrainConfig(epochs=1, batch_size=50, progress=False), None)


def test_nan_parameters_are_refused_by_eval_and_sample(tmp_path, capsys):
    from jaxae.apps import cli

    run = str(tmp_path / "run")
    assert cli.main(["train", "rbm", "--epochs", "1", "--n-hidden", "8", "--batch-size", "100", "--no-progress",
                     "--workdir", run]) == 0
    ckpt = jaxae.train.Checkpointer(os.path.join(run, "checkpoints"))
    task = rbm_task.task(rbm_task.RBMConfig(n_hidden=8))
    data = jaxae.data.load("mnist-mini")
    epoch, state = ckpt.restore_latest(jaxae.train.init_state(task, 0, data.train_images[:100]))
    ckpt.save(2, state._replace(params=state.params.replace(W=state.params.W.at[0, 0].set(jnp.nan))))
    capsys.readouterr()
    assert cli.main(["eval", "--run", run, "--ais", "--no-progress"]) == 2
    assert "contain NaN or inf" in capsys.readouterr().err
    assert cli.main(["sample", "--run", run]) == 2



def test_gaussian_hidden_ais_uses_the_right_free_energy(tmp_path, capsys):
    """`jaxae eval --ais` on a --hidden gaussian RBM: the log-likelihood's free energy is the trainer's
    test_free_energy (it used to be the Bernoulli-hidden model's), and log Z comes from Gaussian AIS."""
    from jaxae.apps.cli import main

    run = str(tmp_path / "gauss")
    assert main(["train", "rbm", "--hidden", "gaussian", "--learning-rate", "0.001", "--n-hidden", "16",
                 "--epochs", "1", "--batch-size", "100", "--workdir", run, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", run, "--ais", "--ais-chains", "10", "--ais-temperatures", "300", "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    last = json.loads((tmp_path / "gauss" / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["test_mean_free_energy"] == pytest.approx(last["test_free_energy"], rel=1e-5)
    assert result["test_log_likelihood"] == pytest.approx(-result["test_mean_free_energy"] - result["ais_log_z"])
