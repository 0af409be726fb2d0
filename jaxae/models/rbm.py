"""Restricted Boltzmann machines as pure functions of a parameter NamedTuple.

Bernoulli-Bernoulli energy (Hinton 2010, "A Practical Guide to Training RBMs", eq. 1):
    E(v, h) = -b_vis·v - b_hid·h - v·W·h
and free energy F(v) = -b_vis·v - sum_j softplus(b_hid_j + (v·W)_j), so p(v) = exp(-F(v)) / Z.
Gaussian visible units (unit variance, standardised data) use E = |v - b_vis|^2 / 2 - b_hid·h - v·W·h;
Gaussian (linear) hidden units add |h|^2 / 2 instead, so h | v ~ N(b_hid + v W, 1) (the code layer of
Hinton & Salakhutdinov's deep autoencoder). A visible layer may end in one softmax group of label units
("bernoulli+softmax:10", Hinton, Osindero & Teh 2006's top layer).
The chapter's names stay: `sample_hidden`, `sample_visible`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import rand
from jaxae.errors import CheckpointError, ConfigError, DataError


class RBMParams(NamedTuple):
    """W: (n_visible, n_hidden) float32; b_vis: (n_visible,); b_hid: (n_hidden,)."""

    W: jax.Array
    b_vis: jax.Array
    b_hid: jax.Array


VISIBLE = ("bernoulli", "gaussian")
HIDDEN = ("bernoulli", "gaussian")


def init(key: jax.Array, n_visible: int, n_hidden: int, data_mean: jax.Array | None = None,
         scale: float = 0.01) -> RBMParams:
    """W ~ N(0, scale^2), hidden biases 0, visible biases log(p / (1 - p)) of the data's pixel means
    (the practical guide's section 8), or 0 without data.

    Args:
      key: PRNG key.
      n_visible, n_hidden: layer sizes.
      data_mean: (n_visible,) mean of the binary training data, or None.
      scale: standard deviation of the initial weights.
    """
    if n_visible < 1 or n_hidden < 1:
        raise ConfigError(f"an RBM needs n_visible, n_hidden >= 1, got {n_visible}, {n_hidden}")
    W = scale * jax.random.normal(key, (n_visible, n_hidden), jnp.float32)
    if data_mean is None:
        b_vis = jnp.zeros((n_visible,), jnp.float32)
    else:
        p = jnp.clip(jnp.asarray(data_mean, jnp.float32), 1e-3, 1 - 1e-3)
        b_vis = jnp.log(p) - jnp.log1p(-p)
    return RBMParams(W, b_vis, jnp.zeros((n_hidden,), jnp.float32))


def check_visible(params: RBMParams, v: jax.Array) -> None:
    """Raises DataError when v's last axis is not the RBM's number of visible units (a static check,
    so it works under jit)."""
    if v.shape[-1] != params.W.shape[0]:
        raise DataError(f"the RBM has {params.W.shape[0]} visible units but the data has {v.shape[-1]} features "
                        f"per example (shape {tuple(v.shape)}); flatten the images or use a model trained on "
                        "data of this size")


def check_binary(v) -> None:
    """Raises DataError unless every value of the concrete array v is 0 or 1 (Bernoulli visible units)."""
    values = np.asarray(v)
    bad = values[(values != 0) & (values != 1)]
    if bad.size:
        raise DataError(f"Bernoulli visible units need binary data (0 or 1) but {bad.size} values are not, e.g. "
                        f"{float(bad.flat[0]):.4g}; binarize the data first (--binarize static or dynamic) or use "
                        "gaussian visible units for real values")


def check_finite(params: RBMParams) -> None:
    """Raises CheckpointError when a parameter is NaN or infinite (a diverged run)."""
    bad = [name for name, x in zip(RBMParams._fields, params) if not np.all(np.isfinite(np.asarray(x)))]
    if bad:
        raise CheckpointError(f"the RBM's {', '.join(bad)} contain NaN or inf values: the training diverged; "
                              "retrain with a lower learning rate or restore an earlier checkpoint")


def hidden_logits(params: RBMParams, v: jax.Array) -> jax.Array:
    """(batch, n_visible) -> (batch, n_hidden) pre-sigmoid activations b_hid + v W."""
    check_visible(params, v)
    return v @ params.W + params.b_hid


def visible_logits(params: RBMParams, h: jax.Array) -> jax.Array:
    """(batch, n_hidden) -> (batch, n_visible) b_vis + h W^T (the Gaussian mean for gaussian units)."""
    return h @ params.W.T + params.b_vis


def check_hidden(hidden: str) -> None:
    if hidden not in HIDDEN:
        raise ConfigError(f"hidden units must be bernoulli or gaussian, got {hidden!r}")


def hidden_mean(params: RBMParams, v: jax.Array, hidden: str = "bernoulli") -> jax.Array:
    """E[h | v], (batch, n_hidden): p(h=1 | v) for Bernoulli units, b_hid + v W for Gaussian ones."""
    check_hidden(hidden)
    logits = hidden_logits(params, v)
    return logits if hidden == "gaussian" else jax.nn.sigmoid(logits)


def sample_hidden(key: jax.Array, params: RBMParams, v: jax.Array,
                  hidden: str = "bernoulli") -> tuple[jax.Array, jax.Array]:
    """E[h | v] and a sample of h | v (Bernoulli, or unit-variance Gaussian), both (batch, n_hidden) in the
    parameters' dtype (float32, or bfloat16 under mixed precision)."""
    p = hidden_mean(params, v, hidden)
    if hidden == "gaussian":
        return p, p + rand.normal(key, p.shape, p.dtype)
    return p, rand.bernoulli(key, p).astype(p.dtype)


def label_units(visible: str) -> int:
    """K for visible="bernoulli+softmax:K" (Bernoulli units, then one softmax group of K label units), else 0."""
    if visible.startswith("bernoulli+softmax:"):
        k = int(visible.split(":", 1)[1])
        if k < 2:
            raise ConfigError(f"a label group needs at least 2 classes, got {visible!r}")
        return k
    return 0


def softmax_groups(visible: str) -> int:
    """K for visible="softmax:K" (groups of K one-hot units, e.g. a rating 1..5 per movie), else 0."""
    if label_units(visible):
        return 0
    if visible.startswith("softmax:"):
        k = int(visible.split(":", 1)[1])
        if k < 2:
            raise ConfigError(f"softmax groups need at least 2 units, got {visible!r}")
        return k
    if visible not in VISIBLE:
        raise ConfigError(f"visible units must be bernoulli, gaussian or softmax:K, got {visible!r}")
    return 0


def sample_visible(key: jax.Array, params: RBMParams, h: jax.Array, visible: str = "bernoulli",
                   mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """The mean of v | h and a sample of it, both (batch, n_visible) in the parameters' dtype.

    visible: "bernoulli", "gaussian" (unit variance), "softmax:K" (consecutive groups of K units,
      one of which is on: p(v_gk = 1 | h) = softmax_k(b_vis + W h)_gk), or "bernoulli+softmax:K"
      (Bernoulli units followed by one softmax group of K label units).
    mask: optional (batch, n_visible) {0, 1}; masked-out units (0) are returned as 0 and so never
      reach the hidden layer (missing values, e.g. unrated movies).
    """
    logits = visible_logits(params, h)
    k = softmax_groups(visible)
    labels = label_units(visible)
    if labels:
        k_bits, k_label = jax.random.split(key)
        mean = jnp.concatenate([jax.nn.sigmoid(logits[:, :-labels]), jax.nn.softmax(logits[:, -labels:])], axis=1)
        sample = jnp.concatenate([rand.bernoulli(k_bits, mean[:, :-labels]).astype(mean.dtype),
                                  jax.nn.one_hot(rand.categorical(k_label, logits[:, -labels:]), labels, dtype=mean.dtype)], axis=1)
    elif visible == "gaussian":
        mean, sample = logits, logits + rand.normal(key, logits.shape, logits.dtype)
    elif k:
        grouped = logits.reshape(logits.shape[0], -1, k)
        mean = jax.nn.softmax(grouped, axis=-1).reshape(logits.shape)
        sample = jax.nn.one_hot(rand.categorical(key, grouped), k, dtype=mean.dtype).reshape(logits.shape)
    else:
        mean = jax.nn.sigmoid(logits)
        sample = rand.bernoulli(key, mean).astype(mean.dtype)
    if mask is not None:
        mean, sample = mean * mask, sample * mask
    return mean, sample


def energy(params: RBMParams, v: jax.Array, h: jax.Array, visible: str = "bernoulli",
           hidden: str = "bernoulli") -> jax.Array:
    """E(v, h) per example: v (batch, n_visible), h (batch, n_hidden) -> (batch,).

    Softmax groups share the Bernoulli form (their states are one-hot vectors)."""
    check_hidden(hidden)
    interaction = jnp.sum((v @ params.W) * h, axis=-1) + h @ params.b_hid
    if hidden == "gaussian":
        interaction = interaction - 0.5 * jnp.sum(h**2, axis=-1)
    if visible == "gaussian":
        return 0.5 * jnp.sum((v - params.b_vis) ** 2, axis=-1) - interaction
    return -(v @ params.b_vis) - interaction


def free_energy(params: RBMParams, v: jax.Array, visible: str = "bernoulli", hidden: str = "bernoulli") -> jax.Array:
    """F(v) = -log sum_h exp(-E(v, h)) (an integral for Gaussian hidden units, up to the constant
    n_hidden log sqrt(2 pi)), per example: (batch, n_visible) -> (batch,)."""
    check_hidden(hidden)
    logits = hidden_logits(params, v)
    if hidden == "gaussian":
        hidden_term = 0.5 * jnp.sum(logits**2, axis=-1)
    else:
        hidden_term = jnp.sum(jax.nn.softplus(logits), axis=-1)
    if visible == "gaussian":
        return 0.5 * jnp.sum((v - params.b_vis) ** 2, axis=-1) - hidden_term
    return -(v @ params.b_vis) - hidden_term


def pseudo_log_likelihood(key: jax.Array, params: RBMParams, v: jax.Array, hidden: str = "bernoulli") -> jax.Array:
    """Stochastic pseudo-log-likelihood per pixel: log p(v_i | v_-i) = log sigmoid(F(v~) - F(v)) for
    one random pixel i per example (v~ is v with pixel i flipped). (batch,) float32.

    Normalised per dimension: scikit-learn's BernoulliRBM.score_samples multiplies this by
    n_features (their issue #23179); multiply by n_visible for that scale.
    """
    i = rand.randint(key, (v.shape[0],), 0, v.shape[1])
    flipped = v.at[jnp.arange(v.shape[0]), i].set(1.0 - v[jnp.arange(v.shape[0]), i])
    return jax.nn.log_sigmoid(free_energy(params, flipped, hidden=hidden) - free_energy(params, v, hidden=hidden))


def all_binary(n: int) -> jax.Array:
    """(2^n, n) float32: every binary vector of length n (n <= 24)."""
    if n > 24:
        raise ConfigError(f"enumerating 2^{n} states is too much; exact log Z is for layers of at most 24 units")
    codes = jnp.arange(2**n, dtype=jnp.uint32)[:, None] >> jnp.arange(n, dtype=jnp.uint32)[None, :]
    return (codes & 1).astype(jnp.float32)


def exact_log_partition(params: RBMParams, chunk: int = 4096) -> jax.Array:
    """Exact log Z of a Bernoulli-Bernoulli RBM by enumerating the smaller layer (<= 24 units).

    log Z = logsumexp over h of [b_hid·h + sum_i softplus(b_vis_i + (W h)_i)] when hidden is smaller
    (and symmetrically over v), summed in chunks of `chunk` states.
    """
    n_vis, n_hid = params.W.shape
    if n_hid <= n_vis:
        W, a, b = params.W.T, params.b_hid, params.b_vis   # enumerate h; sum out v
    else:
        W, a, b = params.W, params.b_vis, params.b_hid     # enumerate v; sum out h
    n = W.shape[0]
    states = all_binary(n)
    pad = (-states.shape[0]) % chunk
    states = jnp.concatenate([states, jnp.zeros((pad, n))]) if pad else states
    valid = jnp.arange(states.shape[0]) < 2**n

    def body(total, i):
        s = jax.lax.dynamic_slice_in_dim(states, i * chunk, chunk)
        logits = s @ a + jnp.sum(jax.nn.softplus(s @ W + b), axis=-1)
        logits = jnp.where(jax.lax.dynamic_slice_in_dim(valid, i * chunk, chunk), logits, -jnp.inf)
        return jnp.logaddexp(total, jax.nn.logsumexp(logits)), None

    total, _ = jax.lax.scan(body, jnp.array(-jnp.inf, jnp.float32), jnp.arange(states.shape[0] // chunk))
    return total


# --- the trainer's Task -------------------------------------------------------------------------


@dataclass(frozen=True)
class RBMConfig:
    """A Bernoulli RBM trained by CD-k or PCD with the practical guide's optimizer: SGD, learning rate
    0.05, momentum 0.5 then 0.9, weight decay 2e-4 on W; batch 100 (set it in the training options).

    Steps count optimizer updates: 600 per epoch on MNIST at batch 100.

    Attributes:
      n_hidden: hidden units.
      k: Gibbs sweeps per step.
      k_final: with k_ramp_steps, the sweeps grow linearly from k to k_final (CD only; 0: constant k).
      k_ramp_steps: steps over which the sweeps grow from k to k_final.
      pcd: use persistent chains (PCD-k) instead of CD-k.
      n_chains: persistent chains (PCD only).
      learning_rate: SGD step size.
      lr_decay_steps: with > 0, the learning rate falls linearly to final_learning_rate over this many
        steps, starting at step lr_decay_begin (0: constant).
      lr_decay_begin: the step where the decay starts.
      final_learning_rate: the learning rate at the end of the decay.
      momentum: momentum for the first `momentum_switch` steps.
      final_momentum: momentum afterwards.
      momentum_switch: the step at which momentum changes.
      weight_decay: L2 coefficient on W.
      sparsity_target: desired mean hidden activation (the practical guide's section 11; 0: off).
      sparsity_cost: strength of the sparsity term.
      binarize: "static" (threshold 0.5), "dynamic" (a fresh Bernoulli sample every step), "none"
        (the data must already be binary), or "probabilities" (values in [0, 1] used as they are, e.g.
        the hidden probabilities a DBN's upper layers train on).
      hidden: "bernoulli" or "gaussian" (linear units with unit-variance noise, e.g. a deep
        autoencoder's code layer; use a small learning rate such as 0.001).
      labels: > 0: the last `labels` features are a one-hot class label, modelled by a softmax group
        (a DBN's top layer that generates digits of a chosen class).
    """

    n_hidden: int = 500
    k: int = 1
    k_final: int = 0
    k_ramp_steps: int = 0
    pcd: bool = False
    n_chains: int = 100
    learning_rate: float = 0.05
    lr_decay_steps: int = 0
    lr_decay_begin: int = 0
    final_learning_rate: float = 0.0
    momentum: float = 0.5
    final_momentum: float = 0.9
    momentum_switch: int = 3000
    weight_decay: float = 2e-4
    sparsity_target: float = 0.0
    sparsity_cost: float = 0.0
    binarize: str = "static"
    hidden: str = "bernoulli"
    labels: int = 0

    def __post_init__(self):
        if self.n_hidden < 1:
            raise ConfigError(f"n_hidden must be at least 1, got {self.n_hidden}")
        if self.k < 1:
            raise ConfigError(f"k must be at least 1 Gibbs step, got {self.k}")
        if self.k_final and (self.k_final < self.k or self.k_ramp_steps < 1 or self.pcd):
            raise ConfigError(f"a CD-k ramp needs k_final >= k ({self.k_final} < {self.k}?), k_ramp_steps >= 1 "
                              "and CD rather than --pcd")
        if self.n_chains < 1 or self.learning_rate <= 0 or self.weight_decay < 0:
            raise ConfigError("n_chains must be >= 1, learning_rate > 0 and weight_decay >= 0")
        if self.lr_decay_steps < 0 or self.lr_decay_begin < 0 or self.final_learning_rate < 0:
            raise ConfigError("lr_decay_steps, lr_decay_begin and final_learning_rate must be >= 0")
        if self.sparsity_cost < 0 or (self.sparsity_cost and not 0 < self.sparsity_target < 1):
            raise ConfigError(f"sparsity needs a target in (0, 1) and a cost >= 0, got "
                              f"{self.sparsity_target}, {self.sparsity_cost}")
        if self.binarize not in ("static", "dynamic", "none", "probabilities"):
            raise ConfigError(f"binarize must be static, dynamic, none or probabilities, got {self.binarize!r}")
        check_hidden(self.hidden)
        if self.labels < 0 or self.labels == 1:
            raise ConfigError(f"labels must be 0 (none) or the number of classes (>= 2), got {self.labels}")
        if self.labels and self.pcd:
            raise ConfigError("label units are trained with CD; drop --pcd")


def task(config: RBMConfig = RBMConfig()):
    """The trainer's Task for a Bernoulli RBM (see RBMConfig)."""
    import optax

    from jaxae import estimators
    from jaxae.data.transforms import binarize, dynamic_binarize, to_unit
    from jaxae.train.state import Task

    def flat(x):
        return x.reshape(x.shape[0], -1)

    def preprocess(key, raw):
        if config.binarize == "dynamic":
            return flat(dynamic_binarize(key, raw))
        return flat(binarize(raw) if config.binarize == "static" else to_unit(raw))

    def init_params(key, v):
        return init(key, v.shape[1], config.n_hidden, data_mean=jnp.mean(v, axis=0))

    visible = f"bernoulli+softmax:{config.labels}" if config.labels else "bernoulli"
    hidden = config.hidden

    def evaluate(key, params, v):
        p_v, _ = sample_visible(key, params, hidden_mean(params, v, hidden), visible)
        return {"recon_error": jnp.mean((v - p_v) ** 2, axis=-1), "free_energy": free_energy(params, v, hidden=hidden),
                "pseudo_ll": pseudo_log_likelihood(key, params, v, hidden)}

    def reconstruct(params, v):
        p_h = hidden_mean(params, v, hidden)
        side = int(round(v.shape[1] ** 0.5))
        return jax.nn.sigmoid(visible_logits(params, p_h)).reshape(v.shape[0], side, side)

    def validate(data):
        if config.binarize == "none":
            sample = to_unit(np.asarray(data.train_images[:1000]))
            check_binary(sample)

    learning_rate = estimators.linear_decay(config.learning_rate, config.lr_decay_steps, config.final_learning_rate,
                                            config.lr_decay_begin)
    momentum = optax.piecewise_constant_schedule(config.momentum, {config.momentum_switch: config.final_momentum / config.momentum})
    optimizer = optax.chain(
        optax.add_decayed_weights(config.weight_decay, mask=RBMParams(True, False, False)),
        optax.inject_hyperparams(optax.sgd)(learning_rate=learning_rate, momentum=momentum),
    )
    sparsity = (config.sparsity_target, config.sparsity_cost)
    if config.pcd:
        estimator = estimators.pcd(config.k, config.n_chains, sparsity=sparsity, hidden=hidden)
    else:
        estimator = estimators.cd(config.k, visible, k_final=config.k_final or None, ramp_steps=config.k_ramp_steps,
                                  sparsity=sparsity, hidden=hidden)
    return Task(name="rbm", init=init_params, estimator=estimator, optimizer=optimizer, preprocess=preprocess,
                evaluate=evaluate, reconstruct=reconstruct, validate=validate, train_eval=True)
