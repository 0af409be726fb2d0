"""Flax Linen building blocks."""
from jaxae.nn.mlp import MLP

__all__ = ["MLP"]
