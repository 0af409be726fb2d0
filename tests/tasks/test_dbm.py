"""`jaxae train dbm`: pretraining and joint training in one folder, resuming, the AIS bound, pictures, refusals."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import jaxae
from jaxae.apps.cli import main
from jaxae.errors import ConfigError
from jaxae.rbm import dbm
from jaxae.tasks import dbm as dbm_task
from jaxae.tasks import dbm_classifier
from tests.conftest import tree_equal

CONFIG = dbm_task.DBMConfig(layers=(20, 12), pretrain_epochs=(2, 2), n_chains=20, pretrain_k=1, pretrain_k_final=3)
TRAIN = jaxae.TrainConfig(epochs=3, batch_size=64, progress=False)


def metrics(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_stages_resume_to_the_uninterrupted_model(small, tmp_path):
    [full] = dbm_task.train(CONFIG, small, TRAIN, str(tmp_path / "full"))
    part = str(tmp_path / "part")
    dbm_task.train(CONFIG, small, dataclasses.replace(TRAIN, epochs=1), part)  # stopped after one joint epoch
    [resumed] = dbm_task.train(CONFIG, small, TRAIN, part, resume=True)
    assert tree_equal(resumed.params, full.params) and tree_equal(resumed.est_state, full.est_state)
    assert [len(metrics(os.path.join(part, d))) for d in ("layer_1", "layer_2", "joint")] == [2, 2, 3]
    rows = metrics(os.path.join(part, "layer_1"))
    assert rows[0]["train_gibbs_steps"] < rows[-1]["train_gibbs_steps"] <= 3  # CD-k with k growing
    assert isinstance(full.params, dbm.DBMParams) and full.params.sizes == (784, 20, 12)


def test_dbm_cli_trains_evaluates_with_ais_and_draws(tmp_path, capsys):
    workdir = str(tmp_path / "dbm")
    args = ["train", "dbm", "--data", "mnist-mini", "--layers", "16,8", "--pretrain-epochs", "1,1", "--epochs", "1",
            "--n-chains", "20", "--workdir", workdir, "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "layer 2 (8 hidden)" in out and "joint training, epoch 1" in out
    assert main(["eval", "--run", f"{workdir}/joint", "--ais", "--ais-chains", "50", "--ais-temperatures", "3000",
                 "--ais-schedule", "salakhutdinov", "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads(out[0])
    assert result["ais_schedule"] == "salakhutdinov" and "3000 salakhutdinov temperatures" in out[1]
    # 16 + 0 odd units: the exact log Z is there to check AIS against
    assert abs(result["ais_log_z"] - result["exact_log_z"]) < 4 * result["ais_log_z_stderr"] + 0.05
    assert result["test_lower_bound"] < 0 and result["mean_field_updates"] == 50
    assert main(["sample", "--run", f"{workdir}/joint"]) == 0
    for name in ("filters.png", "samples.png", "chains.png"):
        assert os.path.getsize(os.path.join(workdir, "joint", "samples", name)) > 0
    classifier = str(tmp_path / "classifier")
    assert main(["finetune", "dbm", "--as", "classifier", "--pretrained", workdir, "--data", "mnist-mini", "--epochs",
                 "3", "--learning-rate", "0.5", "--workdir", classifier, "--no-progress"]) == 0
    rows = metrics(classifier)
    assert rows[-1]["test_error"] < 0.5 and rows[-1]["train_error"] < rows[0]["train_error"]
    run = jaxae.load_run(classifier)  # reopened from its folder; labels new images by itself
    images = run.data.test_images["image"]
    predicted = run.offers.classifier.predict(run.state.params, np.asarray(images, np.float32).reshape(len(images), -1) / 255)
    assert abs(np.mean(np.asarray(predicted) != run.data.test_labels) - rows[-1]["test_error"]) < 1e-6
    assert tree_equal(run.state.params["dbm"], dbm_classifier.load_dbm(workdir, 784))  # the DBM stayed frozen
    assert main(["finetune", "dbm", "--as", "autoencoder", "--pretrained", workdir]) == 2
    assert "--as classifier" in capsys.readouterr().err


def test_dbm_eval_refuses_a_likelihood_of_grey_levels(tmp_path, capsys):
    workdir = str(tmp_path / "grey")
    assert main(["train", "dbm", "--data", "mnist-mini", "--layers", "8,4", "--pretrain-epochs", "0,0", "--epochs",
                 "1", "--binarize", "probabilities", "--workdir", workdir, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", "--run", f"{workdir}/joint", "--ais"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not binary" in err[0] and "drop --ais" in err[0]


@pytest.mark.parametrize("change,match", [({"layers": ()}, "--layers"), ({"pretrain_epochs": (1,)}, "--pretrain-epochs"),
                                          ({"damping": 1.5}, "damping"), ({"final_learning_rate": 1.0}, "decays")])
def test_bad_dbm_options_say_what_to_do(change, match):
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(CONFIG, **change)


def test_weight_cost_reaches_the_weights_only():
    params = dbm.init(jax.random.key(0), (4, 3, 2), scale=1.0)
    tx = dbm_task._sgd(0.1, 0.0, 0.0, 1, 0.5, dbm.weights_mask)
    zeros = jax.tree.map(np.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    assert all(float(abs(u).max()) > 0 for u in updates.weights)
    assert all(float(abs(u).max()) == 0 for u in updates.biases)


def test_the_classifier_network_is_a_mean_field_update_then_the_top_layer():
    """The fine-tuning network starts as the DBM's own mean-field step: its first hidden layer, fed v and
    q(h2 | v), is the mean-field update of mu_1; its second the update of mu_2 from that."""
    params = dbm.init(jax.random.key(0), (12, 7, 5), scale=1.0)
    v = (jax.random.uniform(jax.random.key(1), (9, 12)) < 0.5).astype(np.float32)
    q = dbm_classifier.augment(params, v, 40)
    net = dbm_classifier.init_network(jax.random.key(2), params, 3)
    net["out"] = {"kernel": np.eye(5, 3, dtype=np.float32), "bias": np.zeros(3, np.float32)}
    mu1, mu2 = dbm.mean_field_update(params, v, (dbm.mean_field(params, v, 40)[0], q[0]))
    np.testing.assert_allclose(dbm_classifier.logits(net, v, q), mu2[:, :3], atol=1e-5)
    with pytest.raises(ConfigError, match="--pretrained"):
        dbm_classifier.task(dbm_classifier.ClassifierConfig())


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow  # a minute: three processes; the in-process stage test above runs by default
def test_sigkill_in_a_pretraining_stage_then_resume_is_the_uninterrupted_dbm(tmp_path):
    """Killed (SIGKILL, no clean-up) in the middle of layer 2's pretraining, `--resume` rebuilds layer 2's
    data from layer 1, continues layer 2 from its newest checkpoint and trains the joint stage: the DBM
    is bit for bit the one of a run never interrupted."""
    args = ["train", "dbm", "--data", "mnist-mini", "--layers", "16,8", "--pretrain-epochs", "1,40", "--epochs", "2",
            "--n-chains", "20", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}

    def start(folder, *extra):
        return subprocess.Popen([sys.executable, "-m", "jaxae.apps.cli", *args, "--workdir", str(tmp_path / folder),
                                 *extra], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    reference, killed = start("ref"), start("run")
    checkpoints = tmp_path / "run" / "layer_2" / "checkpoints"
    deadline = time.monotonic() + 180
    while not (checkpoints.is_dir() and any(p.isdigit() and int(p) >= 3 for p in os.listdir(checkpoints))):
        assert killed.poll() is None and time.monotonic() < deadline, killed.communicate()
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert reference.wait(timeout=300) == 0, reference.communicate()
    saved = sorted(int(p) for p in os.listdir(checkpoints) if p.isdigit())
    assert saved[-1] < 40 and not (tmp_path / "run" / "joint").exists(), "killed too late to test the stage"
    resumed = start("run", "--resume")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    a, b = (jaxae.load_run(str(tmp_path / folder / "joint")).state for folder in ("ref", "run"))
    assert tree_equal(a.params, b.params) and tree_equal(a.est_state, b.est_state)
    assert [r["epoch"] for r in metrics(str(tmp_path / "run" / "layer_2"))] == list(range(1, 41))
