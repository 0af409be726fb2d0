"""An RBM in your own `lax.scan`: CD-k gradients through an Optax optimizer, then AIS against exact log Z.

Nothing here touches jaxae's trainer: `jaxae.rbm` gives pure functions of (key, params, data) that go
inside your own jitted loop. The data are 4x4 "bars" (each row or column on or off): correlated pixels
that an RBM with a few hidden units can model. With 16 visible and 10 hidden units the partition
function can be enumerated exactly, so the annealed-importance-sampling estimate (Salakhutdinov &
Murray 2008) can be checked against the truth.

    python examples/rbm_scan.py [--k 5] [--steps 2000]
"""
import argparse

import jax
import jax.numpy as jnp
import optax

import jaxae.rbm as rbm


def bars(key, n):
    """(n, 16) 4x4 images: each of the 4 rows (or, half the time, columns) on with probability 1/2."""
    k_dir, k_on = jax.random.split(key)
    lines = jax.random.bernoulli(k_on, 0.5, (n, 4, 1)).astype(jnp.float32)
    images = jnp.broadcast_to(lines, (n, 4, 4))
    columns = jax.random.bernoulli(k_dir, 0.5, (n, 1, 1))
    return jnp.where(columns, jnp.swapaxes(images, 1, 2), images).reshape(n, 16)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    data = bars(jax.random.PRNGKey(0), 1024)
    params = rbm.init(jax.random.PRNGKey(1), 16, 10, data_mean=data.mean(0), scale=0.1)
    estimator, tx = rbm.cd(args.k), optax.chain(optax.add_decayed_weights(1e-4, mask=rbm.weights_mask),
                                                optax.sgd(0.1, momentum=0.9))

    def step(carry, i):
        params, opt_state, est_state = carry
        batch = jax.lax.dynamic_slice_in_dim(data, (i % 16) * 64, 64)
        grads, est_state, metrics = estimator.estimate(jax.random.fold_in(jax.random.PRNGKey(2), i), params,
                                                       batch, est_state)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, est_state), metrics["recon_error"]

    start = (params, tx.init(params), estimator.init(jax.random.PRNGKey(3), params))
    (trained, _, _), errors = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(args.steps)))(start)

    def nll(p):
        return float(jnp.mean(rbm.free_energy(p, data)) + rbm.exact_log_partition(p))

    exact = float(rbm.exact_log_partition(trained))
    ais = jax.jit(rbm.ais.log_partition, static_argnums=(3, 4))(
        jax.random.PRNGKey(4), trained, rbm.ais.base_rate_biases(data), 100, 30_000)
    print(f"CD-{args.k}, {args.steps} steps in one lax.scan: reconstruction error {float(errors[0]):.3f} -> "
          f"{float(errors[-1]):.3f}; exact NLL {nll(params):.3f} -> {nll(trained):.3f} nats "
          f"(the bars' own entropy: {28 / 32 * jnp.log(32.0) + 2 / 16 * jnp.log(16.0):.3f})")
    print(f"log Z: exact {exact:.4f}, AIS {float(ais.log_z):.4f} +- {float(ais.log_z_std):.4f} "
          f"(100 chains, 30,000 temperatures; difference {float(ais.log_z) - exact:+.4f})")


if __name__ == "__main__":
    main()
