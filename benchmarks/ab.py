"""jaxae against its hand-written floor, epochs interleaved: the ratio with the machine's drift taken out.

    python -m benchmarks.ab --model vae [--rounds 5] [--mode scan]

`python -m benchmarks.models` times each implementation in its own block, so a machine whose speed moves
by 10% between blocks (single runs on this project's 2-core CPUs differ by up to 15%) moves the ratio by
as much. Here both are
compiled and warmed up first, then each round times one jaxae epoch and one floor epoch back to back;
the line printed gives samples/s of the best and the median epoch of each, and their ratios.
"""
from __future__ import annotations

import argparse
import statistics

from benchmarks import floor, models
from benchmarks.common import compiled_epoch, emit, interleaved, load_data


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ae", choices=sorted(floor.FLOORS))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of one jaxae and one floor epoch (>= 1)")
    parser.add_argument("--mode", default="scan", choices=("scan", "step"), help="jaxae's training mode")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    images = load_data().train_images
    batch = models.BATCH.get(args.model, 128)
    run_epoch, state, _ = compiled_epoch(models.MODELS[args.model][0](), images, batch, args.mode)
    epoch_fn, carry = floor.FLOORS[args.model](images, batch)

    seconds = interleaved({"jaxae": (run_epoch, state), "floor": (epoch_fn, carry)}, args.rounds)
    n = (len(images) // batch) * batch
    best = {name: n / min(s) for name, s in seconds.items()}
    median = {name: n / statistics.median(s) for name, s in seconds.items()}
    return emit({"model": args.model, "impl": f"jaxae-{args.mode}", "against": "jax-floor", "rounds": args.rounds,
                 "batch": batch, "n": n, "jaxae_best": best["jaxae"], "floor_best": best["floor"],
                 "jaxae_median": median["jaxae"], "floor_median": median["floor"],
                 "vs_floor_best": best["jaxae"] / best["floor"], "vs_floor_median": median["jaxae"] / median["floor"]})


if __name__ == "__main__":
    main()
