"""jaxae against its hand-written floor, epochs interleaved: the ratio with the machine's drift taken out.

    python -m benchmarks.ab --model vae [--rounds 5] [--mode scan]

`python -m benchmarks.models` times each implementation in its own block, so a machine whose speed moves
by 10% between blocks (as this project's 2-core CPUs do) moves the ratio by as much. Here both are
compiled and warmed up first, then each round times one jaxae epoch and one floor epoch back to back;
the line printed gives samples/s of the best and the median epoch of each, and their ratios.
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax

import jaxae
from benchmarks import floor, models
from benchmarks.common import emit, load_data
from jaxae.train.loop import compile_epoch, configured, init_states


def floor_epoch(model: str, images, batch: int):
    """(epoch_fn, carry) of the floor's loop for `model`, built but not run (see floor.FLOORS)."""
    built = {}

    def keep(epoch_fn, carry, epochs):
        built.update(fn=epoch_fn, carry=carry)
        return {"epoch_s": 1.0}

    timed, floor._timed = floor._timed, keep
    try:
        floor.FLOORS[model](images, batch, 0)
    finally:
        floor._timed = timed
    return built["fn"], built["carry"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ae", choices=sorted(floor.FLOORS))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of one jaxae and one floor epoch")
    parser.add_argument("--mode", default="scan", choices=("scan", "step"), help="jaxae's training mode")
    args = parser.parse_args(argv)
    images = load_data().train_images
    batch = models.BATCH.get(args.model, 128)
    config = jaxae.TrainConfig(batch_size=batch, mode=args.mode)
    task = configured(models.MODELS[args.model][0](), config)
    state = jax.device_put(init_states(task, config, images[:batch]))
    device_images = jax.device_put(images)
    run_epoch, _ = compile_epoch(task, config, args.mode, state, device_images, None)
    epoch_fn, carry = floor_epoch(args.model, images, batch)

    seconds: dict[str, list[float]] = {"jaxae": [], "floor": []}
    runs = {"jaxae": [lambda s, epoch: run_epoch(s, device_images, epoch), state], "floor": [epoch_fn, carry]}
    for epoch in range(args.rounds + 1):  # epoch 0 warms both up and is not counted
        for name, run in runs.items():
            t0 = time.perf_counter()
            run[1], out = run[0](run[1], epoch)
            jax.block_until_ready((run[1], out))
            if epoch:
                seconds[name].append(time.perf_counter() - t0)
    n = (len(images) // batch) * batch
    best = {name: n / min(s) for name, s in seconds.items()}
    median = {name: n / statistics.median(s) for name, s in seconds.items()}
    return emit({"model": args.model, "impl": f"jaxae-{args.mode}", "against": "jax-floor", "rounds": args.rounds,
                 "batch": batch, "n": n, "jaxae_best": best["jaxae"], "floor_best": best["floor"],
                 "jaxae_median": median["jaxae"], "floor_median": median["floor"],
                 "vs_floor_best": best["jaxae"] / best["floor"], "vs_floor_median": median["jaxae"] / median["floor"]})


if __name__ == "__main__":
    main()
