"""Where jaxae's CD-1 loses to its hand-written floor on XLA:CPU: the floor's CD-1 step against variants
that each change one thing, epochs interleaved as in benchmarks.ab.

    python -m benchmarks.cd_keys [--rounds 4]
    XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false python -m benchmarks.cd_keys

Variants (784-500 RBM, batch 100, the floor's loop and optimizer; only the CD step differs):
  floor          the two Bernoulli draws' keys from one `split(key, 3)` (benchmarks/floor.py)
  split-split    the second key from a second `split` of the first split's other half
  split-fold_in  the second key from `fold_in` of the other half
  jaxae-keys     the chain jaxae.rbm.cd used before 2026-12-07: `split`, `fold_in(k_run, 0)`, then the
                 Gibbs kernel's `split` (since then it takes both keys from one `split(key, 3)`, as the floor)
  concat         the floor's keys, the statistics as one concatenated product (as jaxae.rbm.cd_gradient)
  jaxae-cd       jaxae's estimator itself, `jaxae.rbm.cd(1).estimate`, in the floor's loop
One JSON line per variant: samples/s of its best and median epoch and both ratios to the floor.
"""
from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import floor
from benchmarks.common import emit, interleaved, load_data
from jaxae import rbm


def _floor_keys(key):
    keys = jax.random.split(key, 3)
    return keys[0], keys[1]


def _split_split(key):
    first, rest = jax.random.split(key)
    return first, jax.random.split(rest)[0]


def _split_fold_in(key):
    first, rest = jax.random.split(key)
    return first, jax.random.fold_in(rest, 0)


def _jaxae_keys(key):  # jaxae.rbm.cd until 2026-12-07: k_init, k_run = split(key); the kernel splits fold_in(k_run, 0)
    first, rest = jax.random.split(key)
    return first, jax.random.split(jax.random.fold_in(rest, 0))[0]


def _cd1(keys, concat: bool = False):
    """The floor's CD-1 step (reconstruction error, gradient) with the draws' keys from `keys(key)`."""

    def err_and_grads(params, v, key):
        W, b, c = params
        ph0 = jax.nn.sigmoid(v @ W + c)
        k_h, k_v = keys(key)
        h = jax.random.bernoulli(k_h, ph0).astype(jnp.float32)
        v1 = jax.random.bernoulli(k_v, jax.nn.sigmoid(h @ W.T + b)).astype(jnp.float32)
        ph1 = jax.nn.sigmoid(v1 @ W + c)
        m = v.shape[0]
        if concat:
            dW = jnp.concatenate([v1, v]).T @ jnp.concatenate([ph1, -ph0]) / m
        else:
            dW = (v1.T @ ph1 - v.T @ ph0) / m
        return jnp.mean((v - v1) ** 2), (dW, jnp.mean(v1 - v, axis=0), jnp.mean(ph1 - ph0, axis=0))

    return err_and_grads


def _jaxae_cd(params, v, key):
    estimator = rbm.cd(1)
    grads, _, metrics = estimator.estimate(key, params, v, estimator.init(key, params))
    return metrics["recon_error"], grads


VARIANTS = {"floor": _cd1(_floor_keys), "split-split": _cd1(_split_split), "split-fold_in": _cd1(_split_fold_in),
            "jaxae-keys": _cd1(_jaxae_keys), "concat": _cd1(_floor_keys, concat=True), "jaxae-cd": _jaxae_cd}


def variant_epoch(name: str, images: np.ndarray, batch: int):
    """(epoch(carry, epoch) -> (carry, mean error), carry) of the floor's loop with variant `name`'s step."""
    v = jax.device_put((images.reshape(len(images), -1) > 127).astype(np.float32))
    W = 0.01 * jax.random.normal(jax.random.PRNGKey(0), (784, 500))
    if name == "jaxae-cd":
        params = rbm.init(jax.random.PRNGKey(0), 784, 500).replace(W=W)
        mask = rbm.weights_mask
    else:
        params, mask = (W, jnp.zeros(784), jnp.zeros(500)), (True, False, False)
    tx = optax.chain(optax.add_decayed_weights(2e-4, mask=mask), optax.sgd(0.05, momentum=0.5))
    return floor.scan_epoch(None, tx, v, batch, VARIANTS[name]), (params, tx.init(params), jax.random.PRNGKey(1))


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds of one epoch of every variant (>= 1)")
    parser.add_argument("--examples", type=int, default=0, help="train on the first N images (0: all)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.examples < 0 or 0 < args.examples < 100:
        parser.error(f"--examples must be 0 (all) or at least one batch of 100, got {args.examples}")
    images = load_data().train_images
    if args.examples > len(images):
        parser.error(f"--examples {args.examples} is more than the {len(images)} training images; give at most "
                     f"{len(images)}, or 0 for all")
    images = images[: args.examples] if args.examples else images
    batch = 100
    seconds = interleaved({name: variant_epoch(name, images, batch) for name in VARIANTS}, args.rounds)
    n = (len(images) // batch) * batch
    best = {name: n / min(s) for name, s in seconds.items()}
    median = {name: n / statistics.median(s) for name, s in seconds.items()}
    return [emit({"model": "rbm-cd1", "variant": name, "rounds": args.rounds, "batch": batch, "n": n,
                  "samples_per_s_best": best[name], "samples_per_s_median": median[name],
                  "vs_floor_best": best[name] / best["floor"], "vs_floor_median": median[name] / median["floor"]})
            for name in seconds]


if __name__ == "__main__":
    main()
