"""`jaxae data write OUT --from NAME`: a dataset as a shard set (jaxae.data.shards) that `jaxae train
--data shards:OUT` streams from disk."""
from __future__ import annotations

import logging

from jaxae import data as jdata
from jaxae.data import shards
from jaxae.errors import DataError


def data_command(args) -> int:
    if args.shard_mb <= 0:
        raise DataError(f"--shard-mb must be a positive number of MiB, got {args.shard_mb}")
    dataset = jdata.load(args.source, args.data_dir, download=not args.no_download)
    if jdata.movielens.is_ratings(dataset):
        raise DataError(f"{args.source} is a ratings matrix, which fits in memory; train on it directly")
    written = shards.write(args.out, dataset, shard_bytes=int(args.shard_mb * (1 << 20)))
    for split, entry in written.manifest["splits"].items():
        logging.getLogger("jaxae").info("%s: %d examples in %d shards", split, entry["examples"], len(entry["shards"]))
    print(f"wrote {dataset.name} to {written.path}; train on it with: jaxae train MODEL --data shards:{written.path}")
    return 0
