"""One process of the multi-host shard-set test (tests/train/test_multihost.py): trains an AE from a
shard set into OUT and prints which shards its data pipeline read (the reads from Grain's thread; the
main thread reads one batch for the model's shapes) and the parameters' digest.
Usage: python -m tests.train.shard_worker SHARDS OUT [--coordinator HOST:PORT --num-processes N --process-id I]."""
import argparse
import threading

import jaxae
from jaxae.data import shards
from jaxae.tasks import MODELS
from jaxae.train import distributed
from jaxae.train.checkpoint import state_checksum


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("shards")
    parser.add_argument("out")
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    args = parser.parse_args()
    if args.coordinator:
        distributed.initialize(distributed.Cluster.from_env(coordinator=args.coordinator,
                                                            num_processes=args.num_processes, process_id=args.process_id))
    read = set()
    plain = shards.ShardArray._read

    def recorded(self, s, *rest):
        if threading.current_thread() is not threading.main_thread():
            read.add(s)
        return plain(self, s, *rest)

    shards.ShardArray._read = recorded
    data = jaxae.data.load(f"shards:{args.shards}")
    entry = MODELS["ae"]
    task = entry.task(entry.config(hidden=(32, 16), latent=3))._replace(reconstruct=None)
    train = jaxae.TrainConfig(epochs=2, batch_size=128, eval_batch_size=256, progress=False, chunk_steps=2)
    result = jaxae.fit(task, data, train, args.out)
    print("read " + ",".join(str(s) for s in sorted(read)), flush=True)
    print(f"ae {state_checksum(result.state.params)}", flush=True)


if __name__ == "__main__":
    main()
