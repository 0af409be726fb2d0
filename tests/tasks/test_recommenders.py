"""The MovieLens recommenders: masks, exact predictions on tiny models, leakage-safe metrics, the CLI."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae import rbm, recsys
from jaxae.data import movielens
from jaxae.errors import DataError
from jaxae.tasks import cf_rbm


@pytest.fixture(scope="module")
def u1(data_dir):
    return movielens.load("ml-100k", "u1", data_dir, download_ok=False)


def test_an_unrated_movie_never_influences_training():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 6, size=(8, 6)).astype(np.uint8)
    raw[:, 2] = 0  # movie 2 unrated by everyone
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    params = rbm.RBMParams(jax.random.normal(k1, (30, 4)), jax.random.normal(k2, (30,)), jnp.zeros(4), cf_rbm.UNITS)
    cd = jaxae.estimators.map_batch(rbm.cd(3), recsys.softmax_units)
    grads, _, _ = cd.estimate(jax.random.PRNGKey(1), params, jnp.asarray(raw), cd.init(None, params))
    assert np.all(np.asarray(grads.W[10:15]) == 0) and np.all(np.asarray(grads.b_vis[10:15]) == 0)
    assert np.any(np.asarray(grads.W[:10]) != 0)
    # and the hidden layer ignores whatever the unrated units' weights are
    v, _ = recsys.softmax_units(jnp.asarray(raw))
    moved = params.replace(W=params.W.at[10:15].set(100.0))
    np.testing.assert_array_equal(rbm.hidden_logits(params, v), rbm.hidden_logits(moved, v))


def test_expected_rating_is_exact_on_a_tiny_model():
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
    params = rbm.RBMParams(jax.random.normal(k1, (15, 4)), jax.random.normal(k2, (15,)), jax.random.normal(k3, (4,)),
                           cf_rbm.UNITS)
    raw = jnp.array([[5, 0, 2]], jnp.uint8)
    v = np.zeros(15)
    v[4], v[11] = 1, 1  # movie 0 rated 5, movie 2 rated 2
    p_h = 1 / (1 + np.exp(-(v @ np.asarray(params.W) + np.asarray(params.b_hid))))
    logits = (np.asarray(params.W) @ p_h + np.asarray(params.b_vis)).reshape(3, 5)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(recsys.expected_rating(params, raw)[0], p @ np.arange(1, 6), rtol=1e-5)


def test_top_n_never_uses_test_ratings_or_recommends_training_items():
    rng = np.random.default_rng(1)
    train = (rng.random((20, 30)) < 0.3) * rng.integers(1, 6, (20, 30))
    test = np.where(train > 0, 0, (rng.random((20, 30)) < 0.2) * rng.integers(1, 6, (20, 30)))
    perfect = np.where(test > 0, test, 0.0).astype(float)  # a leaky predictor that has seen the test set
    honest = recsys.top_n(rng.random((20, 30)), train, test)
    leaky = recsys.top_n(perfect + 10 * (train > 0), train, test)  # training items score highest: must be skipped
    assert leaky.precision > honest.precision and leaky.ndcg > 0.99
    for user in range(5):
        picks = [i for i, _ in recsys.recommend(rng.random((20, 30)), train, user, 10)]
        assert not (train[user, picks] > 0).any()
    with pytest.raises(DataError, match="unknown user 21"):
        recsys.recommend(perfect, train, 20)


def test_bias_baseline_beats_the_global_mean(u1):
    data = movielens.as_dataset(u1)
    train, test = data.train_images.astype(float), data.test_images["targets"].astype(float)
    bias = recsys.rmse_mae(recsys.fit_biases(train).predict(), test)[0]
    mean = recsys.rmse_mae(recsys.global_mean(train), test)[0]
    assert 0.95 < bias < 0.97 and 1.15 < mean < 1.16  # u1: 0.9599 and 1.1537


@pytest.mark.parametrize("model", ["cf-rbm", "autorec", "rbm-binary"])
def test_recommender_cli_train_eval_recommend(model, data_dir, tmp_path, capsys):
    from jaxae.apps import cli

    run = str(tmp_path / model)
    args = ["train", model, "--data", "ml-100k/u1", "--data-dir", data_dir, "--epochs", "2", "--batch-size", "100",
            "--no-progress", "--workdir", run]
    assert cli.main(args) == 0
    metrics = tmp_path / model / "metrics.jsonl"
    predictions_before = metrics.read_text()
    capsys.readouterr()
    assert cli.main(["eval", "--run", run, "--data-dir", data_dir, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "precision@10" in out and "bias baseline RMSE 0.9599" in out
    if model == "autorec":  # not an RBM: --ais is refused, nothing written
        assert cli.main(["eval", "--run", run, "--data-dir", data_dir, "--ais", "--no-progress"]) == 2
        assert "drop --ais" in capsys.readouterr().err
    assert cli.main(["recommend", "--run", run, "--user", "42", "--top", "5", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and lines[1].startswith("  1.")
    assert cli.main(["recommend", "--run", run, "--user", "944", "--data-dir", data_dir]) == 2
    assert "unknown user 944" in capsys.readouterr().err
    assert cli.main(["recommend", "--run", run, "--user", "1", "--movie", "1", "--data-dir", data_dir]) == 0
    assert "Toy Story (1995)" in capsys.readouterr().out
    assert cli.main(["recommend", "--run", run, "--user", "1", "--movie", "1683", "--data-dir", data_dir]) == 2
    assert "unknown movie 1683" in capsys.readouterr().err
    assert metrics.read_text() == predictions_before


def test_recommenders_refuse_images(small):
    with pytest.raises(DataError, match="rating matrices"):
        jaxae.fit(cf_rbm.task(), small, jaxae.TrainConfig(epochs=1, progress=False), None)
