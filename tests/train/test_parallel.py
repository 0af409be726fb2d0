"""Data parallelism on 8 forced CPU devices equals one device; vmapped seeds equal single runs."""
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae.tasks import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


DRAWS = ("normal", "bernoulli", "normal axis 1", "uniform", "categorical", "randint")


@pytest.fixture(scope="module")
def eight_devices():
    """What tests/train/parallel_worker.py measured in a process with 8 forced CPU devices (run once)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=8".strip()
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-m", "tests.train.parallel_worker"], check=False, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_under_pmap_each_device_slices_a_whole_batch_draw_computed_on_its_own(eight_devices):
    """The pmap backend's draws equal one device's because each device computes the whole batch's draw as
    one device would and keeps its rows. If XLA fuses the row slice into the draw's float transform (as it
    did before the optimization barrier in jaxae.rand: erf_inv for `normal`), the device compiles another
    program than one device does, and whether the last bits agree depends on the machine's code generator
    (they did not on one machine under jax 0.12; they do on this project's AVX2 CPUs). So the compiled
    program is checked, not only the values on this machine. The XLA of jaxlib 0.10 removes optimization
    barriers before fusion, so there the program stays fused as it always was (and its values still
    match one device's: test_mesh_and_pmap_on_8_devices_train_the_same_model_as_one_device)."""
    if not eight_devices["xla keeps barriers"]:
        pytest.skip(f"this XLA (jax {jax.__version__}) removes optimization barriers before fusion")
    for name in DRAWS:
        fused = eight_devices[f"rand {name} fused into the slice"]
        if name != "categorical":  # categorical adds the logits to its rows of the noise after the slice
            assert fused == [], (name, fused)


def test_mesh_and_pmap_on_8_devices_train_the_same_model_as_one_device(eight_devices):
    """Data parallel (batch split) with both backends for five models (an NNX VAE too), checkpoints resumed, and 8
    vmapped models split over the 8 devices."""
    cases = {name: case for name, case in eight_devices.items()
             if not name.endswith("fused into the slice") and name != "xla keeps barriers"}
    assert cases.pop("batch 60 on 8 devices").startswith("batch_size 60 does not split over 8 devices")
    assert cases.pop("pmap 60 chains").startswith("the estimator's 60 persistent chains do not split over 8 devices")
    assert cases.pop("pmap seeds").startswith('parallel="pmap" trains one model')  # from Python: keywords
    assert cases.pop("refused runs left a folder") is False  # nothing written before the error
    for name in DRAWS:
        assert cases.pop(f"rand {name}") is True, name  # each device draws its rows of the whole batch's draw
    assert cases["rbm-pcd seeds=8"].pop("per_device_models") == 1  # 8 models, one on each device
    assert len(cases) == 15
    assert sum(case["backend"] == "pmap" for case in cases.values()) == 7
    for parallel in ("mesh", "pmap"):
        assert cases[f"rbm-pcd {parallel} resume"]["params"] == 0.0  # a sharded run resumes bit for bit
    for case, diff in cases.items():
        assert diff["devices"] == 8 and diff["history_devices"] == 8, case  # really spread over 8 devices
        # float32 sums in another order: measured differences are ~1e-5 relative after 16 steps
        assert diff["params"] < 1e-4, (case, diff)
        assert diff["est_state"] < 1e-4, (case, diff)  # PCD chains: the same Bernoulli draws


def test_parallel_option_is_checked():
    with pytest.raises(ConfigError, match="parallel must be one of"):
        jaxae.TrainConfig(parallel="shard")
    with pytest.raises(ConfigError, match='seeds and lr_scales .* use mode="scan"'):
        jaxae.TrainConfig(seeds=2, mode="stream")


# (the VAE case, reparameterisation noise under vmap, is in test_learning_rate_sweep_equals_single_runs)
@pytest.mark.parametrize("name,options,metric", [("rbm", {"n_hidden": 32, "pcd": True, "n_chains": 32}, "test_recon_error")])
def test_vmapped_seeds_equal_single_runs(small, tmp_path, name, options, metric):
    entry = MODELS[name]
    task = entry.task(entry.config(**options))
    train = jaxae.TrainConfig(epochs=2, batch_size=64, seed=5, seeds=2, progress=False)
    many = jaxae.fit(task, small, train, str(tmp_path / "many"))
    assert np.asarray(many.state.step).shape == (2,)
    last = many.history[-1]
    assert len(last[f"{metric}_per_model"]) == 2 and last["models"] == 2
    for i in range(2):
        one = jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, seed=5 + i, progress=False))
        for a, b in zip(jax.tree.leaves(one.state.params), jax.tree.leaves(many.state.params)):
            np.testing.assert_allclose(np.asarray(b)[i], a, rtol=1e-4, atol=1e-5)
        assert abs(one.history[-1][metric] - last[f"{metric}_per_model"][i]) < 1e-3 * abs(one.history[-1][metric])
    # the stack of models resumes like one model
    more = jaxae.fit(task, small, jaxae.TrainConfig(epochs=3, batch_size=64, seed=5, seeds=2, progress=False),
                     str(tmp_path / "many"), resume=True)
    assert [r["epoch"] for r in more.history] == [3]


def test_seeds_cli_prints_mean_and_std(tmp_path, capsys):
    from jaxae.apps import cli

    assert cli.main(["train", "ae", "--epochs", "1", "--seeds", "2", "--no-progress", "--workdir", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "2 models (seeds 0..1)" in out and "±" in out
    assert cli.main(["train", "ae", "--epochs", "1", "--seeds", "2", "--mode", "stream", "--workdir", str(tmp_path / "s")]) == 2


def test_a_run_recorded_before_an_option_existed_resumes(small, tmp_path):
    from jaxae.tasks import ae as autoencoder

    task = autoencoder.task(MODELS["ae"].config())
    folder = tmp_path / "old"
    jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), str(folder))
    config = json.loads((folder / "config.json").read_text())
    del config["train"]["seeds"], config["train"]["parallel"]  # as written by jaxae before --seeds existed
    (folder / "config.json").write_text(json.dumps(config))
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, progress=False), str(folder), resume=True)
    assert [r["epoch"] for r in result.history] == [2]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="seeds"):  # a non-default value is still a different run
        jaxae.fit(task, small, jaxae.TrainConfig(epochs=3, batch_size=64, seeds=2, progress=False), str(folder),
                  resume=True)


def test_learning_rate_sweep_equals_single_runs(small, tmp_path, capsys):
    """--sweep learning_rate=a,b: one vmapped model per rate, each equal to the run with that rate."""
    from jaxae.apps import cli
    from jaxae.tasks import vae

    assert cli.main(["train", "vae", "--epochs", "1", "--batch-size", "64", "--sweep", "learning_rate=1e-4,1e-3",
                     "--no-progress", "--workdir", str(tmp_path / "sweep")]) == 0
    out = capsys.readouterr().out
    assert "learning_rate=0.0001 seed=0" in out and "learning_rate=0.001 seed=0" in out
    record = json.loads((tmp_path / "sweep" / "metrics.jsonl").read_text().splitlines()[-1])
    for i, rate in enumerate((1e-4, 1e-3)):
        one = jaxae.fit(vae.task(vae.VAEConfig(learning_rate=rate)), jaxae.data.load("mnist-mini"),
                        jaxae.TrainConfig(epochs=1, batch_size=64, progress=False))
        assert abs(one.history[-1]["test_neg_elbo"] - record["test_neg_elbo_per_model"][i]) < 1e-3 * 200
    assert record["test_neg_elbo_per_model"][1] < record["test_neg_elbo_per_model"][0]  # 10x the rate learns faster
    assert cli.main(["train", "vae", "--sweep", "beta=1,2", "--workdir", str(tmp_path / "bad")]) == 2
    assert "--sweep takes learning_rate=" in capsys.readouterr().err


def test_eval_and_sample_pick_one_model_of_a_multi_model_run(tmp_path, capsys):
    from jaxae.apps import cli

    run = str(tmp_path / "sweep")
    assert cli.main(["train", "ae", "--epochs", "1", "--seeds", "2", "--sweep", "learning_rate=1e-4,1e-3",
                     "--no-progress", "--workdir", run]) == 0
    record = json.loads((tmp_path / "sweep" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["models"] == 4
    capsys.readouterr()
    assert cli.main(["eval", "--run", run, "--no-progress"]) == 2  # which model?
    err = capsys.readouterr().err
    assert "holds 4 models" in err and "3: seed 1, lr x10" in err and "--index" in err
    assert sorted(os.listdir(os.path.join(run, "checkpoints")))  # nothing moved aside as damaged
    assert not os.path.exists(os.path.join(run, "corrupt_checkpoints"))
    for i in range(4):
        assert cli.main(["eval", "--run", run, "--index", str(i), "--no-progress"]) == 0
        result = json.loads(capsys.readouterr().out.splitlines()[0])
        assert abs(result["test_mse"] - record["test_mse_per_model"][i]) < 1e-6
    assert cli.main(["sample", "--run", run, "--index", "3"]) == 0
    assert cli.main(["eval", "--run", run, "--index", "4"]) == 2
