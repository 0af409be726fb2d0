import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxae
from jaxae.errors import ConfigError, DataError
from jaxae.nn.conv import (
    TRANSPOSED,
    ConvStack,
    conv_transpose,
    max_pool,
    output_size,
    parse_spec,
    transposed_method,
)
from jaxae.tasks import conv_ae as conv_autoencoder


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
    return torch_conv_transpose_oracle_rect(x, w, stride, padding) + b


@pytest.mark.parametrize("spec, stride, padding", [("t16k3s2", 2, 0), ("t8k5s3p1", 3, 1), ("t1k2s2p1", 2, 1)])
def test_transposed_conv_matches_pytorch_definition(spec, stride, padding):
    stack = ConvStack(parse_spec(spec))
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype(np.float32)
    params = stack.init(jax.random.PRNGKey(0), x)
    kernel = np.asarray(params["params"]["convT_0"]["kernel"])  # (k, k, out, in), PyTorch's weight order
    bias = np.asarray(params["params"]["convT_0"]["bias"])
    expected = torch_conv_transpose_oracle(x, kernel, bias, stride, padding)
    np.testing.assert_allclose(stack.apply(params, x), expected, rtol=1e-4, atol=1e-5)


FORMULATIONS = [m for m in TRANSPOSED if m != "auto"]


@pytest.mark.parametrize("method", FORMULATIONS)
@pytest.mark.parametrize("k, stride, padding", [(3, 2, 0), (5, 3, 1), (2, 2, 1), (2, 3, 0), (4, 2, 3), (1, 1, 0)])
def test_every_formulation_matches_pytorch_definition(method, k, stride, padding):
    """Each way of computing the transposed conv is PyTorch's ConvTranspose2d, non-square input included."""
    rng = np.random.default_rng(k * 10 + stride)
    x = rng.normal(size=(2, 4, 6, 3)).astype(np.float32)
    kernel = rng.normal(size=(k, k, 5, 3)).astype(np.float32)
    expected = torch_conv_transpose_oracle_rect(x, kernel, stride, padding)
    got = conv_transpose(jnp.asarray(x), jnp.asarray(kernel), stride, padding, method)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", FORMULATIONS)
def test_formulations_have_the_same_gradients(method):
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 4))
    kernel = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 8, 4))

    def loss(x, kernel, method):
        return jnp.sum(jnp.sin(conv_transpose(x, kernel, 3, 1, method)))

    reference = jax.grad(loss, argnums=(0, 1))(x, kernel, "dilated")
    got = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)(x, kernel, method)
    for g, r in zip(got, reference):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", FORMULATIONS)
def test_chapter_model_is_the_same_function_under_every_formulation(method):
    """Parameters do not depend on the formulation: one init, three applies, one answer."""
    encoder, decoder = parse_spec(conv_autoencoder.CHAPTER_ENCODER), parse_spec(conv_autoencoder.CHAPTER_DECODER)
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 28, 28, 1))
    stack = ConvStack((*encoder, *decoder))
    params = stack.init(jax.random.PRNGKey(0), x)
    other = ConvStack((*encoder, *decoder), transposed=method)
    assert jax.tree.structure(other.init(jax.random.PRNGKey(0), x)) == jax.tree.structure(params)
    np.testing.assert_allclose(other.apply(params, x), stack.apply(params, x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size, window, stride", [(10, 2, 2), (3, 2, 1), (7, 3, 2), (5, 2, 2), (6, 3, 3), (4, 1, 1)])
def test_max_pool_is_flax_max_pool_with_its_gradient(size, window, stride):
    """Values and gradients of the slice formulation equal select-and-scatter's, ties included (all to
    the first maximum of a window, as PyTorch)."""
    import flax.linen as nn

    x = jax.random.randint(jax.random.PRNGKey(size * window), (3, size, size + 1, 4), 0, 3).astype(jnp.float32)
    reference = nn.max_pool(x, (window, window), (stride, stride), padding="VALID")
    np.testing.assert_array_equal(max_pool(x, window, stride), reference)
    cotangent = jax.random.normal(jax.random.PRNGKey(1), reference.shape)
    ours = jax.vjp(lambda x: max_pool(x, window, stride), x)[1](cotangent)[0]
    theirs = jax.vjp(lambda x: nn.max_pool(x, (window, window), (stride, stride), padding="VALID"), x)[1](cotangent)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)  # overlapping windows add in another order


def test_transposed_method_resolves_auto_and_refuses_unknown():
    assert transposed_method("auto") in FORMULATIONS
    assert transposed_method("matmul") == "matmul"
    with pytest.raises(ConfigError, match="one of auto, dilated, matmul, subpixel"):
        transposed_method("winograd")


def torch_conv_transpose_oracle_rect(x, w, stride, padding):
    """As torch_conv_transpose_oracle, for any h, w and without bias."""
    n, h, width, _ = x.shape
    k, out_c = w.shape[0], w.shape[2]
    full = np.zeros((n, (h - 1) * stride + k, (width - 1) * stride + k, out_c))
    for i in range(h):
        for j in range(width):
            full[:, i * stride : i * stride + k, j * stride : j * stride + k, :] += np.einsum(
                "nc,abdc->nabd", x[:, i, j, :], w)
    return full[:, padding : full.shape[1] - padding, padding : full.shape[2] - padding, :]


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
