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


def scan_epoch(loss_fn, tx, x, batch, loss_and_grads=None):
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

    return scan_epoch(loss_fn, tx, x, batch), (params, tx.init(params), jax.random.PRNGKey(1))


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

    return scan_epoch(loss_fn, tx, x, batch), (params, tx.init(params), jax.random.PRNGKey(1))


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

    return scan_epoch(None, tx, v_all, batch, err_and_grads), (params, tx.init(params), jax.random.PRNGKey(1))


def dbm(images: np.ndarray, batch: int, k: int = 5, updates: int = 10, n_chains: int = 100):
    """A 784-500-1000 DBM's joint training (Salakhutdinov & Hinton 2009): each batch re-binarized, its mean
    field from a doubled bottom-up pass and `updates` updates, `n_chains` persistent chains advanced by k
    Gibbs sweeps, the gradient of the two (the chains' v and h2 replaced by their conditional means), SGD
    1e-3 with momentum 0.5, L2 2e-4 on the weights; the loss column is the mean-field reconstruction error."""
    x_all = jax.device_put(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    params = (0.01 * jax.random.normal(k1, (784, 500)), 0.01 * jax.random.normal(k2, (500, 1000)),
              jnp.zeros(784), jnp.zeros(500), jnp.zeros(1000))
    tx = optax.chain(optax.add_decayed_weights(2e-4, mask=(True, True, False, False, False)),
                     optax.sgd(1e-3, momentum=0.5))
    chains = tuple((jax.random.uniform(kk, (n_chains, n)) < 0.5).astype(jnp.float32)
                   for kk, n in zip(jax.random.split(k3, 3), (784, 500, 1000)))
    n = x_all.shape[0] // batch

    def step(carry, idx):
        params, opt_state, (cv, ch1, ch2), key = carry
        W1, W2, b0, b1, b2 = params
        key = jax.random.fold_in(key, idx[0])
        kv, kc = jax.random.split(key)
        v = jax.random.bernoulli(kv, x_all[idx]).astype(jnp.float32)
        mu1 = jax.nn.sigmoid(2.0 * (v @ W1) + b1)
        mu2 = jax.nn.sigmoid(mu1 @ W2 + b2)
        for _ in range(updates):
            mu1 = jax.nn.sigmoid(v @ W1 + mu2 @ W2.T + b1)
            mu2 = jax.nn.sigmoid(mu1 @ W2 + b2)

        def sweep(state, i):
            cv, _, ch2, _, _ = state
            ks = jax.random.split(jax.random.fold_in(kc, i), 3)
            ch1 = jax.random.bernoulli(ks[0], jax.nn.sigmoid(cv @ W1 + ch2 @ W2.T + b1)).astype(jnp.float32)
            pv, p2 = jax.nn.sigmoid(ch1 @ W1.T + b0), jax.nn.sigmoid(ch1 @ W2 + b2)
            cv = jax.random.bernoulli(ks[1], pv).astype(jnp.float32)
            ch2 = jax.random.bernoulli(ks[2], p2).astype(jnp.float32)
            return (cv, ch1, ch2, pv, p2), None

        (cv, ch1, ch2, pv, p2), _ = jax.lax.scan(sweep, (cv, ch1, ch2, cv, ch2), jnp.arange(k))
        m = float(n_chains)
        grads = ((pv.T @ ch1) / m - (v.T @ mu1) / batch, (ch1.T @ p2) / m - (mu1.T @ mu2) / batch,
                 pv.mean(0) - v.mean(0), ch1.mean(0) - mu1.mean(0), p2.mean(0) - mu2.mean(0))
        updates_, opt_state = tx.update(grads, opt_state, params)
        loss = jnp.mean((v - jax.nn.sigmoid(mu1 @ W1.T + b0)) ** 2)
        return (optax.apply_updates(params, updates_), opt_state, (cv, ch1, ch2), key), loss

    @jax.jit
    def run(carry, epoch):
        params, opt_state, chains, key = carry
        order = jax.random.permutation(jax.random.fold_in(key, epoch), x_all.shape[0])[: n * batch].reshape(n, batch)
        (params, opt_state, chains, _), losses = jax.lax.scan(step, (params, opt_state, chains, key), order)
        return (params, opt_state, chains, key), losses.mean()

    return run, (params, tx.init(params), chains, jax.random.PRNGKey(1))


# benchmarks.models' model name -> (images, batch) -> (epoch_fn, carry): the floor of the same work, built but
# not run; epoch_fn(carry, epoch) -> (carry, mean loss) trains one epoch
FLOORS = {
    "ae": ae,
    "conv-ae": conv_ae,
    "vae": vae_bce,
    "rbm-cd1": lambda images, batch: rbm(images, batch, k=1),
    "rbm-cd10": lambda images, batch: rbm(images, batch, k=10),
    "dbm": dbm,
}


def throughput(model: str, images: np.ndarray, batch: int, epochs: int) -> dict:
    """samples/s of the hand-written loop for `model` (see FLOORS)."""
    result = _timed(*FLOORS[model](images, batch), epochs)
    return {"samples_per_s": (len(images) // batch) * batch / result["epoch_s"], **result}
