"""A floor for every table: the same models trained by minimal hand-written JAX loops, timed in the same
run as jaxae and PyTorch. One `jax.jit`-ed `lax.scan` per epoch over shuffled batches, the data already
float32 on the device in the network's range, no trainer: no preprocessing inside the step, no metrics
beyond the loss, no gradient norm or finite check, no checkpoints.

The networks are jaxae's own Flax modules (so the arithmetic is the same and any gap is the trainer's)
and the optimizers the same Optax chains; the RBM's CD-k is written out with jax.random.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxae import autoencoder, vae


def _timed(epoch_fn, carry, epochs: int) -> dict:
    """One warm-up epoch (compile), then `epochs` timed ones; the mean loss of the first and last epoch
    (to show that the loop trains)."""
    t0 = time.perf_counter()
    carry, first = epoch_fn(carry, 0)
    jax.block_until_ready(first)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    last = first
    for epoch in range(1, epochs + 1):
        carry, last = epoch_fn(carry, epoch)
    jax.block_until_ready(last)
    return {"epoch_s": (time.perf_counter() - t0) / epochs, "first_epoch_s": warmup_s,
            "first_loss": float(first), "last_loss": float(last)}


def _epoch(loss_fn, tx, x, batch, loss_and_grads=None):
    """epoch(carry, epoch) -> (carry, mean loss): one jitted scan over shuffled batches of x, each step's
    gradient that of `loss_fn(params, xb, key)`, or `loss_and_grads(params, xb, key) -> (loss, grads)`
    when given (an estimator such as CD that is not a gradient)."""
    loss_and_grads = loss_and_grads or jax.value_and_grad(loss_fn)
    n = x.shape[0] // batch

    @jax.jit
    def run(carry, epoch):
        params, opt_state, key = carry
        order = jax.random.permutation(jax.random.fold_in(key, epoch), x.shape[0])[: n * batch].reshape(n, batch)

        def step(carry, idx):
            params, opt_state = carry
            loss, grads = loss_and_grads(params, x[idx], jax.random.fold_in(key, idx[0]))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), order)
        return (params, opt_state, key), losses.mean()

    return run


def _torch_adam(learning_rate, weight_decay):
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate)) if weight_decay \
        else optax.adam(learning_rate)


def _mse_autoencoder(model, x, batch: int):
    """The chapter's AE recipe for `model` on x in [-1, 1]: MSE, Adam 1e-4, L2 1e-5."""
    params = model.init(jax.random.PRNGKey(0), x[:1])
    tx = _torch_adam(1e-4, 1e-5)

    def loss_fn(params, xb, key):
        return jnp.mean((model.apply(params, xb) - xb) ** 2)

    return _epoch(loss_fn, tx, x, batch), (params, tx.init(params), jax.random.PRNGKey(1))


def ae(images: np.ndarray, batch: int):
    """The chapter's MLP autoencoder: 784-128-64-12-3, Tanh, MSE on [-1, 1], Adam 1e-4, L2 1e-5."""
    x = jax.device_put(2.0 * images.reshape(len(images), -1).astype(np.float32) / 255.0 - 1.0)
    return _mse_autoencoder(autoencoder.Autoencoder(784, (128, 64, 12), 3), x, batch)


def conv_ae(images: np.ndarray, batch: int):
    """The chapter's convolutional autoencoder, MSE on [-1, 1], Adam 1e-4, L2 1e-5."""
    x = jax.device_put(2.0 * images.astype(np.float32) / 255.0 - 1.0)
    model = autoencoder.ConvAutoencoder(autoencoder.CHAPTER_ENCODER, autoencoder.CHAPTER_DECODER)
    return _mse_autoencoder(model, x, batch)


def vae_bce(images: np.ndarray, batch: int):
    """The chapter's VAE 784-400-20: summed BCE on grey pixels + analytic KL, Adam 1e-4."""
    x = jax.device_put(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    model = vae.VAE((400,), 20, 784)
    params = model.init(jax.random.PRNGKey(0), x[:1], jnp.zeros((1, 20)))
    tx = optax.adam(1e-4)

    def loss_fn(params, xb, key):
        mean, log_var = model.apply(params, xb, method=vae.VAE.encode)
        z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(key, mean.shape)
        logits = model.apply(params, z, method=vae.VAE.decode)
        rec = jnp.sum(xb * logits - jax.nn.softplus(logits), axis=-1)
        return -jnp.mean(rec - vae.kl_divergence(mean, log_var))

    return _epoch(loss_fn, tx, x, batch), (params, tx.init(params), jax.random.PRNGKey(1))


def rbm(images: np.ndarray, batch: int, k: int = 1):
    """A 784-500 Bernoulli RBM on binarized digits, CD-k, SGD 0.05 with momentum 0.5, L2 2e-4 on W."""
    v_all = jax.device_put((images.reshape(len(images), -1) > 127).astype(np.float32))
    W = 0.01 * jax.random.normal(jax.random.PRNGKey(0), (784, 500))
    params = (W, jnp.zeros(784), jnp.zeros(500))
    tx = optax.chain(optax.add_decayed_weights(2e-4, mask=(True, False, False)), optax.sgd(0.05, momentum=0.5))

    def err_and_grads(params, v, key):
        """The reconstruction error (the loss column) and the CD-k gradient."""
        W, b, c = params
        ph0 = jax.nn.sigmoid(v @ W + c)
        keys = jax.random.split(key, 2 * k + 1)
        h = jax.random.bernoulli(keys[0], ph0).astype(jnp.float32)
        for i in range(k):
            vk = jax.random.bernoulli(keys[2 * i + 1], jax.nn.sigmoid(h @ W.T + b)).astype(jnp.float32)
            phk = jax.nn.sigmoid(vk @ W + c)
            h = jax.random.bernoulli(keys[2 * i + 2], phk).astype(jnp.float32)
        m = v.shape[0]
        return jnp.mean((v - vk) ** 2), ((vk.T @ phk - v.T @ ph0) / m, jnp.mean(vk - v, axis=0),
                                         jnp.mean(phk - ph0, axis=0))

    return _epoch(None, tx, v_all, batch, err_and_grads), (params, tx.init(params), jax.random.PRNGKey(1))


# benchmarks.models' model name -> (images, batch) -> (epoch_fn, carry): the floor of the same work, built but
# not run; epoch_fn(carry, epoch) -> (carry, mean loss) trains one epoch
FLOORS = {
    "ae": ae,
    "conv-ae": conv_ae,
    "vae": vae_bce,
    "rbm-cd1": lambda images, batch: rbm(images, batch, k=1),
    "rbm-cd10": lambda images, batch: rbm(images, batch, k=10),
}


def throughput(model: str, images: np.ndarray, batch: int, epochs: int) -> dict:
    """samples/s of the hand-written loop for `model` (see FLOORS)."""
    result = _timed(*FLOORS[model](images, batch), epochs)
    return {"samples_per_s": (len(images) // batch) * batch / result["epoch_s"], **result}
