"""Small RBMs whose distributions can be enumerated exactly."""
import jax
import jax.numpy as jnp

from jaxae import rbm


def tiny_rbm(n_vis=6, n_hid=4, seed=0, units=rbm.Units()):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return rbm.RBMParams(jax.random.normal(k1, (n_vis, n_hid)), 0.5 * jax.random.normal(k2, (n_vis,)),
                         0.5 * jax.random.normal(k3, (n_hid,)), units)


def exact_visible_distribution(params):
    """Every binary visible state and its exact probability (Bernoulli visible units)."""
    v = rbm.all_binary(params.W.shape[0])
    return v, jnp.exp(-rbm.free_energy(params, v) - rbm.exact_log_partition(params))
