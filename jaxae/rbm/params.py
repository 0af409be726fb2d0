"""RBM parameters: three arrays and the static unit specification that travels with them."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxae.errors import CheckpointError, ConfigError, DataError, check_count
from jaxae.rbm.units import Units


@dataclasses.dataclass(frozen=True)
class RBMParams:
    """An RBM's parameters: a pytree of three arrays; `units` is static (part of the tree structure).

    Attributes:
      W: (n_visible, n_hidden) float32 weights.
      b_vis: (n_visible,) float32 visible biases.
      b_hid: (n_hidden,) float32 hidden biases.
      units: the unit types (`Units`); every function of `jaxae.rbm` reads them from here, so a
        Gaussian-hidden RBM is never evaluated as a Bernoulli one.

    Gradients, optimizer traces and vmapped stacks of an RBM keep this type and its units.
    """

    W: jax.Array
    b_vis: jax.Array
    b_hid: jax.Array
    units: Units = Units()

    def replace(self, **changes) -> RBMParams:
        """A copy with some fields changed (e.g. `params.replace(W=W)`)."""
        return dataclasses.replace(self, **changes)

    @property
    def n_visible(self) -> int:
        return self.W.shape[-2]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[-1]


jax.tree_util.register_dataclass(RBMParams, data_fields=["W", "b_vis", "b_hid"], meta_fields=["units"])

FIELDS = ("W", "b_vis", "b_hid")


def init(key: jax.Array, n_visible: int, n_hidden: int, data_mean: jax.Array | None = None,
         scale: float = 0.01, units: Units = Units()) -> RBMParams:
    """W ~ N(0, scale^2), hidden biases 0, visible biases log(p / (1 - p)) of the data's means
    (the practical guide's section 8), or 0 without data.

    Args:
      key: PRNG key.
      n_visible, n_hidden: layer sizes.
      data_mean: (n_visible,) mean of the binary training data, or None.
      scale: standard deviation of the initial weights.
      units: the unit types.

    Raises:
      ConfigError: a layer size below 1, or `units` not a Units; DataError: sizes that do not fit the units.
    """
    n_visible, n_hidden = check_count("n_visible", n_visible), check_count("n_hidden", n_hidden)
    if not isinstance(units, Units):  # validation of the argument, not a behaviour switch
        example = f"rbm.Units(hidden={units!r})" if units in ("gaussian", "bernoulli") else "rbm.Units(hidden=\"gaussian\")"
        raise ConfigError(f"units must be a jaxae.rbm.Units, got {units!r}; e.g. units={example}")
    units.check_sizes(n_visible)
    W = scale * jax.random.normal(key, (n_visible, n_hidden), jnp.float32)
    if data_mean is None:
        b_vis = jnp.zeros((n_visible,), jnp.float32)
    else:
        p = jnp.clip(jnp.asarray(data_mean, jnp.float32), 1e-3, 1 - 1e-3)
        b_vis = jnp.log(p) - jnp.log1p(-p)
    return RBMParams(W, b_vis, jnp.zeros((n_hidden,), jnp.float32), units)


def weights_mask(params: RBMParams) -> RBMParams:
    """An Optax mask selecting W only, e.g. `optax.add_decayed_weights(2e-4, mask=weights_mask)`
    (weight decay on the weights, not the biases)."""
    return params.replace(W=True, b_vis=False, b_hid=False)


def check_visible(params: RBMParams, v: jax.Array) -> None:
    """Raises DataError when v is not floating point (uint8 pixels 0..255 would silently give wrong
    energies) or its last axis is not the RBM's number of visible units. Static checks: they work
    under jit. Values are assumed to suit the units (0/1 for Bernoulli units, or probabilities in
    [0, 1] for a mean-field pass); `check_binary` checks concrete data."""
    dtype = jnp.result_type(v)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise DataError(f"RBM units must be floating point, got {dtype} data; binarize pixels first "
                        "(jaxae.data.transforms.binarize turns uint8 0..255 into float32 0/1) or cast 0/1 "
                        "integers with .astype(jnp.float32)")
    if v.shape[-1] != params.W.shape[-2]:
        raise DataError(f"the RBM has {params.W.shape[-2]} visible units but the data has {v.shape[-1]} features "
                        f"per example (shape {tuple(v.shape)}); flatten the images or use a model trained on "
                        "data of this size")


def check_hidden(params: RBMParams, h: jax.Array) -> None:
    """Raises DataError when h is not floating point or its last axis is not the RBM's number of hidden
    units (static checks: they work under jit)."""
    dtype = jnp.result_type(h)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise DataError(f"RBM hidden states must be floating point, got {dtype}; cast them with .astype(jnp.float32)")
    if h.shape[-1] != params.W.shape[-1]:
        raise DataError(f"the RBM has {params.W.shape[-1]} hidden units but h has {h.shape[-1]} per example "
                        f"(shape {tuple(h.shape)}); pass hidden states of the RBM's width")


def check_unit_interval(params: RBMParams, v) -> None:
    """Raises DataError when a concrete v for units whose states are 0/1 (Bernoulli, softmax, labels) has
    values outside [0, 1] (pixels 0..255, say); probabilities are allowed (a mean-field pass). Under jit
    nothing is checked: the values are assumed to suit the units."""
    if params.units.visible == "gaussian" or isinstance(v, jax.core.Tracer) or not np.size(v):
        return
    values = np.asarray(v)  # NumPy: also a concrete array closed over by a traced function
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        raise DataError(f"{params.units.visible} visible units take values in [0, 1], got [{low:g}, {high:g}]; "
                        "binarize the data first (jaxae.data.transforms.binarize) or use gaussian visible units "
                        "for real values")


def check_binary(v) -> None:
    """Raises DataError unless every value of the concrete array v is 0 or 1 (Bernoulli visible units)."""
    values = np.asarray(v)
    bad = values[(values != 0) & (values != 1)]
    if bad.size:
        raise DataError(f"Bernoulli visible units need binary data (0 or 1) but {bad.size} values are not, e.g. "
                        f"{float(bad.flat[0]):.4g}; binarize the data first ([[binarize='static']] or 'dynamic') or use "
                        "gaussian visible units for real values")


def check_finite(params: RBMParams) -> None:
    """Raises CheckpointError when a parameter is NaN or infinite (a diverged run)."""
    bad = [name for name in FIELDS if not np.all(np.isfinite(np.asarray(getattr(params, name))))]
    if bad:
        raise CheckpointError(f"the RBM's {', '.join(bad)} contain NaN or inf values: the training diverged; "
                              "retrain with a lower learning rate or restore an earlier checkpoint")
