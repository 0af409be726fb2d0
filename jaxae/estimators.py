"""Gradient estimators: the one interface the trainer sees.

An estimator is shaped like an Optax transformation: a NamedTuple of two pure functions.

    init(key, params) -> est_state
    estimate(key, params, batch, est_state) -> (grads, est_state, metrics)

`grads` has the structure of `params` and points uphill on the objective being *minimised* (the
descent sign Optax expects), so any Optax chain applies unchanged. `est_state` is carried in the
TrainState and checkpointed (empty for losses; persistent chains for PCD). `metrics` is a flat dict
of scalar arrays; it should contain "loss" when the estimator has one.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import optax

Params = Any
Batch = Any
EstState = Any
Metrics = dict


class Estimator(NamedTuple):
    """A gradient estimator: `init(key, params)` and `estimate(key, params, batch, state)`."""

    init: Callable[[jax.Array, Params], EstState]
    estimate: Callable[[jax.Array, Params, Batch, EstState], tuple[Params, EstState, Metrics]]


def from_loss(loss_fn: Callable[[jax.Array, Params, Batch], tuple[jax.Array, Metrics]]) -> Estimator:
    """Wraps a differentiable loss into an Estimator with `jax.value_and_grad`.

    Args:
      loss_fn: `loss_fn(key, params, batch) -> (loss, metrics)`, loss a float32 scalar to minimise,
        metrics a dict of scalars (may be empty).

    Returns:
      An Estimator with an empty state whose metrics are `{"loss": loss, **metrics}`.
    """

    def init(key, params):
        del key, params
        return optax.EmptyState()

    def estimate(key, params, batch, state):
        (loss, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(key, params, batch)
        return grads, state, {"loss": loss, **metrics}

    return Estimator(init, estimate)


PRECISIONS = {"float32": jax.numpy.float32, "bfloat16": jax.numpy.bfloat16}


def with_precision(estimator: Estimator, precision: str) -> Estimator:
    """The estimator computing in `precision` ("bfloat16": mixed precision) on float32 parameters.

    The float parameters, batch and estimator state are cast to the compute type on the way in (so
    matrix products and activations run in it; `jnp` sums and means still accumulate in float32),
    the gradients, metrics and estimator state are cast back to float32, and the optimizer, its state
    and the parameters it updates stay float32. The estimator state is stored in float32 but passes
    through the compute type each step: exact for binary or one-hot PCD chains, rounded to bfloat16
    for real-valued (Gaussian) ones. Evaluation (losses, AIS, importance-sampled likelihoods) does
    not go through the estimator and stays float32.
    """
    from jaxae.errors import ConfigError

    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype == jax.numpy.float32:
        return estimator

    def cast(tree, to):
        return jax.tree.map(lambda x: x.astype(to) if jax.numpy.issubdtype(x.dtype, jax.numpy.floating) else x, tree)

    def estimate(key, params, batch, state):
        grads, state, metrics = estimator.estimate(key, cast(params, dtype), cast(batch, dtype), cast(state, dtype))
        return cast(grads, jax.numpy.float32), cast(state, jax.numpy.float32), cast(metrics, jax.numpy.float32)

    return Estimator(estimator.init, estimate)


def adam(learning_rate: float, weight_decay: float = 0.0) -> optax.GradientTransformation:
    """torch.optim.Adam(lr, weight_decay): L2 added to the gradient before Adam (not AdamW)."""
    if weight_decay:
        return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))
    return optax.adam(learning_rate)


def linear_decay(learning_rate: float, decay_steps: int = 0, final: float = 0.0, begin: int = 0):
    """The learning rate, or with decay_steps > 0 a schedule falling linearly from it to `final` over
    `decay_steps` optimizer steps starting at step `begin` (the models' --lr-decay-steps options)."""
    if not decay_steps:
        return learning_rate
    return optax.linear_schedule(learning_rate, final, decay_steps, begin)


class StepCount(NamedTuple):
    """Estimator state of `from_scheduled_loss`: optimizer steps taken so far."""

    count: jax.Array


def from_scheduled_loss(loss_fn: Callable[[jax.Array, Params, Batch, jax.Array], tuple[jax.Array, Metrics]]) -> Estimator:
    """Like `from_loss` for a loss that depends on the step (KL warm-up, annealing).

    Args:
      loss_fn: `loss_fn(key, params, batch, step) -> (loss, metrics)`, step a () int32 array counting
        earlier calls (kept in the estimator state, so it is checkpointed and resumes exactly).
    """

    def init(key, params):
        del key, params
        return StepCount(jax.numpy.zeros((), jax.numpy.int32))

    def estimate(key, params, batch, state):
        grad_fn = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)
        (loss, metrics), grads = grad_fn(key, params, batch, state.count)
        return grads, StepCount(state.count + 1), {"loss": loss, **metrics}

    return Estimator(init, estimate)


def _cd_grads(params, v_data, v_model, visible, sparsity=(0.0, 0.0), ph_data=None, ph_model=None,
              hidden="bernoulli"):
    """Gradient of mean F(v_data) - mean F(v_model) with the model samples held fixed: the negative
    log-likelihood gradient estimate of contrastive divergence (descent sign).

    Written out rather than differentiated: for every unit type here (Bernoulli, softmax and unit-variance
    Gaussian visible units, Bernoulli and Gaussian hidden units) dF/dW = -v E[h|v]^T, dF/db_vis = -v
    (+ b_vis for Gaussian, which cancels) and dF/db_hid = -E[h|v], so the two statistics take two matrix products, and the hidden
    probabilities the sampler already computed (ph_data, ph_model) are reused.

    sparsity: (target p, cost). With cost > 0, adds the practical guide's sparsity term (section 11):
    cost * (q - p) to the hidden biases and cost * mean(v) (q - p) to W, q the batch's mean p(h=1 | v).
    """
    from jaxae.models import rbm

    del visible  # the statistics are the same for every visible type
    v_model = jax.lax.stop_gradient(v_model)
    if ph_data is None:
        ph_data = rbm.hidden_mean(params, v_data, hidden)
    if ph_model is None:
        ph_model = rbm.hidden_mean(params, v_model, hidden)
    n, m = v_data.shape[0], v_model.shape[0]
    dot = functools.partial(jax.numpy.matmul, preferred_element_type=jax.numpy.float32)  # sums over the batch in float32
    if n == m:  # one matrix product of twice the size (measured no slower than two on CPU)
        W = dot(jax.numpy.concatenate([v_model, v_data]).T, jax.numpy.concatenate([ph_model, -ph_data])) / n
    else:
        W = dot(v_model.T, ph_model) / m - dot(v_data.T, ph_data) / n
    grads = type(params)(W, jax.numpy.mean(v_model, axis=0) - jax.numpy.mean(v_data, axis=0),
                         jax.numpy.mean(ph_model, axis=0) - jax.numpy.mean(ph_data, axis=0))
    target, cost = sparsity
    if cost:
        q = jax.numpy.mean(ph_data, axis=0)
        push = cost * (q - target)
        grads = grads._replace(W=grads.W + jax.numpy.outer(jax.numpy.mean(v_data, axis=0), push),
                               b_hid=grads.b_hid + push)
    return grads


def _split(batch):
    """A CD batch is v (batch, n_visible) or (v, mask) with mask 1 for observed visible units."""
    return batch if isinstance(batch, tuple) else (batch, None)


def _masked_mean(x, mask):
    if mask is None:
        return jax.numpy.mean(x)
    return jax.numpy.sum(x * mask) / jax.numpy.maximum(jax.numpy.sum(mask), 1.0)


def map_batch(estimator: Estimator, fn: Callable[[Batch], Batch]) -> Estimator:
    """The same estimator fed `fn(batch)` (e.g. ratings -> one-hot units and their mask)."""
    return Estimator(estimator.init, lambda key, params, batch, state: estimator.estimate(key, params, fn(batch), state))


def _check_sparsity(sparsity):
    from jaxae.errors import ConfigError

    target, cost = sparsity
    if cost < 0 or (cost and not 0 < target < 1):
        raise ConfigError(f"sparsity needs a target in (0, 1) and a cost >= 0, got target={target}, cost={cost}")


def cd(k: int = 1, visible: str = "bernoulli", k_final: int | None = None, ramp_steps: int = 0,
       sparsity: tuple[float, float] = (0.0, 0.0), hidden: str = "bernoulli") -> Estimator:
    """Contrastive divergence CD-k (Hinton 2002): chains start at the data and run k Gibbs sweeps.

    Args:
      k: Gibbs sweeps per step (>= 1).
      visible: the visible unit type (see jaxae.models.rbm.sample_visible).
      k_final: with ramp_steps > 0, the number of sweeps grows linearly from k to k_final over the
        first ramp_steps steps (CD-T with T increasing, Carreira-Perpinan & Hinton 2005); the step
        counter lives in the estimator state, so resume is exact.
      ramp_steps: length of the ramp in optimizer steps.
      sparsity: (target, cost) of the practical guide's sparsity penalty; cost 0 turns it off.
      hidden: the hidden unit type, "bernoulli" or "gaussian".

    Batch: v (batch, n_visible) float32, or (v, mask) with mask (batch, n_visible) in {0, 1}: masked
    units (missing values) are 0 in v, stay 0 in the chains and so never reach the hidden layer or get
    a gradient. Metrics: "recon_error", the mean squared difference between the (observed) data and
    p(v | h) after one up-down pass, and "gibbs_steps".
    """
    from jaxae.errors import ConfigError
    from jaxae.models import rbm
    from jaxae.samplers import gibbs

    k_final = k if k_final is None else k_final
    if k < 1 or k_final < k or (k_final > k and ramp_steps < 1):
        raise ConfigError(f"CD needs k >= 1 Gibbs steps (and k_final >= k with ramp_steps >= 1 for a ramp), "
                          f"got k={k}, k_final={k_final}, ramp_steps={ramp_steps}")
    _check_sparsity(sparsity)
    ramp = k_final > k

    def init(key, params):
        del key, params
        return StepCount(jax.numpy.zeros((), jax.numpy.int32)) if ramp else optax.EmptyState()

    def sweeps(state):
        if not ramp:
            return jax.numpy.asarray(k)
        frac = jax.numpy.minimum(state.count / ramp_steps, 1.0)
        return (k + jax.numpy.floor(frac * (k_final - k) + 1e-6)).astype(jax.numpy.int32)

    def estimate(key, params, batch, state):
        v, mask = _split(batch)
        k_init, k_run = jax.random.split(key)
        ph_data, h = rbm.sample_hidden(k_init, params, v, hidden)  # = gibbs.init(k_init, ...), keeping E[h|v]
        chains = gibbs.GibbsState(v, h)
        first, info = gibbs.kernel(jax.random.fold_in(k_run, 0), chains, params, visible, mask, hidden)
        n = sweeps(state)
        if ramp:  # a dynamic number of sweeps: no gradient flows through the chain, so a while loop is fine
            rest = jax.random.fold_in(k_run, 1)  # the keys gibbs.run uses, so CD-k and the ramp agree
            final, last = jax.lax.fori_loop(
                0, n - 1, lambda i, c: gibbs.kernel(jax.random.fold_in(rest, i), c[0], params, visible, mask, hidden),
                (first, info))
            state = StepCount(state.count + 1)
        elif k > 1:
            final, last = gibbs.run(jax.random.fold_in(k_run, 1), first, params, k - 1, visible, mask, hidden)
        else:
            final, last = first, info
        # last.p_h = p(h | final.v): the model statistics need no extra matrix product
        grads = _cd_grads(params, v, final.v, visible, sparsity, ph_data=ph_data, ph_model=last.p_h, hidden=hidden)
        return grads, state, {"recon_error": _masked_mean((v - info.p_v) ** 2, mask),
                              "gibbs_steps": n.astype(jax.numpy.float32)}

    return Estimator(init, estimate)


def pcd(k: int = 1, n_chains: int = 100, visible: str = "bernoulli",
        sparsity: tuple[float, float] = (0.0, 0.0), hidden: str = "bernoulli") -> Estimator:
    """Persistent contrastive divergence (Tieleman 2008): `n_chains` chains kept in the estimator state
    (checkpointed with it) advance k Gibbs sweeps per step and give the model samples.

    The chains start from Bernoulli(sigmoid(b_vis)) samples of the initial parameters.
    """
    from jaxae.errors import ConfigError
    from jaxae.models import rbm
    from jaxae.samplers import gibbs

    if k < 1 or n_chains < 1:
        raise ConfigError(f"PCD needs k >= 1 and n_chains >= 1, got k={k}, n_chains={n_chains}")
    _check_sparsity(sparsity)

    def init(key, params):
        k_v, k_h = jax.random.split(key)
        n_vis = params.b_vis.shape[0]
        v = jax.random.bernoulli(k_v, jax.nn.sigmoid(params.b_vis), (n_chains, n_vis)).astype(jax.numpy.float32)
        return gibbs.init(k_h, params, v, hidden)

    def estimate(key, params, v, chains):
        if isinstance(v, tuple):
            raise ConfigError("PCD's persistent chains are shared by all examples, so it cannot take a per-example "
                              "mask; use cd(k) for data with missing values")
        k_hidden, k_visible, k_run = jax.random.split(key, 3)
        chains, last = gibbs.run(k_run, chains, params, k, visible, hidden=hidden)
        grads = _cd_grads(params, v, chains.v, visible, sparsity, ph_model=last.p_h, hidden=hidden)
        _, h = rbm.sample_hidden(k_hidden, params, v, hidden)
        recon = jax.numpy.mean((v - rbm.sample_visible(k_visible, params, h, visible)[0]) ** 2)
        return grads, chains, {"recon_error": recon}

    return Estimator(init, estimate)
