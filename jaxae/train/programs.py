"""Compiled programs reused between `fit` calls in one process.

Each `fit` builds its step, epoch and evaluation functions afresh (they close over the task), so JAX's
own jit cache, keyed on the function object, misses on every call and XLA compiles the same program
again: a resumed run, a sweep in a notebook, `jaxae eval` after `jaxae train` in one script. Here a
lowering is keyed on what decides the executable: its StableHLO text (shapes, dtypes, shardings,
donation), the shapes, dtypes and donation of every argument (those it never reads, which the text
leaves out, included), the values of the constants it closes over, its argument and result trees,
and the devices it runs on. An equal key gets the executable compiled before; XLA compiles
deterministically, so the results are bitwise the same (tests/train/test_programs.py). Tracing and
lowering still run each time; only XLA's compile, the bulk of a small program's start-up, is saved.

This is the one cache the trainer keeps (../STYLE.md asks for none): it holds no state of a run and
changes no result, like JAX's jit cache it stands beside. It keeps the CAPACITY most recently used
programs; `clear()` drops them. Programs with host callbacks (`jax.debug.print`, `pure_callback`) or
more than MAX_BYTES of text and constants are compiled every time (see `_key`).
"""
from __future__ import annotations

import collections
import hashlib
import threading
from typing import Any, NamedTuple

import jax
import numpy as np

CAPACITY = 64
MAX_BYTES = 16 << 20  # text and constants: a program that carries more (a data set closed over) is not kept

_programs: collections.OrderedDict[tuple, Any] = collections.OrderedDict()
_lock = threading.Lock()
_counts = {"hits": 0, "misses": 0}


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int


def compile(lowered: jax.stages.Lowered, devices: tuple[int, ...]) -> jax.stages.Compiled:
    """`lowered.compile()`, or the executable compiled earlier for an identical lowering on `devices`
    (the ids of the devices it runs on, in order)."""
    key = _key(lowered, devices)
    if key is None:
        return lowered.compile()
    with _lock:
        compiled = _programs.get(key)
        if compiled is not None:
            _programs.move_to_end(key)
            _counts["hits"] += 1
            return compiled
    compiled = lowered.compile()
    with _lock:
        _counts["misses"] += 1
        _programs[key] = compiled
        while len(_programs) > CAPACITY:
            _programs.popitem(last=False)
    return compiled


def _key(lowered, devices: tuple[int, ...]) -> tuple | None:
    """What decides the executable, or None for a program that is not kept: one with host callbacks
    (numbered per program in the text, not named), one whose text and constants exceed MAX_BYTES, or
    one whose constants and read arguments this JAX does not show. Since jax 0.12.1 the arrays a
    function closes over are not in the text but passed beside it (`const_args`,
    docs.jax.dev/en/latest/internals/constants.html), and a compiled program carries them: the key
    hashes their values too."""
    text = lowered.as_text()
    lowering = getattr(lowered, "_lowering", None)
    consts = getattr(lowering, "const_args", None)
    kept = getattr(lowering, "compile_args", {}).get("kept_var_idx")  # the arguments the program reads
    if consts is None or kept is None or "callback" in text:
        return None
    if len(text) + sum(getattr(const, "nbytes", None) or np.asarray(const).nbytes for const in consts) > MAX_BYTES:
        return None
    digest = hashlib.sha256(text.encode())
    for value in map(np.asarray, consts):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    # every argument's shape, dtype, weak type and donation, the unread ones included: XLA drops those
    # from the text, but the executable checks them on each call (a PCD RBM's evaluation with 32 chains
    # and with 64 has one text and needs two executables)
    arguments = tuple((arg.shape, str(arg.dtype), getattr(getattr(arg, "_aval", None), "weak_type", None),
                       arg.donated) for arg in jax.tree.leaves(lowered.args_info))
    return (digest.hexdigest(), tuple(sorted(kept)), arguments, lowered.in_tree, lowered.out_tree,
            tuple(devices))


def jit(fn, devices: tuple[int, ...], **options):
    """`jax.jit(fn, **options)` whose call compiles through `compile` (once per argument shapes,
    dtypes and shardings), so a later `fit` with the same program reuses its executable."""
    jitted = jax.jit(fn, **options)
    compiled: dict[Any, Any] = {}

    def call(*args):
        leaves, tree = jax.tree.flatten(args)
        signature = (tree, tuple((np.shape(x), getattr(x, "dtype", type(x)), getattr(x, "sharding", None))
                                 for x in leaves))
        program = compiled.get(signature)
        if program is None:
            program = compiled[signature] = compile(jitted.lower(*args), devices)
        return program(*args)

    return call


def devices_of(tree) -> tuple[int, ...]:
    """The ids of the devices a pytree of arrays lives on (its first JAX array's; the default device for
    host arrays), in id order."""
    placed = [x for x in jax.tree.leaves(tree) if isinstance(x, jax.Array)]
    return tuple(sorted(d.id for d in placed[0].devices())) if placed else (jax.devices()[0].id,)


def info() -> CacheInfo:
    """Hits and misses since the process started (or the last clear), and the programs kept."""
    with _lock:
        return CacheInfo(_counts["hits"], _counts["misses"], len(_programs))


def clear() -> None:
    """Drops every kept program and resets the counts."""
    with _lock:
        _programs.clear()
        _counts.update(hits=0, misses=0)
