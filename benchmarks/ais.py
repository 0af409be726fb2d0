"""Time of one AIS estimate of log Z (jaxae.rbm.ais) on a 784-500 RBM, compile time separate.

    python -m benchmarks.ais [--run RUN] [--chains 100,1000] [--temperatures 14500]

Without --run the RBM has N(0, 0.01^2) weights and data-marginal visible biases (the cost of AIS does
not depend on the weights' values).
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from benchmarks.common import emit, load_data
from jaxae import rbm

ais = rbm.ais


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a trained RBM run folder (default: a fresh 784-500 RBM)")
    parser.add_argument("--chains", default="100,1000")
    parser.add_argument("--temperatures", type=int, default=14_500)
    args = parser.parse_args(argv)
    data = load_data()
    v = (jnp.asarray(data.train_images).reshape(len(data.train_images), -1) > 127).astype(jnp.float32)
    if args.run:
        from jaxae.tasks import load_run

        params = load_run(args.run).state.params
    else:
        params = rbm.init(jax.random.PRNGKey(0), v.shape[1], 500, data_mean=v.mean(axis=0))
    b_a = ais.base_rate_biases(v)
    rows = []
    for chains in (int(c) for c in args.chains.split(",")):
        fn = jax.jit(ais.log_partition, static_argnums=(3, 4))
        t0 = time.perf_counter()
        compiled = fn.lower(jax.random.PRNGKey(1), params, b_a, chains, args.temperatures).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(jax.random.PRNGKey(1), params, b_a))  # warm-up
        t0 = time.perf_counter()
        result = jax.block_until_ready(compiled(jax.random.PRNGKey(2), params, b_a))
        rows.append(emit({"model": "ais-784-500", "chains": chains, "temperatures": args.temperatures,
                          "seconds": time.perf_counter() - t0, "compile_s": compile_s,
                          "log_z": float(result.log_z), "log_z_stderr": float(result.log_z_std)}))
    return rows


if __name__ == "__main__":
    main()
