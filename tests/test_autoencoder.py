import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError
from jaxae.autoencoder import Autoencoder


def test_chapter_autoencoder_layers():
    params = Autoencoder(784, (128, 64, 12), 3).init(jax.random.PRNGKey(0), jnp.zeros((2, 784)))["params"]
    enc = [params["encoder"][f"dense_{i}"]["kernel"].shape for i in range(4)]
    dec = [params["decoder"][f"dense_{i}"]["kernel"].shape for i in range(4)]
    assert enc == [(784, 128), (128, 64), (64, 12), (12, 3)]
    assert dec == [(3, 12), (12, 64), (64, 128), (128, 784)]
    # the chapter's PyTorch model has 2 * (784*128 + 128*64 + 64*12 + 12*3) + biases parameters
    n = sum(x.size for x in jax.tree.leaves(params))
    assert n == 2 * (784 * 128 + 128 * 64 + 64 * 12 + 12 * 3) + (128 + 64 + 12 + 3) + (12 + 64 + 128 + 784)


def test_code_is_linear_and_output_tanh():
    model = Autoencoder(784, (128, 64, 12), 3)
    x = jax.random.uniform(jax.random.PRNGKey(1), (64, 784), minval=-1, maxval=1)
    params = model.init(jax.random.PRNGKey(0), x)
    z = model.apply(params, x, method=Autoencoder.encode)
    y = model.apply(params, x)
    assert z.shape == (64, 3) and (z < 0).any()  # no ReLU on the code
    assert y.shape == (64, 784) and float(jnp.abs(y).max()) <= 1.0


def test_torch_style_initialisation():
    params = Autoencoder(784, (128, 64, 12), 3).init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))["params"]
    w = np.asarray(params["encoder"]["dense_0"]["kernel"])
    bound = 1 / np.sqrt(784)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound


@pytest.mark.parametrize("kw", [{"latent": 0}, {"hidden": (128, -1)}, {"pixels": "rgb"}, {"learning_rate": 0.0}])
def test_bad_ae_config(kw):
    with pytest.raises(ConfigError):
        jaxae.AEConfig(**kw)


def test_transforms():
    from jaxae.data import transforms

    x = jnp.array([[0, 128, 255]], jnp.uint8)
    np.testing.assert_allclose(transforms.scale(x, -1, 1), [[-1, 128 / 127.5 - 1, 1]], atol=1e-6)
    np.testing.assert_array_equal(transforms.binarize(x), [[0, 1, 1]])
    p = jnp.full((200_000,), 0.3)
    sample = transforms.dynamic_binarize(jax.random.PRNGKey(0), p)
    assert set(np.unique(sample)) <= {0.0, 1.0}
    assert abs(float(sample.mean()) - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 200_000)  # 4 sigma
    other = transforms.dynamic_binarize(jax.random.PRNGKey(1), p)
    assert not np.array_equal(sample, other)
    with pytest.raises(ConfigError, match="unknown pixel transform"):
        transforms.preprocessor("gray")


def test_to_unit_keeps_numpy_arithmetic_for_numpy_pixels():
    """A NumPy array is converted by NumPy (correctly rounded x / 255, as every documented run was
    trained on: the deep autoencoder's data went through here); lists become jax.Arrays."""
    from jaxae.data import transforms

    x = np.arange(256, dtype=np.uint8)
    unit = transforms.to_unit(x)
    assert isinstance(unit, np.ndarray) and unit.dtype == np.float32
    np.testing.assert_array_equal(unit, x.astype(np.float32) / np.float32(255.0))
    assert isinstance(transforms.to_unit([0.0, 1.0]), jax.Array)
    np.testing.assert_allclose(transforms.to_unit(jnp.asarray(x)), unit, rtol=1e-6)
