"""The Task contract, checked once at the boundary of `fit` with `jax.eval_shape` (no compute): every
violation is one ConfigError that names the function, what it returned and what was expected."""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxae.errors import ConfigError, JaxaeError
from jaxae.estimators import Estimator
from jaxae.train.state import Task


def _arity(fn: Callable, name: str, params: str) -> None:
    """Raises ConfigError unless `fn` can be called with the positional arguments `params` names."""
    n = len(params.split(", "))
    if not callable(fn):
        raise ConfigError(f"{name} must be a function {name.split('.')[-1]}({params}), got {type(fn).__name__}")
    try:
        inspect.signature(fn).bind(*range(n))
    except TypeError:
        raise ConfigError(f"{name} must take ({params}); {getattr(fn, '__name__', 'it')}{inspect.signature(fn)} "
                          f"cannot be called that way") from None
    except ValueError:  # no signature (a builtin): nothing to check statically
        pass


def _shape_of(name: str, fn: Callable, *args) -> Any:
    """eval_shape of fn(*args), a failure reported as one ConfigError naming `name`."""
    try:
        return jax.eval_shape(fn, *args)
    except JaxaeError:
        raise
    except Exception as e:  # the user's function failed while being traced
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ConfigError(f"{name} failed on an example batch: {type(e).__name__}: {first}") from e


def _describe(tree) -> str:
    shapes = jax.tree.map(lambda x: f"{tuple(x.shape)} {x.dtype}", tree)
    text = str(shapes)
    return text if len(text) < 160 else text[:157] + "..."


def check_task(task: Task, example_raw: Any, test_raw: Any = None) -> None:
    """Checks `task` against its contract on one raw training batch and one raw test batch (shapes
    only; nothing runs). The test split may carry other arrays than the training split (a
    recommender's held-out ratings): `evaluate` sees the preprocessed test batch.

    Raises:
      ConfigError: naming the first function whose signature or output does not fit (see Task).
    """
    if not isinstance(task.optimizer, optax.GradientTransformation):
        name = getattr(task.optimizer, "__qualname__", "")
        if "<locals>" in name:  # e.g. optax.adam(1e-3).update: a function inside a transformation
            hint = "; pass the transformation itself (e.g. optax.adam(1e-3)), not its .update or .init"
        elif callable(task.optimizer) and getattr(task.optimizer, "__module__", "").startswith("optax"):
            hint = f"; call it, e.g. optax.{task.optimizer.__name__}(1e-3)"
        else:
            hint = ""
        raise ConfigError(f"Task.optimizer must be an optax.GradientTransformation, got {task.optimizer!r}{hint}")
    if not isinstance(task.estimator, Estimator):
        raise ConfigError(f"Task.estimator must be a jaxae.estimators.Estimator (e.g. jaxae.from_loss(loss_fn)), got "
                          f"{type(task.estimator).__name__}")
    _arity(task.preprocess, "Task.preprocess", "key, raw")
    _arity(task.init, "Task.init", "key, batch")
    _arity(task.evaluate, "Task.evaluate", "key, params, batch")
    _arity(task.estimator.init, "Task.estimator.init", "key, params")
    _arity(task.estimator.estimate, "Task.estimator.estimate", "key, params, batch, state")
    key = jax.random.PRNGKey(0)
    raw, test = (jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), tree)
                 for tree in (example_raw, example_raw if test_raw is None else test_raw))
    batch = _shape_of("Task.preprocess(key, raw)", task.preprocess, key, raw)
    params = _shape_of("Task.init(key, batch)", task.init, key, batch)
    fixed = [f"{jax.tree_util.keystr(path)} ({leaf.dtype})" for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]
             if not jnp.issubdtype(leaf.dtype, jnp.inexact)]
    if fixed:
        raise ConfigError(f"Task.init's parameters must all be floating point (they are differentiated and updated), but "
                          f"{', '.join(fixed[:3])} {'is' if len(fixed) == 1 else 'are'} not; keep RNG keys and counters "
                          "out of the parameters (for an NNX module with nnx.Dropout or nnx.Rngs: "
                          "graphdef, params, rest = nnx.split(model, nnx.Param, ...) and train params alone)")
    state = _shape_of("Task.estimator.init(key, params)", task.estimator.init, key, params)
    out = _shape_of("Task.estimator.estimate(key, params, batch, state)", task.estimator.estimate, key, params, batch,
                    state)
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[2], dict)):
        raise ConfigError(f"Task.estimator.estimate must return (grads, state, metrics), metrics a dict; got "
                          f"{_describe(out)}")
    grads, _, metrics = out
    if str(jax.tree.structure(grads)) != str(jax.tree.structure(params)):
        raise ConfigError(f"Task.estimator.estimate's gradients must have the structure of the parameters "
                          f"{jax.tree.structure(params)}; got {jax.tree.structure(grads)}")
    wide = {k: tuple(v.shape) for k, v in metrics.items() if getattr(v, "shape", ()) != ()}
    if wide:
        raise ConfigError(f"Task.estimator.estimate's metrics must be scalars (means over the batch); got shapes {wide}")
    test_batch = _shape_of("Task.preprocess(key, raw) of a test batch", task.preprocess, key, test)
    n = jax.tree.leaves(test)[0].shape[0]
    per_example = _shape_of("Task.evaluate(key, params, batch)", task.evaluate, key, params, test_batch)
    if not isinstance(per_example, dict):
        raise ConfigError(f"Task.evaluate must return a dict of per-example values {{name: ({n},)}}; got "
                          f"{_describe(per_example)}")
    wrong = {k: tuple(v.shape) for k, v in per_example.items() if tuple(getattr(v, "shape", ())) != (n,)}
    if wrong:
        raise ConfigError(f"Task.evaluate must return one value per example, {{name: ({n},)}} for a batch of {n}; got "
                          f"shapes {wrong} (the trainer averages them itself, so return e.g. jnp.mean(err, axis=-1), "
                          "not a scalar)")
