"""Multi-layer perceptron block."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax

# PyTorch's nn.Linear weight initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), so the chapter's
# models start from the same distribution as its PyTorch code.
torch_linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


class MLP(nn.Module):
    """Dense layers with `activation` between them and `final_activation` (or none) after the last.

    Attributes:
      features: output width of each layer.
      activation: applied after every layer but the last.
      final_activation: applied after the last layer, or None for a linear output.
    """

    features: Sequence[int]
    activation: Callable = nn.relu
    final_activation: Callable | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x: (batch, in_features) float32 -> (batch, features[-1]) float32."""
        for i, width in enumerate(self.features):
            x = nn.Dense(width, kernel_init=torch_linear_init, name=f"dense_{i}")(x)
            if i < len(self.features) - 1:
                x = self.activation(x)
        return self.final_activation(x) if self.final_activation else x
