"""Random draws over the rows of a batch that give the same numbers however the batch is split.

One device and a mesh (jit with the batch sharded) need nothing special: with
`jax_threefry_partitionable` a draw of a given shape is the same however XLA shards it. The pmap
backend (jaxae.train.parallel.Pmap) runs each device on its slice of rows under a mapped axis, where a
plain `jax.random.normal(key, local_shape)` would draw different numbers for 1 and 8 devices. While
that backend traces its step it says so explicitly, with `rows_split_over(axis_name)`; then each
device draws the whole batch's numbers from the same key and keeps its own rows, so every backend and
device count trains the same model. The price is that each device draws N times the random numbers
it uses (on 2-8 forced CPU devices pmap still ran the VAE 1.3x faster than the mesh:
benchmarks/README.md; the mesh backend, the default, has no such cost).

Outside `rows_split_over` every function is exactly the `jax.random` function of the same name,
whatever mapped axes (a user's `vmap(..., axis_name="data")`, say) are in scope.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
import jax.numpy as jnp

# the mapped axis whose devices each hold a slice of the batch's rows, while a step is traced for them
_SPLIT_AXIS: contextvars.ContextVar[str | None] = contextvars.ContextVar("jaxae_rand_split_axis", default=None)


@contextlib.contextmanager
def rows_split_over(axis_name: str) -> Iterator[None]:
    """Within this context (at trace time), the rows of every draw are split over the mapped axis
    `axis_name`: each member draws the whole batch's numbers and keeps its own rows."""
    token = _SPLIT_AXIS.set(axis_name)
    try:
        yield
    finally:
        _SPLIT_AXIS.reset(token)


def _rows(draw, shape, axis: int = 0) -> jax.Array:
    """`draw(shape)` for this device's rows along `axis` of the whole batch's draw."""
    name = _SPLIT_AXIS.get()
    n = 1 if name is None else jax.lax.axis_size(name)
    if n == 1:
        return draw(tuple(shape))
    local = shape[axis]
    # The barrier keeps the whole batch's draw a computation of its own, as on one device. Without it
    # XLA fuses the row slice into the draw's transform (erf_inv for `normal`) and compiles another
    # program than one device's, whose float results may differ in the last bit with the machine's
    # code generator (seen under jax 0.12 for `normal`; tests/test_rand.py checks the compiled program).
    full = jax.lax.optimization_barrier(draw(tuple(shape[:axis]) + (n * local,) + tuple(shape[axis + 1:])))
    return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(name) * local, local, axis)


def uniform(key: jax.Array, shape, dtype=jnp.float32, minval=0.0, maxval=1.0, axis: int = 0) -> jax.Array:
    """`jax.random.uniform` with rows along `axis`."""
    return _rows(lambda s: jax.random.uniform(key, s, dtype, minval, maxval), shape, axis)


def normal(key: jax.Array, shape, dtype=jnp.float32, axis: int = 0) -> jax.Array:
    """`jax.random.normal` with rows along `axis` (e.g. axis=1 for (samples, batch, latent))."""
    return _rows(lambda s: jax.random.normal(key, s, dtype), shape, axis)


def bernoulli(key: jax.Array, p, shape=None) -> jax.Array:
    """`jax.random.bernoulli(key, p, shape)`: uniform(key, shape, dtype) < p, as JAX defines it, with the
    uniform at least float32 (a bfloat16 uniform would resolve probabilities only to 1/256)."""
    p = jnp.asarray(p)
    shape = p.shape if shape is None else tuple(shape)
    dtype = jnp.result_type(p.dtype, jnp.float32) if jnp.issubdtype(p.dtype, jnp.floating) else jnp.float32
    return uniform(key, shape, dtype) < p


def categorical(key: jax.Array, logits: jax.Array, axis: int = -1) -> jax.Array:
    """`jax.random.categorical(key, logits, axis)`: argmax of Gumbel noise plus logits, rows on axis 0."""
    noise = _rows(lambda s: jax.random.gumbel(key, s, logits.dtype), logits.shape)
    return jnp.argmax(noise + logits, axis=axis)


def randint(key: jax.Array, shape, minval, maxval, dtype=jnp.int32) -> jax.Array:
    """`jax.random.randint` with rows along axis 0."""
    return _rows(lambda s: jax.random.randint(key, s, minval, maxval, dtype), shape)
