"""AE throughput: jaxae (scan, step) vs the chapter's PyTorch loop, same run, same machine.

    python -m benchmarks.ae [--epochs 3] [--batch-size 128]
"""
from __future__ import annotations

import argparse

from benchmarks.common import emit, jaxae_throughput, load_data
from benchmarks.torch_reference import autoencoder_throughput
from jaxae.models import autoencoder


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--modes", default="scan,step", help="jaxae modes to time")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    args = parser.parse_args(argv)
    data = load_data()
    images = data.train_images
    common = {"model": "ae", "data": data.name, "n": len(images), "batch": args.batch_size}
    rows = []
    for mode in args.modes.split(","):
        result = jaxae_throughput(autoencoder.task(), images, args.batch_size, mode, args.epochs)
        rows.append(emit({**common, "impl": f"jaxae-{mode}", **result}))
    if not args.no_torch:
        result = autoencoder_throughput(images, args.batch_size, args.epochs)
        rows.append(emit({**common, "impl": "torch-eager", **result}))
        for r in rows[:-1]:
            emit({**common, "ratio": f"{r['impl']}/torch-eager", "value": r["samples_per_s"] / rows[-1]["samples_per_s"]})
    return rows


if __name__ == "__main__":
    main()
