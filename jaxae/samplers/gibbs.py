"""Block Gibbs sampling for RBMs: alternate h ~ p(h | v) and v ~ p(v | h), many chains at once."""
from __future__ import annotations

from typing import NamedTuple

import jax

from jaxae.models import rbm


class GibbsState(NamedTuple):
    """A batch of chains. v: (chains, n_visible) float32; h: (chains, n_hidden) float32."""

    v: jax.Array
    h: jax.Array


class GibbsInfo(NamedTuple):
    """Not carried: the conditional means of the step. p_v: (chains, n_visible); p_h: (chains, n_hidden)."""

    p_v: jax.Array
    p_h: jax.Array


def init(key: jax.Array, params: rbm.RBMParams, v: jax.Array, hidden: str = "bernoulli") -> GibbsState:
    """Chains started at visible states v (chains, n_visible), with h ~ p(h | v)."""
    _, h = rbm.sample_hidden(key, params, v, hidden)
    return GibbsState(v, h)


def kernel(key: jax.Array, state: GibbsState, params: rbm.RBMParams, visible: str = "bernoulli",
           mask: jax.Array | None = None, hidden: str = "bernoulli") -> tuple[GibbsState, GibbsInfo]:
    """One full sweep: v ~ p(v | h), then h ~ p(h | v). `mask` (chains, n_visible) keeps missing
    visible units at 0 (see rbm.sample_visible); `hidden` is the hidden unit type."""
    k_v, k_h = jax.random.split(key)
    p_v, v = rbm.sample_visible(k_v, params, state.h, visible, mask)
    p_h, h = rbm.sample_hidden(k_h, params, v, hidden)
    return GibbsState(v, h), GibbsInfo(p_v, p_h)


def run(key: jax.Array, state: GibbsState, params: rbm.RBMParams, n_steps: int, visible: str = "bernoulli",
        mask: jax.Array | None = None, hidden: str = "bernoulli") -> tuple[GibbsState, GibbsInfo]:
    """`n_steps` sweeps with lax.scan (step i uses fold_in(key, i)); returns the last state and info."""

    def body(carry, i):
        return kernel(jax.random.fold_in(key, i), carry[0], params, visible, mask, hidden), None

    # the last step's info rides in the carry (stacking every step's would cost memory traffic)
    info = GibbsInfo(jax.numpy.zeros_like(state.v), jax.numpy.zeros_like(state.h))
    (state, info), _ = jax.lax.scan(body, (state, info), jax.numpy.arange(n_steps))
    return state, info
