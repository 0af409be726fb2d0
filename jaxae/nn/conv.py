"""Convolution layers with PyTorch's shape semantics, and a small layer-spec language.

A spec is a comma-separated list of layers, e.g. the chapter's encoder "c16k3s3p1,m2s2,c8k3s2p1,m2s1"::

  cFkKsSpP  Conv2d(→F, kernel K, stride S, padding P)            out = (H + 2P - K) // S + 1
  mKsS      MaxPool2d(kernel K, stride S)                          out = (H - K) // S + 1
  tFkKsSpP  ConvTranspose2d(→F, kernel K, stride S, padding P)     out = (H - 1) * S - 2P + K

s defaults to 1 and p to 0. Every conv is followed by the block's activation except the last layer
of a decoder, which gets the output activation.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax

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


class ConvStack(nn.Module):
    """Applies parsed layers to (batch, h, w, c) images, NHWC.

    Attributes:
      layers: from `parse_spec`.
      activation: after every conv/transposed conv except the last layer.
      final_activation: after the last layer (None: linear).
    """

    layers: Sequence[Layer]
    activation: Callable = nn.relu
    final_activation: Callable | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            k, s, p = (layer.kernel,) * 2, (layer.stride,) * 2, layer.padding
            if layer.kind == "pool":
                if p:
                    x = jax.numpy.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=-jax.numpy.inf)
                x = nn.max_pool(x, k, s, padding="VALID")
            elif layer.kind == "conv":
                x = nn.Conv(layer.features, k, s, padding=((p, p), (p, p)), kernel_init=torch_linear_init,
                            name=f"conv_{i}")(x)
            else:
                # PyTorch's ConvTranspose2d is the gradient of a conv: dilate by the stride, pad by
                # k - 1 - p on each side, convolve with the flipped kernel.
                q = layer.kernel - 1 - p
                if q < 0:
                    raise ConfigError(f"transposed conv padding {p} exceeds kernel - 1 = {layer.kernel - 1}")
                x = nn.ConvTranspose(layer.features, k, s, padding=((q, q), (q, q)), transpose_kernel=True,
                                     kernel_init=torch_linear_init, name=f"convT_{i}")(x)
            if layer.kind != "pool":
                if i < last:
                    x = self.activation(x)
                elif self.final_activation is not None:
                    x = self.final_activation(x)
            elif i == last and self.final_activation is not None:
                x = self.final_activation(x)
        return x
