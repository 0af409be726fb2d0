import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.data import noise
from jaxae.errors import ConfigError

N = 400_000
KEY = jax.random.PRNGKey(0)


def four_sigma(p, n=N):
    return 4 * np.sqrt(p * (1 - p) / n)


def test_masking_zeroes_the_stated_fraction():
    x = jnp.full((N,), 0.7)
    y = noise.masking(KEY, x, 0.3)
    assert set(np.unique(y).tolist()) == {0.0, float(np.float32(0.7))}
    assert abs(float(jnp.mean(y == 0)) - 0.3) < four_sigma(0.3)


def test_gaussian_noise_has_the_stated_sigma():
    x = jnp.full((N,), 0.5)
    d = np.asarray(noise.gaussian(KEY, x, 0.1) - x)  # 0.5 +- 5 sigma never clips
    assert abs(d.mean()) < 4 * 0.1 / np.sqrt(N)
    assert abs(d.std() - 0.1) < 0.001
    assert float(noise.gaussian(KEY, jnp.ones(10), 5.0).max()) <= 1.0  # clipped to [0, 1]


def test_salt_and_pepper_statistics():
    x = jnp.full((N,), 0.5)
    y = np.asarray(noise.salt_and_pepper(KEY, x, 0.2))
    assert set(np.unique(y)) == {0.0, 0.5, 1.0}
    assert abs((y != 0.5).mean() - 0.2) < four_sigma(0.2)
    assert abs((y == 1.0).mean() - 0.1) < four_sigma(0.1)


def test_fresh_noise_per_key():
    x = jnp.full((1000,), 0.5)
    assert not np.array_equal(noise.masking(KEY, x, 0.3), noise.masking(jax.random.PRNGKey(1), x, 0.3))


@pytest.mark.parametrize("name, level", [("masking", 1.5), ("gaussian", 0.0), ("blur", 0.1)])
def test_bad_noise(name, level):
    with pytest.raises(ConfigError):
        noise.corruption(name, level)


def test_dae_reports_denoised_and_noisy_error(small):
    config = jaxae.tasks.DAEConfig(hidden=(64,), latent=16)
    task = jaxae.tasks.ae.task(config)
    result = jaxae.fit(task, small, jaxae.TrainConfig(epochs=1, batch_size=64, progress=False))
    last = result.history[-1]
    assert {"test_mse", "test_noisy_mse", "test_psnr", "test_noisy_psnr"} <= set(last)
    # masking 0.3 of [0, 1] pixels: noisy error = 0.3 * E[x^2]
    x = small.test_images.astype(np.float64) / 255
    assert last["test_noisy_mse"] == pytest.approx(0.3 * np.mean(x**2), rel=0.05)
