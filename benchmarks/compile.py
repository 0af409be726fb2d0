"""What XLA flags cost and buy on the CPU: for each flag set, in rounds, a fresh process fits each model for
2 epochs on mnist-mini (10,000 digits, batch 64) and prints one JSON line: XLA's compile seconds (every
program, and the training and evaluation programs alone, from jax.monitoring), the fits' wall time, each
model's second-epoch samples/s (compiled, steady), and a sha256 of each model's trained parameters, which
tells whether the flags move results at all.

    python -m benchmarks.compile --rounds 2 -- "" "--xla_backend_optimization_level=1"

Flag sets come after `--`, one argument each ("" for none), and are appended to XLA_FLAGS from the
environment; XLA stops at a flag it does not know, and the row says so (`error`). The children run with
JAX's persistent compilation cache off, so every program is compiled.
tests/conftest.py's compiler setting of the suite was measured with it.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import time

MODELS = {"ae": {}, "vae": {}, "rbm": {"n_hidden": 32, "pcd": True, "n_chains": 32}, "conv-ae": {}}


def child_env(flags: str) -> dict:
    """A child's environment: the flag set appended to XLA_FLAGS, and JAX's persistent compilation cache
    off, so that a cache folder set in the environment (JAX_COMPILATION_CACHE_DIR) cannot turn the
    compile seconds into cache reads."""
    return dict(os.environ, XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip(),
                JAX_ENABLE_COMPILATION_CACHE="false")


def child(models: list[str]) -> dict:
    import jax
    import numpy as np

    seconds: collections.Counter = collections.Counter()

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            seconds["compile_s"] += duration
            if kwargs.get("fun_name") in ("jit(train_epoch)", "jit(evaluate)", "jit(train_step_at)"):
                seconds["train_eval_compile_s"] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    import jaxae
    from jaxae.tasks import MODELS as ENTRIES

    mini = jaxae.data.load("mnist-mini")
    data = mini._replace(test_images=mini.test_images[:256], test_labels=mini.test_labels[:256])
    speed, sha, t0 = {}, {}, time.perf_counter()
    for name in models:
        entry = ENTRIES[name]
        result = jaxae.fit(entry.task(entry.config(**MODELS[name])), data,
                           jaxae.TrainConfig(epochs=2, batch_size=64, progress=False))
        speed[name] = round(result.history[-1]["samples_per_s"])
        leaves = [np.asarray(leaf) for leaf in jax.tree.leaves(result.state.params)]
        sha[name] = hashlib.sha256(b"".join(leaf.tobytes() for leaf in leaves)).hexdigest()[:16]
    return {**{k: round(v, 3) for k, v in seconds.items()}, "fit_s": round(time.perf_counter() - t0, 3),
            "samples_per_s": speed, "params_sha256": sha}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("flag_sets", nargs="*", metavar="FLAGS",
                        help='XLA flag sets to compare, after `--`, one argument each ("" for none)')
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma list, from {','.join(MODELS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models {args.models!r}: give a comma list from {','.join(MODELS)}")
    if args.child:
        print(json.dumps(child(models)))
        return []
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: give 1 or more")
    from benchmarks.common import emit  # (imports JAX: the parent's machine facts go on every row)

    rows = []
    for round_ in range(1, args.rounds + 1):
        for flags in args.flag_sets or [""]:
            env = child_env(flags)
            proc = subprocess.run([sys.executable, "-m", "benchmarks.compile", "--child", "--models", ",".join(models)],
                                  env=env, capture_output=True, text=True, timeout=600)
            row = {"bench": "compile", "round": round_, "flags": flags, "XLA_FLAGS": env["XLA_FLAGS"]}
            if proc.returncode == 0:
                row.update(json.loads(proc.stdout.splitlines()[-1]))
            else:
                row["error"] = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][-300:]
            rows.append(emit(row))
    return rows


if __name__ == "__main__":
    main()
