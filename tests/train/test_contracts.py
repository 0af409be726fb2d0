"""Contract mistakes in a Task are one ConfigError naming the function, caught before any compute; no
silently wrong number from a scalar `evaluate`."""
import jax
import jax.numpy as jnp
import optax
import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae.train import Task, TrainConfig, fit


def good_task(**changes) -> Task:
    """A tiny linear autoencoder on flattened pixels, written as a researcher would."""

    def loss_fn(key, params, x):
        return jnp.mean((x @ params["w"] @ params["w"].T - x) ** 2), {}

    task = Task(
        name="mine",
        init=lambda key, x: {"w": 0.01 * jax.random.normal(key, (x.shape[1], 4))},
        estimator=jaxae.from_loss(loss_fn),
        optimizer=optax.adam(1e-3),
        preprocess=lambda key, raw: raw.reshape(raw.shape[0], -1).astype(jnp.float32) / 255.0,
        evaluate=lambda key, params, x: {"l1": jnp.mean(jnp.abs(x @ params["w"] @ params["w"].T - x), axis=-1)},
    )
    return task._replace(**changes)


CASES = [
    ({"estimator": jaxae.from_loss(lambda key, params, x: jnp.mean(x @ params["w"]))},
     "the loss_fn of from_loss must return \\(loss, metrics\\).*it returned an array of shape \\(\\)"),
    ({"evaluate": lambda key, params, x: {"l1": jnp.mean(jnp.abs(x))}},
     "Task.evaluate must return one value per example.*'l1': \\(\\)"),
    ({"evaluate": lambda key, params, x: jnp.mean(jnp.abs(x), axis=-1)},
     "Task.evaluate must return a dict of per-example values"),
    ({"preprocess": lambda raw: raw}, "Task.preprocess must take \\(key, raw\\)"),
    ({"optimizer": optax.adam}, "Task.optimizer must be an optax.GradientTransformation.*optax.adam\\(1e-3\\)"),
    ({"init": lambda key, x: {"w": jnp.zeros((3, 4))}}, "Task.estimator.estimate.*failed on an example batch"),
    ({"estimator": (lambda key, params: None)}, "Task.estimator must be a jaxae.estimators.Estimator"),
]


@pytest.mark.parametrize("changes, match", CASES, ids=["loss-not-a-pair", "scalar-evaluate", "array-evaluate",
                                                      "one-argument-preprocess", "uncalled-optimizer", "bad-init",
                                                      "not-an-estimator"])
def test_contract_mistakes_are_one_config_error_naming_the_function(small, changes, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        fit(good_task(**changes), small, TrainConfig(epochs=1, batch_size=64, progress=False), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_the_good_task_trains(small):
    result = fit(good_task(), small, TrainConfig(epochs=3, batch_size=64, progress=False))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert 0 < result.history[-1]["test_l1"] < 1
