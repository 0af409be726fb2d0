"""One process of tests/train/test_multihost.py's slow-writer test: the `jaxae` command, with process 0
SECONDS slower at two of its writes, each longer than the run's distributed timeout: epoch 1's metrics
line (the others go on to epoch 2's first collective) and the loss curves after the last epoch (the
others leave the loop, then wait in JAX's shutdown barrier). Usage: python -m tests.train.slow_writer
SECONDS ARGS (ARGS: the jaxae command's)."""
import sys
import time

import jax

from jaxae import viz
from jaxae.apps import cli
from jaxae.train.rundir import RunDir


def main() -> int:
    seconds, argv = float(sys.argv[1]), sys.argv[2:]
    append_metrics, save_curves = RunDir.append_metrics, viz.save_curves

    def slow_append(self, record):
        if jax.process_index() == 0 and record.get("epoch") == 1:
            time.sleep(seconds)
        append_metrics(self, record)

    def slow_curves(*args, **kwargs):
        time.sleep(seconds)
        save_curves(*args, **kwargs)

    RunDir.append_metrics, viz.save_curves = slow_append, slow_curves  # only process 0 writes either
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
