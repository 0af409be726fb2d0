"""Parameters in and out of jaxae as safetensors (the Hugging Face hub's format, read by PyTorch, JAX,
NumPy, ...): every array leaf of a parameter tree is one tensor named by its tree path joined with
".", e.g. `encoder.dense_0.kernel`, `W` (an RBM's weights), `body.0.kernel` (an NNX list); metadata
(string to string) carries the model's name and config as JSON.

    jaxae.weights.save("vae.safetensors", run.state.params, {"jaxae": json.dumps({...})})
    params = jaxae.weights.load("vae.safetensors", like=run.state.params)   # checked, then rebuilt

`load` checks the file against the tree it is loaded into: a tensor missing, one not in the tree, or one
of another shape or dtype is a DataError naming the tensor, and nothing is returned half-filled.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from jaxae.errors import DataError


def _name(entry) -> str:
    for attr in ("name", "key", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def tensor_names(tree: Any) -> dict[str, Any]:
    """{"a.b.kernel": leaf} for every leaf of `tree`, in the tree's order.

    Raises:
      DataError: two leaves would get the same name (keys that contain ".").
    """
    out: dict[str, Any] = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = ".".join(_name(k) for k in path) or "value"
        if name in out:
            raise DataError(f"two parameters are both named {name!r} (a key contains '.'); rename the key")
        out[name] = leaf
    return out


def save(path: str, params: Any, metadata: dict[str, str] | None = None) -> str:
    """Writes every leaf of `params` to the safetensors file `path` (written beside it, then renamed, so
    a failure leaves any earlier file intact); returns the path."""
    tensors = {k: np.ascontiguousarray(np.asarray(jax.device_get(v))) for k, v in tensor_names(params).items()}
    tmp = f"{path}.partial"
    save_file(tensors, tmp, metadata={str(k): str(v) for k, v in (metadata or {}).items()})
    os.replace(tmp, path)
    return path


def metadata(path: str) -> dict[str, str]:
    """The file's metadata (string to string)."""
    with safe_open(path, framework="numpy") as f:
        return dict(f.metadata() or {})


def load(path: str, like: Any) -> Any:
    """The parameters stored in `path`, as a tree of the structure of `like` (NumPy arrays).

    Raises:
      DataError: the file is missing or not safetensors, or a tensor is missing, unexpected, or of
        another shape or dtype than `like`'s leaf of that name (the message names it).
    """
    if not os.path.isfile(path):
        raise DataError(f"no safetensors file at {path}; write one with jaxae export")
    try:
        stored = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"{path} is not a readable safetensors file ({str(e).splitlines()[0][:80]})") from None
    wanted = tensor_names(like)
    missing = [k for k in wanted if k not in stored]
    if missing:
        raise DataError(f"{path} has no tensor {missing[0]!r} (the model's {len(wanted)} tensors, the file's "
                        f"{len(stored)}); was it exported from another model?")
    extra = [k for k in stored if k not in wanted]
    if extra:
        raise DataError(f"{path} holds tensor {extra[0]!r}, which the model has no parameter for; was it exported "
                        "from another model?")
    for name, leaf in wanted.items():
        a, shape, dtype = stored[name], tuple(np.shape(leaf)), np.dtype(leaf.dtype)
        if a.shape != shape or a.dtype != dtype:
            raise DataError(f"tensor {name!r} in {path} is {a.shape} {a.dtype} but the model's is {shape} {dtype}")
    treedef = jax.tree_util.tree_structure(like)
    return jax.tree_util.tree_unflatten(treedef, [stored[name] for name in wanted])
