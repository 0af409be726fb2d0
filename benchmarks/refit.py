"""The start-up of a second `jaxae.fit` of the same program (jaxae.train.programs): each model is
trained twice from a task rebuilt from its config, and one JSON line per model gives both calls' wall
time and compile_s, and the programs the second call found compiled.

    python -m benchmarks.refit --models ae vae rbm --epochs 2
"""
from __future__ import annotations

import argparse
import time

import jaxae
from benchmarks.common import emit
from jaxae.tasks import MODELS
from jaxae.train import programs

OPTIONS = {"rbm": {"n_hidden": 32, "pcd": True, "n_chains": 64}}


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ae", "vae", "rbm"], choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--examples", type=int, default=512, help="training digits of mnist-mini (256 test)")
    args = parser.parse_args(argv)
    mini = jaxae.data.load("mnist-mini")
    n = args.examples
    if not 64 <= n <= len(mini.train_images):
        parser.error(f"--examples {n}: give 64 (one batch) to {len(mini.train_images)} (mnist-mini's training digits)")
    if args.epochs < 1:
        parser.error(f"--epochs {args.epochs}: give 1 or more")
    data = jaxae.data.Dataset(mini.train_images[:n], mini.train_labels[:n], mini.test_images[:256],
                              mini.test_labels[:256], f"mnist-mini[:{n}]")
    rows = []
    for name in args.models:
        entry = MODELS[name]
        config = jaxae.TrainConfig(epochs=args.epochs, batch_size=64, progress=False)
        record: dict = {"bench": "refit", "model": name, "epochs": args.epochs, "examples": n}
        for call in ("first", "second"):
            before = programs.info()
            t0 = time.perf_counter()
            result = jaxae.fit(entry.task(entry.config(**OPTIONS.get(name, {}))), data, config)
            record[f"{call}_s"] = time.perf_counter() - t0
            record[f"{call}_compile_s"] = result.history[0]["compile_s"]
            after = programs.info()
            record[f"{call}_programs_reused"] = after.hits - before.hits
            record[f"{call}_programs_compiled"] = after.misses - before.misses
        rows.append(emit(record))
    return rows


if __name__ == "__main__":
    main()
