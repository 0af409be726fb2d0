"""The DBN's variational lower bound on log p(v), against enumeration of tiny DBNs."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxae import rbm
from jaxae.errors import ConfigError


def random_stack(key, sizes, scale=1.5):
    keys = jax.random.split(key, 3 * len(sizes))
    return [rbm.RBMParams(scale * jax.random.normal(keys[3 * i], (n, m)), jax.random.normal(keys[3 * i + 1], (n,)),
                          jax.random.normal(keys[3 * i + 2], (m,)))
            for i, (n, m) in enumerate(zip(sizes[:-1], sizes[1:]))]


def log_bernoulli(x, logits):
    return jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)


def exact(stack, v):
    """(exact log p(v), exact bound) per example, by summing over every hidden configuration below the top."""
    log_z = rbm.exact_log_partition(stack[-1])
    states = [rbm.all_binary(p.W.shape[1]) for p in stack[:-1]]
    log_p, bound = [], []
    for x in v:
        terms, qs = [], []
        for hs in itertools.product(*[range(len(s)) for s in states]):
            layers = [x[None]] + [states[l][i][None] for l, i in enumerate(hs)]
            log_joint = -rbm.free_energy(stack[-1], layers[-1])[0] - log_z
            log_q = 0.0
            for l, params in enumerate(stack[:-1]):
                log_joint += log_bernoulli(layers[l], rbm.visible_logits(params, layers[l + 1]))[0]
                log_q += log_bernoulli(layers[l + 1], rbm.hidden_logits(params, layers[l]))[0]
            terms.append(log_joint)
            qs.append(log_q)
        terms, qs = jnp.array(terms), jnp.array(qs)
        log_p.append(jax.nn.logsumexp(terms))
        bound.append(jnp.sum(jnp.exp(qs) * (terms - qs)))
    return np.array(log_p), np.array(bound)


@pytest.mark.parametrize("sizes", [(6, 5, 4), (5, 4, 3, 4)])
def test_the_bound_estimate_is_the_exact_bound_and_below_log_p(sizes):
    stack = random_stack(jax.random.key(len(sizes)), sizes)
    v = rbm.all_binary(sizes[0])  # every visible configuration
    log_p, bound = exact(stack, v)
    assert np.all(bound <= log_p + 1e-5) and np.mean(log_p - bound) > 0.05  # a bound, and not a trivial one
    log_z = rbm.exact_log_partition(stack[-1])
    estimate = jax.jit(rbm.dbn.lower_bound, static_argnums=4)(jax.random.key(7), stack, v, log_z, 20000)
    # Monte Carlo: each example's estimate within 0.08 nats, their mean (what is reported) within 0.01
    np.testing.assert_allclose(estimate, bound, atol=0.08)
    assert abs(float(np.mean(estimate)) - float(np.mean(bound))) < 0.01
    # the bound of the whole set of visible configurations: log-probabilities that sum to one
    np.testing.assert_allclose(jax.nn.logsumexp(jnp.asarray(log_p)), 0.0, atol=1e-5)


def test_one_layer_is_the_rbm_log_likelihood_and_units_are_checked():
    [params] = random_stack(jax.random.key(3), (6, 4))
    v = rbm.all_binary(6)
    log_z = rbm.exact_log_partition(params)
    np.testing.assert_allclose(rbm.dbn.lower_bound(jax.random.key(0), [params], v, log_z, 1),
                               -rbm.free_energy(params, v) - log_z, rtol=1e-6)
    gaussian = params.replace(units=rbm.Units(hidden="gaussian"))
    with pytest.raises(ConfigError, match="Bernoulli units"):
        rbm.dbn.lower_bound(jax.random.key(0), [params, gaussian], v, log_z, 1)
