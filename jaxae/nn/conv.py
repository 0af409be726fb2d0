"""Convolution layers with PyTorch's shape semantics, and a small layer-spec language.

A spec is a comma-separated list of layers, e.g. the chapter's encoder "c16k3s3p1,m2s2,c8k3s2p1,m2s1"::

  cFkKsSpP  Conv2d(→F, kernel K, stride S, padding P)            out = (H + 2P - K) // S + 1
  mKsS      MaxPool2d(kernel K, stride S)                          out = (H - K) // S + 1
  tFkKsSpP  ConvTranspose2d(→F, kernel K, stride S, padding P)     out = (H - 1) * S - 2P + K

s defaults to 1 and p to 0. Every conv is followed by the block's activation except the last layer
of a decoder, which gets the output activation.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError
from jaxae.nn.mlp import torch_linear_init

_LAYER = re.compile(r"^(?P<kind>[cmt])(?P<f>\d+)?k(?P<k>\d+)(?:s(?P<s>\d+))?(?:p(?P<p>\d+))?$")


class Layer(NamedTuple):
    kind: str  # "conv", "pool" or "transpose"
    features: int
    kernel: int
    stride: int
    padding: int


def parse_spec(spec: str) -> tuple[Layer, ...]:
    """Parses a layer spec (see the module docstring).

    Raises:
      ConfigError: a layer that does not match the grammar.
    """
    layers = []
    for text in [t.strip() for t in spec.split(",") if t.strip()]:
        text = re.sub(r"^m(\d)", r"mk\1", text) if re.match(r"^m\d", text) else text
        m = _LAYER.match(text)
        kind = {"c": "conv", "m": "pool", "t": "transpose"}.get(text[:1], "")
        if not m or (kind != "pool" and not m["f"]) or (kind == "pool" and m["f"]):
            raise ConfigError(
                f"bad layer {text!r} in {spec!r}: write cFkKsSpP (conv), mKsS (max-pool) or tFkKsSpP "
                "(transposed conv), e.g. c16k3s3p1,m2s2"
            )
        layers.append(Layer(kind, int(m["f"] or 0), int(m["k"]), int(m["s"] or 1), int(m["p"] or 0)))
    if not layers:
        raise ConfigError(f"empty layer spec {spec!r}")
    return tuple(layers)


def output_size(layer: Layer, size: int) -> int:
    """Spatial size after `layer` for input size `size`, by PyTorch's formulas."""
    if layer.kind == "transpose":
        return (size - 1) * layer.stride - 2 * layer.padding + layer.kernel
    return (size + 2 * layer.padding - layer.kernel) // layer.stride + 1


def output_shape(layers: Sequence[Layer], size: int, channels: int) -> list[tuple[int, int]]:
    """(spatial size, channels) after each layer, starting from (size, channels)."""
    shapes = []
    for layer in layers:
        size = output_size(layer, size)
        channels = channels if layer.kind == "pool" else layer.features
        if size < 1:
            raise ConfigError(f"layer {layer} shrinks the image to {size} pixels; use a smaller kernel or stride")
        shapes.append((size, channels))
    return shapes


#: The transposed-convolution formulations (see `conv_transpose`); "auto" picks one per backend.
TRANSPOSED = ("auto", "dilated", "matmul", "subpixel")


def check_transposed(method: str) -> str:
    """`method` if it names a formulation (see TRANSPOSED), else ConfigError; does not start a backend."""
    if method not in TRANSPOSED:
        raise ConfigError(f"transposed convolutions are computed as one of {', '.join(TRANSPOSED)}, got {method!r}")
    return method


#: The formulation "auto" picks on each backend. The CPU's was measured fastest there
#: (benchmarks/README.md); the GPU's and TPU's are not yet measured, and are stride-1 convolutions
#: (cuDNN's forward kernels) rather than convolutions over a zero-dilated input.
AUTO_TRANSPOSED = {"cpu": "matmul", "gpu": "subpixel", "tpu": "subpixel"}


def transposed_method(method: str = "auto") -> str:
    """The transposed-convolution formulation for this backend: "auto" picks, once per trace, the one
    AUTO_TRANSPOSED names for it (see `conv_transpose`; benchmarks/README.md). Raises ConfigError for an
    unknown one."""
    if check_transposed(method) != "auto":
        return method
    return AUTO_TRANSPOSED.get(jax.default_backend(), "dilated")


def conv_transpose(x: jax.Array, kernel: jax.Array, stride: int, padding: int, method: str = "dilated") -> jax.Array:
    """PyTorch's ConvTranspose2d(stride, padding) without bias: x (n, h, w, in), kernel (k, k, out, in)
    (PyTorch's weight order) -> (n, (h-1)*stride - 2*padding + k, ..., out), in one of three exact
    formulations (the same function up to float rounding, and the same gradients):

    - "dilated": `lax.conv_transpose` with the flipped kernel, a convolution over the input dilated by
      the stride and padded by k - 1 - padding (Flax's ConvTranspose(transpose_kernel=True)). The
      vector-Jacobian product of the strided convolution it transposes lowers to this same HLO
      convolution (lhs_dilate = stride), so it is not a formulation of its own.
    - "subpixel": the kernel split into its stride x stride phases of K = ceil(k / stride) taps each,
      one stride-1 convolution of the undilated input with stride² x out channels, a depth-to-space
      shuffle and the crop: no multiplications by inserted zeros.
    - "matmul": the same sub-pixel decomposition with its convolution written as one matrix product of
      the K x K input patches (K² shifted slices) by the (K² in, stride² out) phase matrix.
    """
    k, s, p = kernel.shape[0], stride, padding
    n, h, w, in_c = x.shape
    out_c = kernel.shape[2]
    out_h, out_w = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
    if method == "dilated":
        q = k - 1 - p
        return jax.lax.conv_transpose(x, kernel, (s, s), ((q, q), (q, q)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      transpose_kernel=True)
    if method not in ("subpixel", "matmul"):
        raise ConfigError(f"unknown transposed-convolution formulation {method!r}; choose one of "
                          f"{', '.join(TRANSPOSED[1:])}")
    taps = -(-k // s)  # K: kernel taps per phase
    padded = jnp.pad(kernel, ((0, taps * s - k), (0, taps * s - k), (0, 0), (0, 0)))
    phases = padded.reshape(taps, s, taps, s, out_c, in_c)[::-1, :, ::-1]  # [t, r]: tap t of phase r, t flipped
    sub = phases.transpose(0, 2, 5, 1, 3, 4).reshape(taps, taps, in_c, s * s * out_c)  # HWIO
    m1, m2 = h + taps - 1, w + taps - 1
    if method == "subpixel":
        z = jax.lax.conv_general_dilated(x, sub, (1, 1), ((taps - 1, taps - 1),) * 2,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
    else:
        xp = jnp.pad(x, ((0, 0), (taps - 1, taps - 1), (taps - 1, taps - 1), (0, 0)))
        patches = jnp.concatenate([xp[:, a : a + m1, b : b + m2] for a in range(taps) for b in range(taps)], axis=-1)
        z = patches @ sub.reshape(taps * taps * in_c, s * s * out_c)
    full = z.reshape(n, m1, m2, s, s, out_c).transpose(0, 1, 3, 2, 4, 5).reshape(n, m1 * s, m2 * s, out_c)
    return full[:, p : p + out_h, p : p + out_w]


def _window_slices(window: int, stride: int, oh: int, ow: int):
    """(a, b, index) for each position (a, b) of the window, row-major: the strided slice of the input
    that the window's (a, b) element of every output pixel reads."""
    for a in range(window):
        for b in range(window):
            yield a, b, (slice(None), slice(a, a + stride * (oh - 1) + 1, stride),
                         slice(b, b + stride * (ow - 1) + 1, stride))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def max_pool(x: jax.Array, window: int, stride: int) -> jax.Array:
    """PyTorch's MaxPool2d(window, stride) on (n, h, w, c), VALID, as the maximum of window² strided
    slices, with the gradient of PyTorch and of XLA's select-and-scatter (all of it to the first
    maximum of each window, row-major) computed elementwise: select-and-scatter ran 3x slower on a CPU
    (benchmarks/README.md)."""
    return _max_pool_forward(x, window, stride)[0]


def _max_pool_forward(x, window, stride):
    oh, ow = (x.shape[1] - window) // stride + 1, (x.shape[2] - window) // stride + 1
    out = None
    for _, _, index in _window_slices(window, stride, oh, ow):
        out = x[index] if out is None else jnp.maximum(out, x[index])
    return out, (x, out)


def _max_pool_backward(window, stride, residuals, g):
    x, out = residuals
    (_, h, w, _), (oh, ow) = x.shape, out.shape[1:3]
    dx = jnp.zeros_like(x)
    taken = jnp.zeros(out.shape, bool)
    zero = jnp.zeros((), x.dtype)
    for a, b, index in _window_slices(window, stride, oh, ow):
        first = (x[index] == out) & ~taken
        taken = taken | first
        spread = [(0, 0, 0), (a, h - a - stride * (oh - 1) - 1, stride - 1), (b, w - b - stride * (ow - 1) - 1, stride - 1),
                  (0, 0, 0)]
        dx = dx + jax.lax.pad(jnp.where(first, g, zero), zero, spread)
    return (dx,)


max_pool.defvjp(_max_pool_forward, _max_pool_backward)


class ConvTranspose(nn.Module):
    """PyTorch's ConvTranspose2d (weight (k, k, out, in) under "kernel", and "bias"), computed by the
    formulation `method` (see `conv_transpose`; "auto": chosen per backend). The parameters are those
    of Flax's ConvTranspose(transpose_kernel=True), so checkpoints do not depend on the formulation.
    """

    features: int
    kernel_size: int
    stride: int
    padding: int
    method: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k = self.kernel_size
        kernel = self.param("kernel", torch_linear_init, (k, k, self.features, x.shape[-1]), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias)  # as Flax's layers do
        return conv_transpose(x, kernel, self.stride, self.padding, transposed_method(self.method)) + bias


class ConvStack(nn.Module):
    """Applies parsed layers to (batch, h, w, c) images, NHWC.

    Attributes:
      layers: from `parse_spec`.
      activation: after every conv/transposed conv except the last layer.
      final_activation: after the last layer (None: linear).
      transposed: how transposed convolutions are computed (see `conv_transpose`; "auto": per backend).
    """

    layers: Sequence[Layer]
    activation: Callable = nn.relu
    final_activation: Callable | None = None
    transposed: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            k, s, p = (layer.kernel,) * 2, (layer.stride,) * 2, layer.padding
            if layer.kind == "pool":
                if p:
                    x = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-jax.numpy.inf)
                x = max_pool(x, layer.kernel, layer.stride)
            elif layer.kind == "conv":
                x = nn.Conv(layer.features, k, s, padding=((p, p), (p, p)), kernel_init=torch_linear_init,
                            name=f"conv_{i}")(x)
            else:
                if layer.kernel - 1 - p < 0:
                    raise ConfigError(f"transposed conv padding {p} exceeds kernel - 1 = {layer.kernel - 1}")
                x = ConvTranspose(layer.features, layer.kernel, layer.stride, p, self.transposed, name=f"convT_{i}")(x)
            if layer.kind != "pool":
                if i < last:
                    x = self.activation(x)
                elif self.final_activation is not None:
                    x = self.final_activation(x)
            elif i == last and self.final_activation is not None:
                x = self.final_activation(x)
        return x
