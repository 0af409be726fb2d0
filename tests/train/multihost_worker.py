"""One process of a multi-process test run (tests/train/test_multihost.py): joins the others through
jaxae's distributed setup, trains an AE, a VAE and a PCD RBM on a slice of mnist-mini into
OUT/<model>, and prints each model's parameter digest. Usage: python -m tests.train.multihost_worker OUT
[--coordinator HOST:PORT --num-processes N --process-id I]."""
import argparse

import jaxae
from jaxae.tasks import MODELS
from jaxae.train import distributed
from jaxae.train.checkpoint import state_checksum

MODELS_TRAINED = {
    "ae": {"hidden": (32, 16), "latent": 3},
    "vae": {"hidden": (32,), "latent": 2, "learning_rate": 1e-3},
    "rbm": {"n_hidden": 16, "pcd": True, "n_chains": 32},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--coordinator", default=None)
    parser.add_argument("--num-processes", type=int, default=None)
    parser.add_argument("--process-id", type=int, default=None)
    args = parser.parse_args()
    if args.coordinator:
        distributed.initialize(distributed.Cluster.from_env(coordinator=args.coordinator,
                                                            num_processes=args.num_processes, process_id=args.process_id))
    mini = jaxae.data.load("mnist-mini")
    data = mini._replace(train_images=mini.train_images[:1024], train_labels=mini.train_labels[:1024],
                         test_images=mini.test_images[:256], test_labels=mini.test_labels[:256])
    for name, options in MODELS_TRAINED.items():
        entry = MODELS[name]
        train = jaxae.TrainConfig(epochs=2, batch_size=128, eval_batch_size=256, progress=False)
        task = entry.task(entry.config(**options))._replace(reconstruct=None)  # no pictures: faster
        result = jaxae.fit(task, data, train, f"{args.out}/{name}")
        print(f"{name} {state_checksum(result.state.params)}", flush=True)


if __name__ == "__main__":
    main()
