"""A deep belief network built layer by layer from `jaxae.rbm` functions, then fine-tuned as a classifier.

Greedy pretraining (Hinton, Osindero & Teh 2006): an RBM on binarized digits, a second RBM on the first
one's hidden probabilities (`rbm.dbn.up`), each trained by CD-1 in a `lax.scan` over mini-batches.
`rbm.dbn.unroll` turns the stack into the parameters of a sigmoid `jaxae.nn.MLP`, which gets a softmax
layer on top and is fine-tuned by backprop with Optax. The same MLP from random weights is the baseline.

    python examples/dbn.py [--layers 256,64] [--epochs 3]
"""
import argparse

import jax
import jax.numpy as jnp
import optax

import jaxae
import jaxae.rbm as rbm
from jaxae.data.transforms import binarize
from jaxae.nn import MLP


def train_rbm(key, v, n_hidden, epochs, batch=100):
    """CD-1, SGD with momentum, in one jitted scan per epoch over shuffled batches of v (n, n_visible)."""
    params = rbm.init(key, v.shape[1], n_hidden, data_mean=v.mean(0))
    estimator, tx = rbm.cd(1), optax.chain(optax.add_decayed_weights(2e-4, mask=rbm.weights_mask),
                                           optax.sgd(0.05, momentum=0.9))

    @jax.jit
    def epoch(params, opt_state, key):
        order = jax.random.permutation(key, v.shape[0])[: v.shape[0] // batch * batch].reshape(-1, batch)

        def step(carry, idx):
            params, opt_state = carry
            grads, _, metrics = estimator.estimate(jax.random.fold_in(key, idx[0]), params, v[idx], optax.EmptyState())
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), metrics["recon_error"]

        (params, opt_state), errors = jax.lax.scan(step, (params, opt_state), order)
        return params, opt_state, errors.mean()

    opt_state = tx.init(params)
    for e in range(epochs):
        params, opt_state, error = epoch(params, opt_state, jax.random.fold_in(key, e))
    return params, float(error)


def fine_tune(params, model, x, y, x_test, y_test, epochs, batch=100):
    tx = optax.sgd(0.1, momentum=0.9)

    def loss(p, xb, yb):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(model.apply(p, xb), yb))

    @jax.jit
    def epoch(p, s, key):
        order = jax.random.permutation(key, x.shape[0])[: x.shape[0] // batch * batch].reshape(-1, batch)

        def step(carry, idx):
            p, s = carry
            updates, s = tx.update(jax.grad(loss)(p, x[idx], y[idx]), s, p)
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(step, (p, s), order)[0]

    state = (params, tx.init(params))
    for e in range(epochs):
        state = epoch(*state, jax.random.PRNGKey(e))
    return float(jnp.mean(jnp.argmax(model.apply(state[0], x_test), -1) != y_test))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="256,64")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in args.layers.split(",")]
    data = jaxae.data.load("mnist-mini")
    x = binarize(jnp.asarray(data.train_images)).reshape(len(data.train_images), -1)
    x_test = binarize(jnp.asarray(data.test_images)).reshape(len(data.test_images), -1)
    y, y_test = jnp.asarray(data.train_labels, jnp.int32), jnp.asarray(data.test_labels, jnp.int32)
    stack, inputs = [], x
    for i, n in enumerate(sizes):  # greedy: each RBM models the hidden probabilities of the one below
        params, error = train_rbm(jax.random.PRNGKey(i), inputs, n, args.epochs)
        stack.append(params)
        inputs = rbm.dbn.up([params], inputs)[-1]
        print(f"layer {i + 1}: RBM {params.W.shape[0]}-{n}, CD-1, {args.epochs} epochs, reconstruction error {error:.4f}")
    model = MLP(features=(*sizes, 10), activation=jax.nn.sigmoid)
    random = model.init(jax.random.PRNGKey(9), x[:1])
    pretrained = {"params": {**random["params"], **rbm.dbn.unroll(stack)["params"]}}  # softmax layer stays random
    errors = {name: fine_tune(p, model, x, y, x_test, y_test, args.epochs)
              for name, p in (("pretrained", pretrained), ("random init", random))}
    print(f"fine-tuned {args.epochs} epochs: test error {100 * errors['pretrained']:.2f}% from the DBN, "
          f"{100 * errors['random init']:.2f}% from random weights ({len(y_test)} test digits)")


if __name__ == "__main__":
    main()
