"""Block Gibbs sampling for RBMs in the BlackJAX shape: alternate h ~ p(h | v) and v ~ p(v | h).

    kernel = build_kernel(params.units)
    state = init(key, params, v0)
    state, info = kernel(key, state, params)          # one sweep
    state, info = run(key, state, params, n_steps)    # n sweeps with lax.scan

Everything is a pure function of its arguments: jit, vmap (over chains or over parameter sets) and
scan compose with it.
"""
from __future__ import annotations

from typing import NamedTuple, Protocol

import jax
import numpy as np

from jaxae.errors import ConfigError
from jaxae.rbm.energy import sample_hidden, sample_visible
from jaxae.rbm.params import RBMParams
from jaxae.rbm.units import Units


class GibbsState(NamedTuple):
    """A batch of chains. v: (chains, n_visible); h: (chains, n_hidden), in the parameters' dtype."""

    v: jax.Array
    h: jax.Array


class GibbsInfo(NamedTuple):
    """Not carried: the conditional means of the step. p_v: (chains, n_visible); p_h: (chains, n_hidden)."""

    p_v: jax.Array
    p_h: jax.Array


class Kernel(Protocol):
    """`kernel(key, state, params, mask=None) -> (state, info)`: one Gibbs sweep (BlackJAX's shape)."""

    def __call__(self, key: jax.Array, state: GibbsState, params: RBMParams,
                 mask: jax.Array | None = None) -> tuple[GibbsState, GibbsInfo]: ...


def init(key: jax.Array, params: RBMParams, v: jax.Array) -> GibbsState:
    """Chains started at visible states v (chains, n_visible), with h ~ p(h | v)."""
    _, h = sample_hidden(key, params, v)
    return GibbsState(v, h)


def build_kernel(units: Units) -> Kernel:
    """The one-sweep Gibbs kernel of RBMs with these unit types.

    Returns:
      `kernel(key, state, params, mask=None) -> (state, info)`: v ~ p(v | h), then h ~ p(h | v).
      `mask` (chains, n_visible) in {0, 1} keeps missing visible units at 0 (see `sample_visible`).
      The kernel refuses (at trace time) parameters whose units differ from `units`.
    """
    if not isinstance(units, Units):
        raise ConfigError(f"build_kernel takes a jaxae.rbm.Units, got {type(units).__name__}")

    def kernel(key: jax.Array, state: GibbsState, params: RBMParams,
               mask: jax.Array | None = None) -> tuple[GibbsState, GibbsInfo]:
        if params.units != units:
            raise ConfigError(f"this Gibbs kernel was built for {units} units but the RBM has {params.units}; "
                              "build it with build_kernel(params.units)")
        k_v, k_h = jax.random.split(key)
        p_v, v = sample_visible(k_v, params, state.h, mask)
        p_h, h = sample_hidden(k_h, params, v)
        return GibbsState(v, h), GibbsInfo(p_v, p_h)

    return kernel


def kernel(key: jax.Array, state: GibbsState, params: RBMParams,
           mask: jax.Array | None = None) -> tuple[GibbsState, GibbsInfo]:
    """One sweep with the kernel of `params.units` (see `build_kernel`)."""
    return build_kernel(params.units)(key, state, params, mask)


def run(key: jax.Array, state: GibbsState, params: RBMParams, n_steps: int,
        mask: jax.Array | None = None) -> tuple[GibbsState, GibbsInfo]:
    """`n_steps` sweeps with lax.scan (step i uses fold_in(key, i)); returns the last state and info.

    n_steps is static (a Python int >= 1; under jit mark it static).

    Raises:
      ConfigError: n_steps is not a positive int.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ConfigError(f"n_steps must be a positive int (static under jit: static_argnums), got {n_steps!r}")
    step = build_kernel(params.units)

    def body(carry, i):
        return step(jax.random.fold_in(key, i), carry[0], params, mask), None

    # the last step's info rides in the carry (stacking every step's would cost memory traffic)
    info = GibbsInfo(jax.numpy.zeros_like(state.v), jax.numpy.zeros_like(state.h))
    (state, info), _ = jax.lax.scan(body, (state, info), jax.numpy.arange(n_steps))
    return state, info
