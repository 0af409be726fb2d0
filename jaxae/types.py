"""Type aliases shared by every layer (documentation for readers and type checkers; no behaviour)."""
from __future__ import annotations

from typing import Any

import jax

PRNGKey = jax.Array
"""A `jax.random` key: (2,) uint32 from `jax.random.PRNGKey`, or a typed key."""

Params = Any
"""A model's parameter pytree (a Flax params dict, an `RBMParams`, ...)."""

Batch = Any
"""What an estimator or evaluation receives: an array, or a pytree of arrays with a leading batch axis."""

EstState = Any
"""An estimator's carried state (`optax.EmptyState`, a step counter, persistent chains, ...)."""

Metrics = dict
"""A flat dict of name -> scalar array (or per-example arrays, for evaluation)."""
