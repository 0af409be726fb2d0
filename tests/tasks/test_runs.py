"""Every run reopens: a run trained from Python records what load_run and the command line need, a
custom task's run opens with the task given, and a run remembers where it found its data."""
import json

import pytest

import jaxae
from jaxae.apps.cli import main
from jaxae.errors import CheckpointError
from jaxae.tasks import ae, load_run
from tests.conftest import tree_equal
from tests.train.test_contracts import good_task


def test_the_readmes_python_run_reopens_everywhere(small, tmp_path, capsys):
    workdir = str(tmp_path / "ae-py")
    data = jaxae.data.load("mnist-mini")  # the README's snippet, smaller
    task = ae.task(jaxae.AEConfig(latent=3))
    result = jaxae.fit(task, data, jaxae.TrainConfig(epochs=1, progress=False), workdir=workdir)
    stored = json.loads((tmp_path / "ae-py" / "config.json").read_text())
    assert stored["model_name"] == "ae" and stored["model"]["latent"] == 3 and stored["data"] == "mnist-mini"
    run = load_run(workdir)
    assert run.epoch == 1 and run.offers.codec.latent == 3
    assert tree_equal(run.state.params, result.state.params)
    capsys.readouterr()
    assert main(["eval", "--run", workdir, "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["test_mse"] == pytest.approx(
        result.history[-1]["test_mse"], rel=1e-6)
    assert main(["sample", "--run", workdir]) == 0


def test_a_custom_tasks_run_opens_with_the_task(small, tmp_path):
    workdir = str(tmp_path / "mine")
    jaxae.fit(good_task(), small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), workdir)
    with pytest.raises(CheckpointError, match="custom task.*load_run\\(workdir, task="):
        load_run(workdir, data=small)
    with pytest.raises(CheckpointError, match="in-memory arrays.*data="):
        load_run(workdir, task=good_task())
    run = load_run(workdir, task=good_task(), data=small)
    assert run.epoch == 1 and run.model == "mine" and run.offers.codec is None


def test_recommend_finds_the_data_where_training_found_it(data_dir, tmp_path, capsys, monkeypatch):
    run = str(tmp_path / "autorec")
    assert main(["train", "autorec", "--data", "ml-100k/u1", "--data-dir", data_dir, "--epochs", "1",
                 "--no-progress", "--workdir", run]) == 0
    assert json.loads((tmp_path / "autorec" / "config.json").read_text())["data_dir"].startswith(data_dir)
    monkeypatch.delenv("JAXAE_DATA_DIR", raising=False)
    monkeypatch.setenv("JAXAE_CACHE_DIR", str(tmp_path / "empty-cache"))
    capsys.readouterr()
    assert main(["recommend", "--run", run, "--user", "42", "--top", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert main(["eval", "--run", run, "--no-progress"]) == 0
    capsys.readouterr()
    # --data-dir overrides the recorded folder (here with one that has no data: a clear error)
    assert main(["recommend", "--run", run, "--user", "42", "--data-dir", str(tmp_path / "nowhere")]) == 2
    assert "ml-100k not found in " + str(tmp_path / "nowhere") in capsys.readouterr().err
