"""DBN greedy pretraining, the bottom-up pass, the unrolled network and resuming mid-stack."""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae import rbm
from jaxae.tasks import dbn, dbn_finetune
from jaxae.nn import MLP
from tests.conftest import tree_equal

CONFIG = dbn.DBNConfig(layers=(32, 16))
TRAIN = jaxae.TrainConfig(epochs=2, batch_size=64, train_eval=True, progress=False)


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
    np.testing.assert_array_equal(mlp.apply(rbm.dbn.unroll(stack), v), rbm.dbn.up(stack, v)[-1])


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
    with pytest.raises(jaxae.errors.CheckpointError, match="resume=True"):  # nothing is overwritten
        dbn.pretrain(CONFIG, small, TRAIN, part)


@pytest.mark.parametrize("layers", [(), (500, 0), (-3,)])
def test_bad_layer_specs(layers):
    with pytest.raises(ConfigError, match="--layers"):
        dbn.DBNConfig(layers=layers)


def test_dbn_cli(tmp_path, capsys):
    from jaxae.apps import cli

    run = str(tmp_path / "dbn")
    assert cli.main(["train", "dbn", "--layers", "20,10", "--epochs", "1", "--batch-size", "100", "--no-progress",
                     "--workdir", run]) == 0
    out = capsys.readouterr().out
    assert "layer 1 (20 hidden)" in out and "layer 2 (10 hidden)" in out
    assert cli.main(["train", "dbn", "--layers", "20,0", "--workdir", str(tmp_path / "bad")]) == 2
    assert "--layers needs one or more positive sizes" in capsys.readouterr().err
    assert cli.main(["train", "dbn", "--layers", "20,10", "--seeds", "2", "--workdir", str(tmp_path / "bad2")]) == 2
    assert "one stack at a time" in capsys.readouterr().err
    assert cli.main(["eval", "--run", os.path.join(run, "layer_1"), "--ais", "--ais-chains", "10",
                     "--ais-temperatures", "200", "--no-progress"]) == 0
    capsys.readouterr()
    # the whole DBN: its test lower bound, the top RBM's log Z by AIS (here also by enumeration of 10 units)
    assert cli.main(["eval", "--run", run, "--ais", "--ais-chains", "50", "--ais-temperatures", "2000",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    result = json.loads(out[0])
    assert abs(result["ais_log_z"] - result["exact_log_z"]) < 4 * result["ais_log_z_stderr"] + 0.05
    assert result["layers"] == [20, 10] and result["n_test"] == 2000 and -400 < result["test_lower_bound"] < 0
    assert "test lower bound on log p(v)" in out[1]
    assert cli.main(["eval", "--run", run]) == 2
    assert "pass --ais for its test lower bound" in capsys.readouterr().err
    # every layer reopens: the upper layers' data are rebuilt from the layers below
    for layer in ("layer_1", "layer_2"):
        assert cli.main(["eval", "--run", os.path.join(run, layer), "--no-progress"]) == 0
        result = json.loads(capsys.readouterr().out.splitlines()[0])
        last = json.loads((tmp_path / "dbn" / layer / "metrics.jsonl").read_text().splitlines()[-1])
        assert result["test_free_energy"] == pytest.approx(last["test_free_energy"], rel=1e-6)
    # a layer trained on probabilities has no test log-likelihood: --ais refuses in one line
    assert cli.main(["eval", "--run", os.path.join(run, "layer_2"), "--ais", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip() == (f"jaxae: error: --ais: {os.path.join(run, 'layer_2')} has no test "
                                               "log-likelihood (its inputs are probabilities, not binary data); drop --ais")
    assert cli.main(["sample", "--run", os.path.join(run, "layer_2")]) == 2
    assert "jaxae sample dbn" in capsys.readouterr().err


def test_classifier_starts_from_the_pretrained_stack(small, tmp_path):
    stack = dbn.pretrain(CONFIG, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False), str(tmp_path))
    loaded = dbn.load_stack(str(tmp_path))
    assert tree_equal(loaded, stack)
    task = dbn_finetune.classifier_task(dbn_finetune.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path)))
    packed = jaxae.data.with_labels(small)  # the labels reach the loss as a leaf of the batch
    assert np.array_equal(packed.train_images["image"], small.train_images)
    assert np.array_equal(packed.train_images["label"], small.train_labels)
    batch = jaxae.data.take(packed.train_images, slice(0, 4))
    params = task.init(jax.random.PRNGKey(0), task.preprocess(None, batch))["params"]
    for i, layer in enumerate(stack):
        np.testing.assert_array_equal(params[f"dense_{i}"]["kernel"], layer.W)
    assert params["dense_2"]["kernel"].shape == (16, 10)
    # fine-tuning trains; the test set (256) is not a multiple of the evaluation batch (100)
    task = dbn_finetune.classifier_task(dbn_finetune.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path), learning_rate=0.5))
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=5, batch_size=32, eval_batch_size=100, progress=False))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] - 0.2  # measured: 2.40 -> 1.92
    assert 0 <= result.history[-1]["test_error"] < 0.9
    with pytest.raises(ConfigError, match="does not match the pretrained stack"):
        dbn_finetune.classifier_task(dbn_finetune.ClassifierConfig(layers=(32, 8), pretrained=str(tmp_path)))
    with pytest.raises(jaxae.errors.CheckpointError, match="no DBN layers"):
        dbn_finetune.classifier_task(dbn_finetune.ClassifierConfig(layers=(32, 16), pretrained=str(tmp_path / "layer_1")))


def test_classifier_cli(tmp_path, capsys):
    from jaxae.apps import cli

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


def test_deep_autoencoder_unrolls_the_stack_and_fine_tunes(small, tmp_path):
    """The unrolled encoder is the bottom-up pass with a linear code; the decoder is the top-down pass
    through W^T and the visible biases; fine-tuning lowers the squared error; PCA is the baseline."""
    from jaxae import pca

    config = dbn.DBNConfig(layers=(32, 16, 4), binarize="probabilities", code="gaussian", top_learning_rate=0.001)
    stack = dbn.pretrain(config, small, TRAIN, str(tmp_path))
    assert stack[-1].units.hidden == "gaussian"
    ae_config = dbn_finetune.AutoencoderConfig(layers=(32, 16, 4), pretrained=str(tmp_path))
    task, codec = dbn_finetune.autoencoder_task(ae_config), dbn_finetune.autoencoder_offers(ae_config).codec
    x = task.preprocess(None, jnp.asarray(small.test_images[:10]))
    assert np.any((np.asarray(x) > 0.1) & (np.asarray(x) < 0.9))  # grey levels, not thresholded
    params = task.init(jax.random.PRNGKey(0), x)
    z = codec.encode(params, x)
    np.testing.assert_allclose(z, rbm.dbn.up(stack, x)[-1], rtol=1e-5, atol=1e-5)
    assert float(jnp.min(z)) < 0 or float(jnp.max(z)) > 1  # a linear code, not probabilities
    h = z
    for layer in reversed(stack):
        h = jax.nn.sigmoid(h @ layer.W.T + layer.b_vis)
    np.testing.assert_allclose(codec.decode(params, z), h, rtol=1e-5, atol=1e-5)
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=4, batch_size=32, progress=False))
    assert result.history[-1]["test_squared_error"] < result.history[0]["test_squared_error"]
    # PCA: all components reconstruct exactly; k components match numpy's SVD
    flat = np.asarray(task.preprocess(None, jnp.asarray(small.train_images)))
    assert float(jnp.max(pca.squared_error(pca.fit(flat, 784), flat))) < 1e-3
    centred = flat - flat.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = np.sum((centred - centred @ vt[:5].T @ vt[:5]) ** 2, axis=1)
    np.testing.assert_allclose(pca.squared_error(pca.fit(flat, 5), flat), expected, rtol=2e-3)
    with pytest.raises(ConfigError, match="--code gaussian"):
        dbn_finetune.autoencoder_task(dbn_finetune.AutoencoderConfig(layers=(32, 16, 4), pretrained=str(tmp_path), code="bernoulli"))
    with pytest.raises(ConfigError, match="fine-tune it as an autoencoder"):
        dbn_finetune.classifier_task(dbn_finetune.ClassifierConfig(layers=(32, 16, 4), pretrained=str(tmp_path)))


def test_generation_by_class(small, tmp_path):
    """A top RBM trained with label units, clamped to a class, generates digits nearer that class's
    mean training image than chance would (measured: 54, 60 and 55 of 100 for seeds 0-2 with 30 epochs
    of 64-64 units on 512 digits; chance is 10)."""
    config = dbn.DBNConfig(layers=(64, 64), labels=True, learning_rate=0.1)
    stack = dbn.pretrain(config, small, jaxae.TrainConfig(epochs=30, batch_size=32, progress=False), str(tmp_path))
    assert stack[-1].W.shape == (64 + 10, 64) and dbn.load_stack(str(tmp_path))[-1].units.labels == 10
    labels = jnp.repeat(jnp.arange(10), 10)
    images = np.asarray(jax.jit(lambda k: rbm.dbn.generate(k, stack, 100, labels, 300))(jax.random.PRNGKey(0)))
    assert images.shape == (100, 784) and 0 <= images.min() and images.max() <= 1
    x = (small.train_images.reshape(512, -1) / 255.0 > 0.5).astype(np.float32)
    means = np.stack([x[small.train_labels == c].mean(0) for c in range(10)])
    nearest = np.argmin(((images[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == np.asarray(labels)) > 0.3
    with pytest.raises(ConfigError, match="label units"):
        rbm.dbn.generate(jax.random.PRNGKey(0), stack, 10)


def test_finetune_and_sample_cli(tmp_path, capsys):
    from jaxae.apps import cli

    stack, ae = str(tmp_path / "dbn"), str(tmp_path / "ae")
    assert cli.main(["train", "dbn", "--layers", "20,10", "--labels", "--epochs", "1", "--batch-size", "100",
                     "--no-progress", "--workdir", stack]) == 0
    assert cli.main(["sample", "dbn", "--run", stack, "--n", "3", "--sweeps", "20"]) == 0
    path = capsys.readouterr().out.split()[-1]
    assert path.endswith("by_class.png") and os.path.getsize(path) > 0
    from PIL import Image

    assert Image.open(path).size[1] > Image.open(path).size[0]  # 10 rows of 3
    assert cli.main(["finetune", "dbn", "--as", "classifier", "--layers", "20,10", "--pretrained", stack,
                     "--epochs", "1", "--batch-size", "100", "--no-progress", "--workdir", str(tmp_path / "c")]) == 0
    assert "test_error=" in capsys.readouterr().out
    assert cli.main(["sample", "dbn", "--run", stack, "--n", "2", "--sweeps", "5", "--classifier", str(tmp_path / "c")]) == 0
    assert "% of the generated digits as the class" in capsys.readouterr().out
    assert cli.main(["train", "dbn", "--layers", "20,3", "--code", "gaussian", "--binarize", "probabilities",
                     "--epochs", "1", "--batch-size", "100", "--no-progress", "--workdir", ae]) == 0
    run = str(tmp_path / "ae-ft")
    assert cli.main(["finetune", "dbn", "--as=autoencoder", "--layers", "20,3", "--pretrained", ae, "--epochs", "1",
                     "--batch-size", "100", "--no-progress", "--workdir", run]) == 0
    assert "test_squared_error=" in capsys.readouterr().out
    assert cli.main(["eval", "--run", run, "--no-progress"]) == 0
    assert "PCA with 3 components" in capsys.readouterr().out
    assert cli.main(["sample", "dbn", "--run", ae, "--classifier", str(tmp_path / "c")]) == 2
    assert "trained without --labels" in capsys.readouterr().err
    assert cli.main(["finetune", "dbn", "--as", "regressor", "--pretrained", ae]) == 2
    assert "--as classifier or --as autoencoder" in capsys.readouterr().err
    assert cli.main(["sample", "dbn", "--run", str(tmp_path / "nothing")]) == 2
    assert "no DBN layers" in capsys.readouterr().err

