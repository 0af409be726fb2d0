"""--precision bfloat16: bfloat16 matrix products in the training step, float32 everything kept."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae import estimators, rbm
from jaxae.errors import ConfigError
from jaxae.tasks import MODELS

# a Flax model (reparameterisation noise in the step's dtype) and an RBM whose PCD chains are state
CASES = [("vae", {}, "test_neg_elbo"), ("rbm", {"n_hidden": 64, "pcd": True, "n_chains": 64}, "test_recon_error")]


def _products(task, params, raw):
    """The output dtypes of the matrix products in one training estimate (from the printed jaxpr,
    nested scans and loops included)."""
    batch = task.preprocess(jax.random.PRNGKey(1), raw)
    state = task.estimator.init(jax.random.PRNGKey(2), params)
    text = str(jax.make_jaxpr(task.estimator.estimate)(jax.random.PRNGKey(3), params, batch, state))
    return {line.split("=")[0].split(":")[-1].split("[")[0].strip()
            for line in text.splitlines() if "dot_general[" in line and "=" in line}


@pytest.mark.parametrize("name,options,metric", CASES)
def test_bfloat16_trains_like_float32_with_float32_state(small, name, options, metric):
    entry = MODELS[name]
    task = entry.task(entry.config(**options))
    runs = {p: jaxae.fit(task, small, jaxae.TrainConfig(epochs=2, batch_size=64, precision=p, progress=False))
            for p in ("float32", "bfloat16")}
    mixed = runs["bfloat16"]
    # parameters, optimizer and estimator state (PCD chains) stay float32
    for leaf in jax.tree.leaves((mixed.state.params, mixed.state.opt_state, mixed.state.est_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    one, two = runs["float32"].history[-1][metric], mixed.history[-1][metric]
    assert abs(two - one) < 0.01 * abs(one), (one, two)  # learns as well (measured within 0.03%)
    first = lambda r: np.asarray(jax.tree.leaves(r.state.params)[0])
    assert not np.array_equal(first(mixed), first(runs["float32"]))  # ...while really computing otherwise
    # and the step's products run in bfloat16 (float32 without the option)
    params = jaxae.train.state.init_state(task, 0, small.train_images[:64]).params
    assert _products(task, params, small.train_images[:64]) == {"f32"}
    mixed_task = task._replace(estimator=estimators.with_precision(task.estimator, "bfloat16"))
    assert "bf16" in _products(mixed_task, params, small.train_images[:64])  # (CD sums over the batch: f32)


def test_precision_option_is_checked():
    with pytest.raises(ConfigError, match="precision must be one of float32, bfloat16, got 'float16'"):
        jaxae.TrainConfig(precision="float16")
    with pytest.raises(ConfigError, match="precision must be one of"):
        estimators.with_precision(rbm.cd(1), "fp8")
