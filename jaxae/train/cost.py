"""What a training step costs: a count of its FLOPs, and a Perfetto trace of N steps (`--profile N`).

The count is of matrix products and convolutions (2 FLOPs per multiply-add), read off the step's jaxpr
with every `lax.scan` body counted as many times as it runs: the work a matmul calibration measures, so
FLOP/s divided by the machine's matmul rate says how far from the hardware a model is. XLA's own
cost analysis (`Lowered.cost_analysis()`) is not used: it counts a loop's body once, whatever its trip
count, so it gives a CD-10 RBM step 5.7 MFLOPs per example where the step does 18.0 (measured with jax
0.10.2); for loop-free steps the two agree within 4% (XLA also counts elementwise work).

Both look at the per-step program, `steps.train_step`: the scan and streaming modes run the same step
inside a loop.
"""
from __future__ import annotations

import contextlib
import functools
import glob
import math
import os
from typing import Any

import jax
from jax.extend import core

from jaxae.train import steps
from jaxae.train.state import Task, TrainState

def jaxpr_flops(jaxpr) -> float:
    """FLOPs of the matrix products (`dot_general`) and convolutions in a jaxpr (or ClosedJaxpr), 2 per
    multiply-add; a `scan` body times its length, a `cond` its costliest branch, a `while` body once
    (its trip count is not known before it runs), any other sub-jaxpr (jit, custom_jvp, remat) once."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval
            total += 2.0 * math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs.shape[d] for d in contract)
        elif name == "conv_general_dilated":
            rhs_spec = eqn.params["dimension_numbers"].rhs_spec  # (out features, in features, *spatial)
            kernel = eqn.invars[1].aval.shape
            per_output = kernel[rhs_spec[1]] * math.prod(kernel[d] for d in rhs_spec[2:])
            total += 2.0 * math.prod(eqn.outvars[0].aval.shape) * per_output / eqn.params["batch_group_count"]
        elif name == "scan":
            total += eqn.params["length"] * jaxpr_flops(eqn.params["jaxpr"])
        elif name == "cond":
            total += max(jaxpr_flops(branch) for branch in eqn.params["branches"])
        else:
            total += sum(jaxpr_flops(sub) for sub in core.jaxprs_in_params(eqn.params))
    return total


def step_flops(task: Task, state: TrainState, raw_batch, n_models: int = 1) -> float:
    """FLOPs (matrix products and convolutions, see jaxpr_flops) of one optimizer step of ONE model on
    `raw_batch`; asking costs a trace of the step, not a compile.

    Args:
      state: the training state (with n_models > 1, the stacked state; the first model's shapes are used).
      raw_batch: one raw batch (an array or a pytree of arrays), as the step receives it.
    """
    def spec(x, drop: int = 0):
        return jax.ShapeDtypeStruct(x.shape[drop:], x.dtype)

    one = jax.tree.map(functools.partial(spec, drop=1 if n_models > 1 else 0), state)
    return jaxpr_flops(jax.make_jaxpr(functools.partial(steps.train_step, task))(one, jax.tree.map(spec, raw_batch)))


def trace_steps(step, state: TrainState, args: tuple, n: int, directory: str, write: bool = True) -> str | None:
    """Runs the compiled `step(state, *args) -> (state, metrics)` once to warm up, then `n` times under
    `jax.profiler.trace`, each call annotated as step i (a Perfetto trace and an XPlane file in
    `directory`/plugins/profile/<time>/). The steps run on a copy of `state` that is then thrown away,
    so profiling does not change the run.

    Args:
      write: trace (True) or only run the steps (the other processes of a multi-process run, which
        must take part in the collectives while process 0 alone writes the trace).

    Returns:
      The Perfetto trace's path (perfetto_trace.json.gz), or None when write is False.
    """
    state = jax.tree.map(lambda x: x.copy(), state)
    state, metrics = step(state, *args)
    jax.block_until_ready(metrics)
    tracing: Any = (jax.profiler.trace(directory, create_perfetto_trace=True) if write
                    else contextlib.nullcontext())
    with tracing:
        for i in range(n):
            with jax.profiler.StepTraceAnnotation("train_step", step_num=i):
                state, metrics = step(state, *args)
        jax.block_until_ready((state, metrics))
    if not write:
        return None
    traces = sorted(glob.glob(os.path.join(directory, "plugins", "profile", "*", "perfetto_trace.json.gz")),
                    key=os.path.getmtime)
    return traces[-1] if traces else None
