"""DBN greedy pretraining, the bottom-up pass, the unrolled network and resuming mid-stack."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae.models import dbn
from jaxae.nn import MLP
from tests.conftest import tree_equal

CONFIG = dbn.DBNConfig(layers=(32, 16))
TRAIN = jaxae.TrainConfig(epochs=2, batch_size=64, progress=False)


def test_pretraining_improves_every_layer(small, tmp_path):
    dbn.pretrain(CONFIG, small, TRAIN, str(tmp_path))
    for layer in ("layer_1", "layer_2"):
        rows = [json.loads(line) for line in (tmp_path / layer / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["test_recon_error"] < rows[0]["test_recon_error"], layer
    first = (tmp_path / "layer_1" / "metrics.jsonl").read_text().splitlines()[0]
    assert "free_energy_gap" in first


def test_unrolled_network_is_the_bottom_up_pass(small):
    stack = dbn.pretrain(CONFIG, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False))
    v = jax.random.bernoulli(jax.random.PRNGKey(1), 0.2, (10, 784)).astype(jnp.float32)
    mlp = MLP(features=(32, 16), activation=jax.nn.sigmoid, final_activation=jax.nn.sigmoid)
    np.testing.assert_array_equal(mlp.apply(dbn.unroll(stack), v), dbn.up(stack, v)[-1])


def test_resume_mid_stack_continues_at_the_right_layer(small, tmp_path):
    full = dbn.pretrain(CONFIG, small, TRAIN, str(tmp_path / "full"))
    part = str(tmp_path / "part")
    dbn.pretrain(dbn.DBNConfig(layers=(32,)), small, TRAIN, part)  # layer 1 finished ...
    one_epoch = jaxae.TrainConfig(epochs=1, batch_size=64, progress=False)
    dbn.pretrain(CONFIG, small, one_epoch, part, resume=True)  # ... layer 2 interrupted after one epoch
    resumed = dbn.pretrain(CONFIG, small, TRAIN, part, resume=True)
    assert tree_equal(resumed, full)
    def lines(layer):
        with open(os.path.join(part, layer, "metrics.jsonl")) as f:
            return len(f.read().splitlines())

    assert lines("layer_1") == 2 and lines("layer_2") == 2  # layer 1 not retrained, layer 2 continued
    with pytest.raises(jaxae.errors.CheckpointError, match="--resume"):  # nothing is overwritten
        dbn.pretrain(CONFIG, small, TRAIN, part)


@pytest.mark.parametrize("layers", [(), (500, 0), (-3,)])
def test_bad_layer_specs(layers):
    with pytest.raises(ConfigError, match="--layers"):
        dbn.DBNConfig(layers=layers)


def test_dbn_cli(tmp_path, capsys):
    from jaxae import cli

    run = str(tmp_path / "dbn")
    assert cli.main(["train", "dbn", "--layers", "20,10", "--epochs", "1", "--batch-size", "100", "--no-progress",
                     "--workdir", run]) == 0
    out = capsys.readouterr().out
    assert "layer 1 (20 hidden)" in out and "layer 2 (10 hidden)" in out
    assert cli.main(["train", "dbn", "--layers", "20,0", "--workdir", str(tmp_path / "bad")]) == 2
    assert "--layers needs one or more positive sizes" in capsys.readouterr().err
    assert cli.main(["eval", "--run", os.path.join(run, "layer_1"), "--ais", "--ais-chains", "10",
                     "--ais-temperatures", "200", "--no-progress"]) == 0


def test_classifier_starts_from_the_pretrained_stack(small, tmp_path):
    stack = dbn.pretrain(CONFIG, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), str(tmp_path))
    loaded = dbn.load_stack(str(tmp_path))
    assert tree_equal(loaded, stack)
    task = dbn.classifier_task(dbn.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path)))
    packed = dbn.with_labels(small)
    assert packed.train_images.shape == (512, 785) and np.array_equal(packed.train_images[:, -1], small.train_labels)
    params = task.init(jax.random.PRNGKey(0), task.preprocess(None, jnp.asarray(packed.train_images[:4])))["params"]
    for i, layer in enumerate(stack):
        np.testing.assert_array_equal(params[f"dense_{i}"]["kernel"], layer.W)
    assert params["dense_2"]["kernel"].shape == (16, 10)
    # fine-tuning trains; the test set (256) is not a multiple of the evaluation batch (100)
    task = dbn.classifier_task(dbn.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path), learning_rate=0.5))
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=5, batch_size=32, eval_batch_size=100, progress=False))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] - 0.2  # measured: 2.40 -> 1.92
    assert 0 <= result.history[-1]["test_error"] < 0.9
    with pytest.raises(ConfigError, match="does not match the pretrained stack"):
        dbn.classifier_task(dbn.ClassifierConfig(layers=(32, 8), pretrained=str(tmp_path)))
    with pytest.raises(jaxae.errors.CheckpointError, match="no DBN layers"):
        dbn.classifier_task(dbn.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path / "layer_1")))


def test_classifier_cli(tmp_path, capsys):
    from jaxae import cli

    stack = str(tmp_path / "dbn")
    assert cli.main(["train", "dbn", "--layers", "20,10", "--epochs", "1", "--batch-size", "100", "--no-progress",
                     "--workdir", stack]) == 0
    for pretrained in (stack, ""):
        run = str(tmp_path / f"cls{len(pretrained)}")
        assert cli.main(["train", "dbn-classifier", "--layers", "20,10", "--pretrained", pretrained, "--epochs", "1",
                         "--batch-size", "100", "--no-progress", "--workdir", run]) == 0
        assert "test_error=" in capsys.readouterr().out
        assert cli.main(["eval", "--run", run, "--no-progress"]) == 0
        assert '"test_error"' in capsys.readouterr().out
