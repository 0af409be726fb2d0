import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError, DataError
from jaxae.tasks import conv_ae as conv_autoencoder
from jaxae.nn.conv import ConvStack, output_size, parse_spec


def test_chapter_layer_shapes_follow_pytorch_formulas():
    encoder, decoder = conv_autoencoder.shapes(jaxae.ConvAEConfig())
    # Conv(1->16,3,s3,p1): (28+2-3)//3+1=10; MaxPool(2,2): 5; Conv(16->8,3,s2,p1): 3; MaxPool(2,1): 2
    assert encoder == [(10, 16), (5, 16), (3, 8), (2, 8)]
    # ConvT(8->16,3,s2): (2-1)*2+3=5; ConvT(16->8,5,s3,p1): (5-1)*3-2+5=15; ConvT(8->1,2,s2,p1): 28
    assert decoder == [(5, 16), (15, 8), (28, 1)]


def test_chapter_model_layer_by_layer():
    """Runs each layer of the real module and checks its output shape against the formula."""
    x = jnp.zeros((3, 28, 28, 1))
    for spec in (conv_autoencoder.CHAPTER_ENCODER, conv_autoencoder.CHAPTER_DECODER):
        for layer in parse_spec(spec):
            stack = ConvStack((layer,))
            y = stack.apply(stack.init(jax.random.PRNGKey(0), x), x)
            size = output_size(layer, x.shape[1])
            channels = x.shape[-1] if layer.kind == "pool" else layer.features
            assert y.shape == (3, size, size, channels), layer
            x = y
    assert x.shape == (3, 28, 28, 1)


def test_full_model_output_is_28x28_in_tanh_range():
    task = conv_autoencoder.task()
    x = jax.random.uniform(jax.random.PRNGKey(1), (4, 28, 28))
    params = task.init(jax.random.PRNGKey(0), x)
    y = task.reconstruct(params, x)
    assert y.shape == (4, 28, 28) and float(y.min()) >= 0 and float(y.max()) <= 1


def torch_conv_transpose_oracle(x, w, b, stride, padding):
    """PyTorch's ConvTranspose2d by its definition: each input pixel scatters kernel * value."""
    n, h, width, _ = x.shape
    k, out_c = w.shape[0], w.shape[2]
    full = np.zeros((n, (h - 1) * stride + k, (width - 1) * stride + k, out_c))
    for i in range(h):
        for j in range(width):
            full[:, i * stride : i * stride + k, j * stride : j * stride + k, :] += np.einsum(
                "nc,abdc->nabd", x[:, i, j, :], w)
    end = full.shape[1] - padding
    return full[:, padding:end, padding:end, :] + b


@pytest.mark.parametrize("spec, stride, padding", [("t16k3s2", 2, 0), ("t8k5s3p1", 3, 1), ("t1k2s2p1", 2, 1)])
def test_transposed_conv_matches_pytorch_definition(spec, stride, padding):
    stack = ConvStack(parse_spec(spec))
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
    params = stack.init(jax.random.PRNGKey(0), x)
    kernel = np.asarray(params["params"]["convT_0"]["kernel"])  # (k, k, out, in), PyTorch's weight order
    bias = np.asarray(params["params"]["convT_0"]["bias"])
    expected = torch_conv_transpose_oracle(x, kernel, bias, stride, padding)
    np.testing.assert_allclose(stack.apply(params, x), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", ["c16", "x3k3", "c16k3s", "m16k2", ""])
def test_bad_layer_spec(spec):
    with pytest.raises(ConfigError):
        jaxae.ConvAEConfig(encoder=spec)


def test_decoder_must_end_with_one_channel():
    with pytest.raises(ConfigError, match="1-channel"):
        jaxae.ConvAEConfig(decoder="t16k3s2,t8k5s3p1")


def test_wrong_image_size_is_refused():
    data = jaxae.data.from_arrays(np.zeros((8, 32, 32), np.uint8), np.zeros(8), np.zeros((2, 32, 32), np.uint8), np.zeros(2))
    with pytest.raises(DataError, match="maps 32x32 images to 28x28.*need 28x28"):
        jaxae.fit(conv_autoencoder.task(), data, jaxae.TrainConfig(epochs=1, batch_size=4, progress=False))
