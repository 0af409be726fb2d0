"""A researcher's script that imports only `jaxae.rbm`: a Gaussian-hidden RBM, a Gibbs chain from
`build_kernel`, CD gradients through Optax in their own `lax.scan`, and free energy and log Z that agree
with each other (exp(-F - log Z) sums to one over the enumerated states). Run in a fresh interpreter so
that nothing else of jaxae is loaded."""
import os
import subprocess
import sys

SCRIPT = r'''
import sys

import jax
import jax.numpy as jnp
import optax

import jaxae.rbm as rbm

units = rbm.Units(visible="bernoulli", hidden="gaussian")
key = jax.random.PRNGKey(0)
k_data, k_init, k_chain, k_train = jax.random.split(key, 4)
data = jax.random.bernoulli(k_data, 0.3, (256, 10)).astype(jnp.float32)
params = rbm.init(k_init, 10, 6, data_mean=data.mean(0), scale=0.1, units=units)

# a Gibbs chain with the kernel built for these units, driven by the user's own scan
kernel = rbm.build_kernel(units)
state = rbm.gibbs.init(k_chain, params, data[:64])
def sweep(state, i):
    state, info = kernel(jax.random.fold_in(k_chain, i), state, params)
    return state, info.p_v.mean()
state, means = jax.lax.scan(sweep, state, jnp.arange(50))
assert state.v.shape == (64, 10) and state.h.shape == (64, 6) and means.shape == (50,)

# CD-1 gradients through an Optax optimizer inside the user's own lax.scan
estimator, tx = rbm.cd(1), optax.adam(1e-2)
def step(carry, i):
    params, opt_state = carry
    grads, _, metrics = estimator.estimate(jax.random.fold_in(k_train, i), params, data, optax.EmptyState())
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), metrics["recon_error"]
(trained, _), errors = jax.jit(lambda c: jax.lax.scan(step, c, jnp.arange(200)))((params, tx.init(params)))
assert trained.units == units and float(errors[-1]) < float(errors[0])

# free energy and log Z agree: the exact probabilities of the 2^10 visible states sum to one
log_z = rbm.exact_log_partition(trained)
total = jnp.sum(jnp.exp(-rbm.free_energy(trained, rbm.all_binary(10)) - log_z))
assert abs(float(total) - 1.0) < 1e-4, float(total)
nll = float(jnp.mean(rbm.free_energy(trained, data)) + log_z)
start = float(jnp.mean(rbm.free_energy(params, data)) + rbm.exact_log_partition(params))
assert nll < start, (nll, start)

# a misspelt unit type is a clear error
try:
    rbm.Units(hidden="gausian")
except ValueError as e:  # jaxae.errors.ConfigError
    message = str(e)
assert "hidden units must be one of bernoulli, gaussian, got 'gausian'" in message, message

loaded = sorted(m for m in sys.modules if m.startswith("jaxae"))
print("nll", round(start, 3), "->", round(nll, 3), "modules", loaded)
'''


def test_a_script_that_imports_only_jaxae_rbm():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-3000:]
    modules = out.stdout.split("modules", 1)[1]
    assert "jaxae.train" not in modules and "jaxae.tasks" not in modules
