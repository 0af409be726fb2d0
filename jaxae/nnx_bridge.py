"""Flax NNX modules in jaxae: `NNXModel` gives an `nnx.Module` the Linen face the rest of jaxae calls,
`init(key, *args) -> {"params": params}` and `apply({"params": params}, *args, method=...)`, with the
parameters as a plain nested dict (`nnx.to_pure_dict`), so the trainer, Optax, Orbax checkpoints,
`vmap` over seeds, the data-parallel mesh and the likelihood functions (`jaxae.vae.log_weights`, ...)
treat it like any other parameter pytree.

Following Flax's performance guide for functional trainers, the module is split once (`nnx.split`)
into a static graph definition and its parameters; every call merges them (`nnx.merge`) inside the
caller's trace, so a compiled step holds no Python overhead of NNX::

    class VAE(nnx.Module):                          # your module: __init__(..., rngs), encode, decode, ...
        ...
    model = NNXModel(lambda rngs: VAE(784, 400, 20, rngs=rngs))
    params = model.init(key)["params"]              # a dict of arrays, keyed by the module's attributes
    mean, log_var = model.apply({"params": params}, x, method="encode")
    module = model.merge(params)                     # back to an nnx.Module

Only `nnx.Param` variables are trained. A module holding other state (BatchNorm's batch statistics,
RNG streams kept by Dropout, any custom nnx.Variable) is refused with one line naming the first such
variable: jaxae's steps are pure functions of the parameters, and state updated as a side effect
would be silently lost between steps. Pass randomness as a key argument instead.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from jaxae.errors import ConfigError


def _split(module: nnx.Module, where: str):
    """(graphdef, parameters as a pure dict), refusing non-parameter state."""
    graphdef, params, rest = nnx.split(module, nnx.Param, ...)  # type: ignore[misc]
    leaves = jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(rest))[0]
    if leaves:
        path = ".".join(str(getattr(k, "key", k)) for k in leaves[0][0])
        kinds = sorted({type(v).__name__ for _, v in jax.tree_util.tree_flatten_with_path(
            rest, is_leaf=lambda x: isinstance(x, nnx.Variable))[0]})
        raise ConfigError(f"{where} holds state besides nnx.Param ({', '.join(kinds)} at {path}, ...); jaxae trains "
                          "parameters only: drop BatchNorm/Dropout's stored RNG streams and pass keys as arguments")
    return graphdef, nnx.to_pure_dict(params)


class NNXModel:
    """An NNX module behind Linen's `init`/`apply` (see the module docstring).

    Args:
      make: `make(rngs) -> nnx.Module`, building the module with its parameters drawn from `rngs`
        (an `nnx.Rngs`); called once abstractly (`nnx.eval_shape`) for the graph definition, then by
        every `init` with that call's key.

    Raises:
      ConfigError: the module holds state besides nnx.Param.
    """

    def __init__(self, make: Callable[[nnx.Rngs], nnx.Module]):
        self.make = make
        self._abstract = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
        self.graphdef, _ = _split(self._abstract, f"the module {type(self._abstract).__name__}")

    def init(self, key: jax.Array, *args, **kwargs) -> dict:
        """{"params": the parameters of a module built from `key`} (extra arguments, e.g. an example
        batch that a Linen module would need, are accepted and ignored)."""
        del args, kwargs
        _, params = _split(self.make(nnx.Rngs(key)), f"the module {type(self._abstract).__name__}")
        return {"params": params}

    def merge(self, params: Any) -> nnx.Module:
        """The nnx.Module holding `params` (a pure dict as `init` gives, e.g. a trained run's)."""
        return nnx.merge(self.graphdef, params)

    def apply(self, variables: dict, *args, method: str = "__call__", **kwargs):
        """`module.<method>(*args, **kwargs)` of the module holding variables["params"]."""
        return getattr(self.merge(variables["params"]), method)(*args, **kwargs)

    def __getattr__(self, name: str):
        """The module's static attributes (e.g. a VAE's `decoder`), as Linen modules expose theirs."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._abstract, name)
