"""A deep Boltzmann machine of any depth with binary units: parameters, energy, conditionals, blocked
Gibbs sampling, mean-field inference and the variational lower bound, as pure functions.

Salakhutdinov & Hinton 2009, "Deep Boltzmann Machines" (AISTATS). Layers x_0 = v, x_1 = h1, ...,
x_L; weights W_l (n_{l-1}, n_l) join layer l-1 to layer l::

    E(x) = -sum_{l=0..L} b_l·x_l - sum_{l=1..L} x_{l-1}·W_l·x_l
    p(x_l = 1 | rest) = sigmoid(b_l + x_{l-1} W_l + x_{l+1} W_{l+1}^T)

Given the odd layers the even ones (v included) are independent, and the other way round, so one
Gibbs sweep is two blocked half-steps. A tuple `layers = (v, h1, ..., hL)` of (batch, n_l) arrays is a
state of the whole machine; mean-field posteriors are tuples `mu = (mu_1, ..., mu_L)` of hidden means.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxae import rand
from jaxae.errors import ConfigError, DataError, check_count


@dataclasses.dataclass(frozen=True)
class DBMParams:
    """A DBM's parameters: a pytree of arrays.

    Attributes:
      weights: L arrays; weights[l - 1] is W_l, (n_{l-1}, n_l) float32, between layers l-1 and l.
      biases: L + 1 arrays; biases[l] is b_l, (n_l,) float32; biases[0] is the visible layer's.

    Every unit is binary (Bernoulli). Gradients, optimizer traces and vmapped stacks keep this type.
    """

    weights: tuple[jax.Array, ...]
    biases: tuple[jax.Array, ...]

    def replace(self, **changes) -> DBMParams:
        """A copy with some fields changed (e.g. `params.replace(weights=(W1, W2))`)."""
        return dataclasses.replace(self, **changes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """(n_visible, n_1, ..., n_L)."""
        return tuple(int(b.shape[-1]) for b in self.biases)

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.weights)


jax.tree_util.register_dataclass(DBMParams, data_fields=["weights", "biases"], meta_fields=[])


def check_params(params: DBMParams) -> None:
    """Raises ConfigError when the weights and biases do not chain: W_l must be (n_{l-1}, n_l)."""
    weights, biases = tuple(params.weights), tuple(params.biases)
    if not weights or len(biases) != len(weights) + 1:
        raise ConfigError(f"a DBM needs L >= 1 weight matrices and L + 1 bias vectors, got {len(weights)} and "
                          f"{len(biases)}; build it with jaxae.rbm.dbm.init(key, sizes)")
    for l, W in enumerate(weights, start=1):
        want = (biases[l - 1].shape[-1], biases[l].shape[-1])
        if tuple(W.shape[-2:]) != want:
            raise ConfigError(f"W_{l} has shape {tuple(W.shape)} but layers {l - 1} and {l} have {want[0]} and "
                              f"{want[1]} units; W_l must be (n_{l - 1}, n_{l})")


def init(key: jax.Array, sizes: Sequence[int], data_mean: jax.Array | None = None,
         scale: float = 0.01) -> DBMParams:
    """W_l ~ N(0, scale^2), hidden biases 0, visible biases the logit of the data's pixel means (0 without).

    Args:
      key: PRNG key.
      sizes: (n_visible, n_1, ..., n_L), at least two layers.
      data_mean: (n_visible,) mean of the binary training data, or None.
      scale: standard deviation of the initial weights.

    Raises:
      ConfigError: fewer than two layers or a size below 1.
    """
    sizes = tuple(check_count(f"layer {i} size", n) for i, n in enumerate(sizes))
    if len(sizes) < 2:
        raise ConfigError(f"a DBM needs a visible layer and at least one hidden layer, got sizes {sizes}")
    keys = jax.random.split(key, len(sizes) - 1)
    weights = tuple(scale * jax.random.normal(k, (a, b), jnp.float32) for k, a, b in zip(keys, sizes, sizes[1:]))
    if data_mean is None:
        b_vis = jnp.zeros((sizes[0],), jnp.float32)
    else:
        p = jnp.clip(jnp.asarray(data_mean, jnp.float32), 1e-3, 1 - 1e-3)
        b_vis = jnp.log(p) - jnp.log1p(-p)
    return DBMParams(weights, (b_vis,) + tuple(jnp.zeros((n,), jnp.float32) for n in sizes[1:]))


def weights_mask(params: DBMParams) -> DBMParams:
    """An Optax mask selecting the weights only (weight cost on W, not on the biases)."""
    return DBMParams(tuple(True for _ in params.weights),  # type: ignore[misc]  # booleans, as Optax masks are
                     tuple(False for _ in params.biases))  # type: ignore[misc]


def check_visible(params: DBMParams, v: jax.Array) -> None:
    """Raises DataError when v is not floating point or not n_visible wide (static checks: work under jit)."""
    dtype = jnp.result_type(v)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise DataError(f"DBM units must be floating point, got {dtype} data; binarize pixels first "
                        "(jaxae.data.transforms.binarize turns uint8 0..255 into float32 0/1)")
    if v.ndim != 2 or v.shape[-1] != params.sizes[0]:
        raise DataError(f"the DBM has {params.sizes[0]} visible units but the data has shape {tuple(v.shape)}; pass "
                        f"(batch, {params.sizes[0]}) arrays (flatten the images)")


def check_layers(params: DBMParams, layers: Sequence[jax.Array]) -> None:
    """Raises DataError unless `layers` is (v, h1, ..., hL) with the DBM's widths."""
    if len(layers) != len(params.biases) or any(x.shape[-1] != n for x, n in zip(layers, params.sizes)):
        got = tuple(tuple(x.shape) for x in layers)
        raise DataError(f"a DBM state is one (batch, n_l) array per layer, widths {params.sizes}; got shapes {got}")


def layer_logits(params: DBMParams, layers: Sequence[jax.Array], l: int) -> jax.Array:
    """b_l + x_{l-1} W_l + x_{l+1} W_{l+1}^T: the logits of p(x_l = 1 | its neighbours), (batch, n_l)."""
    logits = params.biases[l]
    if l > 0:
        logits = logits + layers[l - 1] @ params.weights[l - 1]
    if l < params.depth:
        logits = logits + layers[l + 1] @ params.weights[l].T
    return logits


def energy(params: DBMParams, layers: Sequence[jax.Array]) -> jax.Array:
    """E(v, h1, ..., hL) per example: layers (batch, n_l) each -> (batch,)."""
    check_layers(params, layers)
    e = -sum((x @ b for x, b in zip(layers, params.biases)), jnp.zeros(()))
    for l, W in enumerate(params.weights, start=1):
        e = e - jnp.sum((layers[l - 1] @ W) * layers[l], axis=-1)
    return e


def parity(params: DBMParams, odd: bool) -> tuple[int, ...]:
    """The indices of the odd (1, 3, ...) or even (0, 2, ...) layers."""
    return tuple(range(1 if odd else 0, params.depth + 1, 2))


def sample_layers(key: jax.Array, params: DBMParams, layers: Sequence[jax.Array], odd: bool,
                  clamp_visible: bool = False) -> tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]:
    """One blocked half-step: every odd (or every even) layer drawn given its neighbours at once.

    Args:
      key: PRNG key.
      params: the DBM.
      layers: the current state (v, h1, ..., hL), (batch, n_l) each.
      odd: True to resample the odd layers (h1, h3, ...), False for the even ones (v, h2, ...).
      clamp_visible: keep v as it is (a half-step of the posterior p(h | v)).

    Returns:
      (new layers, means): the means are the conditional probabilities of the resampled layers, in the
      order of `parity(params, odd)`.
    """
    layers, means = list(layers), []
    for l in parity(params, odd):
        if l == 0 and clamp_visible:
            means.append(layers[0])
            continue
        p = jax.nn.sigmoid(layer_logits(params, layers, l))
        layers[l] = rand.bernoulli(jax.random.fold_in(key, l), p).astype(p.dtype)
        means.append(p)
    return tuple(layers), tuple(means)


class DBMState(NamedTuple):
    """A batch of Gibbs chains: layers = (v, h1, ..., hL), (chains, n_l) each."""

    layers: tuple[jax.Array, ...]


class DBMInfo(NamedTuple):
    """Not carried: the even layers' conditional means given the sweep's final odd layers, (chains, n_l) each
    in the order (v, h2, h4, ...)."""

    even_means: tuple[jax.Array, ...]


def init_chains(key: jax.Array, params: DBMParams, n_chains: int) -> DBMState:
    """`n_chains` chains drawn from the biases alone (each unit Bernoulli(sigmoid(b_l)))."""
    n_chains = check_count("n_chains", n_chains, where="dbm.init_chains")
    keys = jax.random.split(key, len(params.biases))
    return DBMState(tuple(rand.bernoulli(k, jax.nn.sigmoid(b), (n_chains, b.shape[-1])).astype(b.dtype)
                          for k, b in zip(keys, params.biases)))


def kernel(key: jax.Array, state: DBMState, params: DBMParams) -> tuple[DBMState, DBMInfo]:
    """One Gibbs sweep in the BlackJAX shape: odd layers given even, then even layers (v included) given odd."""
    check_layers(params, state.layers)
    k_odd, k_even = jax.random.split(key)
    layers, _ = sample_layers(k_odd, params, state.layers, odd=True)
    layers, even_means = sample_layers(k_even, params, layers, odd=False)
    return DBMState(layers), DBMInfo(even_means)


def run(key: jax.Array, state: DBMState, params: DBMParams, n_steps: int) -> tuple[DBMState, DBMInfo]:
    """`n_steps` sweeps with lax.scan (step i uses fold_in(key, i)); the last state and its info.

    Raises:
      ConfigError: n_steps is not a positive int (it is static: mark it so under jit).
    """
    n_steps = check_count("n_steps", n_steps, where="dbm.run")

    def body(carry, i):
        return kernel(jax.random.fold_in(key, i), carry[0], params), None

    info = DBMInfo(tuple(jnp.zeros_like(state.layers[l]) for l in parity(params, odd=False)))
    (state, info), _ = jax.lax.scan(body, (state, info), jnp.arange(n_steps))
    return state, info


def bottom_up(params: DBMParams, v: jax.Array) -> tuple[jax.Array, ...]:
    """The mean-field starting point of Salakhutdinov & Hinton 2009: one upward pass with the weights
    doubled into every layer but the top (standing in for the missing input from above).

    v: (batch, n_visible) -> (mu_1, ..., mu_L), (batch, n_l) each.
    """
    check_visible(params, v)
    mu, x = [], v
    for l, W in enumerate(params.weights, start=1):
        a = x @ W
        x = jax.nn.sigmoid((2.0 * a if l < params.depth else a) + params.biases[l])
        mu.append(x)
    return tuple(mu)


def mean_field_update(params: DBMParams, v: jax.Array, mu: Sequence[jax.Array],
                      damping: float = 0.0) -> tuple[jax.Array, ...]:
    """One mean-field update of q(h | v) = prod_l Bernoulli(mu_l): the odd hidden layers from their
    neighbours, then the even ones from the new odd means (for two layers: mu_1, then mu_2 from the new
    mu_1, as in Salakhutdinov's code). With damping d, mu <- d mu + (1 - d) update.
    """
    layers = [v, *mu]
    for odd in (True, False):
        for l in parity(params, odd):
            if l == 0:
                continue
            new = jax.nn.sigmoid(layer_logits(params, layers, l))
            layers[l] = new if not damping else damping * layers[l] + (1.0 - damping) * new
    return tuple(layers[1:])


def mean_field(params: DBMParams, v: jax.Array, n_updates: int = 10, damping: float = 0.0,
               mu: Sequence[jax.Array] | None = None) -> tuple[jax.Array, ...]:
    """The mean-field posterior q(h | v): `n_updates` updates (a lax.scan) from `bottom_up` or from `mu`.

    Args:
      params: the DBM.
      v: (batch, n_visible) float32 data in [0, 1].
      n_updates: number of updates (static, >= 1); the paper uses 10 in training.
      damping: d in [0, 1): each update keeps a fraction d of the old means (helps convergence).
      mu: a starting point (mu_1, ..., mu_L), e.g. the last batch's, instead of `bottom_up`.

    Returns:
      (mu_1, ..., mu_L), (batch, n_l) each.

    Raises:
      ConfigError: n_updates not a positive int or damping outside [0, 1).
    """
    n_updates = check_count("n_updates", n_updates, where="dbm.mean_field")
    if not 0.0 <= damping < 1.0:
        raise ConfigError(f"mean-field damping must be in [0, 1), got {damping}")
    check_visible(params, v)
    start = bottom_up(params, v) if mu is None else tuple(mu)
    check_layers(params, (v, *start))

    def body(mu, _):
        return mean_field_update(params, v, mu, damping), None

    out, _ = jax.lax.scan(body, start, None, length=n_updates)
    return out


def _entropy(p: jax.Array) -> jax.Array:
    """Sum over units of the Bernoulli entropy, (batch,); 0 log 0 = 0."""
    return -jnp.sum(jax.scipy.special.xlogy(p, p) + jax.scipy.special.xlogy(1.0 - p, 1.0 - p), axis=-1)


def unnormalized_bound(params: DBMParams, v: jax.Array, mu: Sequence[jax.Array]) -> jax.Array:
    """E_q[-E(v, h)] + H(q) for the factorised q(h) = prod_l Bernoulli(mu_l): the variational lower bound
    on log p*(v) = log sum_h exp(-E(v, h)); subtract log Z for the bound on log p(v). (batch,).

    Salakhutdinov & Hinton 2009, eq. 6: ``log p(v) >= sum_h q(h) (-E(v, h)) + H(q) - log Z``, with
    equality when q is the exact posterior.
    """
    layers = (v, *mu)
    check_layers(params, layers)
    return -energy(params, layers) + sum(_entropy(m) for m in mu)


def lower_bound(params: DBMParams, v: jax.Array, log_z: jax.Array, n_updates: int = 30,
                damping: float = 0.0) -> jax.Array:
    """The variational lower bound on log p(v) per example, (batch,): mean field with `n_updates`
    updates, then `unnormalized_bound - log_z` (log_z from `log_partition` or `exact_log_partition`)."""
    return unnormalized_bound(params, v, mean_field(params, v, n_updates, damping)) - log_z


def check_binary(v) -> None:
    """Raises DataError unless every value of the concrete array v is 0 or 1 (the DBM's units are binary)."""
    values = np.asarray(v)
    bad = values[(values != 0) & (values != 1)]
    if bad.size:
        raise DataError(f"a DBM has binary visible units but {bad.size} values of the data are not 0 or 1, e.g. "
                        f"{float(bad.flat[0]):.4g}; binarize the data first ([[binarize='static']] or 'dynamic')")
