"""Flax Linen building blocks."""
from jaxae.nn.conv import ConvStack, parse_spec
from jaxae.nn.mlp import MLP

__all__ = ["ConvStack", "MLP", "parse_spec"]
