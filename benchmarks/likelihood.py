"""Time of `jaxae eval`'s importance-sampled NLL (k samples per test digit) of a VAE.

    python -m benchmarks.likelihood [--k 5000] [--limit N] [--epochs 1]

Trains a VAE for `--epochs` epochs with `jaxae train vae` into a temporary folder (the cost of the
estimate does not depend on how well it is trained), then times `evaluate_run` on it: the IS-NLL over
the test set (10,000 digits with $JAXAE_DATA_DIR, else mnist-mini's 2,000; `--limit` fewer), compile
time included, as `jaxae eval --run RUN --k K` spends it.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

from benchmarks.common import emit, load_data


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5000, help="importance samples per digit")
    parser.add_argument("--limit", type=int, default=None, help="only the first N test digits")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs before the estimate")
    args = parser.parse_args(argv)
    if args.k < 1 or args.epochs < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--k, --epochs and --limit must be at least 1")
    from jaxae.apps.evaluate import evaluate_run
    from jaxae.tasks import load_run

    data = load_data()
    with tempfile.TemporaryDirectory(prefix="jaxae-bench-") as workdir:
        subprocess.run([sys.executable, "-m", "jaxae", "train", "vae", "--data", data.name, "--epochs",
                        str(args.epochs), "--no-progress", "--workdir", workdir], check=True, stdout=subprocess.DEVNULL)
        run = load_run(workdir)
        t0 = time.perf_counter()
        result = evaluate_run(run, k=args.k, limit=args.limit, progress=False)
        seconds = time.perf_counter() - t0
    return [emit({"model": "is-nll-vae", "data": data.name, "k": args.k, "n_test": result["n_test"],
                  "seconds": seconds, "is_nll": result["is_nll"], "epochs_trained": args.epochs})]


if __name__ == "__main__":
    main()
