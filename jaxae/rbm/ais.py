"""Annealed importance sampling for the partition function of an RBM with Bernoulli visible units.

Salakhutdinov & Murray 2008, "On the quantitative analysis of deep belief networks", section 3:
a base-rate RBM A with W = 0, hidden biases 0 and visible biases b_A (from the data's pixel
marginals), geometric path ``p_beta(v) ∝ p*_A(v)^(1 - beta) p*_B(v)^beta`` with::

    log p*_beta(v) = (1 - beta) b_A·v + beta b_vis·v + sum_j g(beta (b_hid + v W)_j),

g = softplus for Bernoulli hidden units and g(a) = a^2 / 2 for Gaussian ones (their free energy is
analytic: the integral over h of a unit-variance Gaussian), Gibbs transitions that leave p_beta
invariant, and importance log-weights accumulated along the chain in float32 (float64 for float64
parameters).
log Z_A = sum_i softplus(b_A_i) + n_hidden log 2 (Bernoulli hidden) or + 0 (Gaussian hidden: the
constant n_hidden log(2 pi) / 2 is left out of log Z, as `free_energy` leaves it out of F).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError, DataError, check_count
from jaxae.rbm.params import RBMParams


class AISResult(NamedTuple):
    """log_z: the estimate log mean(w) + log Z_A; log_z_std: the standard error of log_z (delta method);
    log_weights: (chains,) the final log importance weights; ess: their effective sample size
    (sum w)^2 / sum w^2, between 1 and the number of chains.

    AIS underestimates log Z when its chains miss modes of the model, which makes the test
    log-likelihood look too good; an ESS far below the number of chains (say under 10%) and a large
    log_z_std are the warning signs: use more temperatures and chains.
    """

    log_z: jax.Array
    log_z_std: jax.Array
    log_weights: jax.Array
    ess: jax.Array


def check_supported(params: RBMParams) -> None:
    """Raises ConfigError unless AIS here handles the RBM's units: Bernoulli visible units (no label
    group), Bernoulli or Gaussian hidden units."""
    if not params.units.binary_visible:
        raise ConfigError(f"AIS here anneals from a base-rate model over Bernoulli visible units; this RBM has "
                          f"{params.units} units, so its log Z cannot be estimated by jaxae.rbm.ais")


def base_rate_biases(data: jax.Array, smoothing: float = 0.05) -> jax.Array:
    """b_A = logit of the (smoothed) per-pixel mean of binary data (n, n_visible), float 0/1.

    Raises:
      DataError: integer data (uint8 pixels 0..255 would give NaN), or concrete values outside [0, 1].
    """
    if not jnp.issubdtype(jnp.result_type(data), jnp.floating):
        raise DataError(f"base_rate_biases takes float 0/1 data, got {jnp.result_type(data)}; binarize pixels first "
                        "(jaxae.data.transforms.binarize)")
    if not isinstance(data, jax.core.Tracer) and (float(jnp.min(data)) < 0 or float(jnp.max(data)) > 1):
        raise DataError(f"base_rate_biases takes values in [0, 1], got [{float(jnp.min(data)):g}, "
                        f"{float(jnp.max(data)):g}]; binarize the data first")
    n = data.shape[0]
    p = (jnp.sum(data, axis=0) + smoothing) / (n + 2 * smoothing)
    return jnp.log(p) - jnp.log1p(-p)


SCHEDULES = ("uniform", "salakhutdinov")
_SALAKHUTDINOV = ((0.5, 500), (0.9, 4_000), (1.0, 10_000))  # (segment end, steps) of their 14,500-step schedule


def temperatures(n_temperatures: int, schedule: str = "uniform", dtype=jnp.float32) -> jax.Array:
    """Inverse temperatures 0 = beta_0 < beta_1 < ... < beta_{n-1} = 1 for AIS, (n_temperatures,).

    Args:
      n_temperatures: how many (>= 2; >= 4 for "salakhutdinov").
      schedule: "uniform" (evenly spaced) or "salakhutdinov": Salakhutdinov & Murray 2008's spacing,
        denser where the intermediate distributions change fastest: 500/14,500 of the steps evenly over
        [0, 0.5], 4,000/14,500 over [0.5, 0.9] and 10,000/14,500 over [0.9, 1] (n = 14,501 gives their
        step sizes 1e-3, 1e-4 and 1e-5 exactly).
      dtype: the result's dtype.

    Raises:
      ConfigError: an unknown schedule or too few temperatures.
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    n_temperatures = check_count("n_temperatures", n_temperatures, 4 if schedule == "salakhutdinov" else 2,
                                 where="rbm.ais.temperatures")
    if schedule == "uniform":
        return jnp.linspace(0.0, 1.0, n_temperatures, dtype=dtype)
    steps, total = n_temperatures - 1, sum(n for _, n in _SALAKHUTDINOV)
    counts = [max(1, round(steps * n / total)) for _, n in _SALAKHUTDINOV[:-1]]
    counts.append(steps - sum(counts))
    pieces, start = [], 0.0
    for (end, _), count in zip(_SALAKHUTDINOV, counts):
        pieces.append(jnp.linspace(start, end, count + 1, dtype=dtype)[:-1])
        start = end
    return jnp.concatenate(pieces + [jnp.ones((1,), dtype)])


def _hidden_term(gaussian: bool, a: jax.Array) -> jax.Array:
    return jnp.sum(0.5 * a**2 if gaussian else jax.nn.softplus(a), axis=-1)


def log_partition(key: jax.Array, params: RBMParams, b_a: jax.Array, n_chains: int = 100,
                  n_temperatures: int = 14_500, schedule: str = "uniform") -> AISResult:
    """AIS estimate of log Z of an RBM with Bernoulli visible units (see the module docstring).

    Args:
      key: PRNG key.
      params: the RBM (W: (n_visible, n_hidden)); Bernoulli or Gaussian hidden units.
      b_a: (n_visible,) base-rate visible biases (see `base_rate_biases`).
      n_chains: independent AIS runs (static, >= 2).
      n_temperatures: number of inverse temperatures in [0, 1] (static, >= 2).
      schedule: their spacing (static): "uniform" or "salakhutdinov" (see `temperatures`).

    Returns:
      AISResult.

    Raises:
      ConfigError: fewer than 2 chains or temperatures (or traced ones: both are static, so jit this
        with static_argnames=("n_chains", "n_temperatures", "schedule")), an unknown schedule, or unit
        types AIS does not handle.
    """
    n_chains = check_count("n_chains", n_chains, 2, where="rbm.ais.log_partition")
    n_temperatures = check_count("n_temperatures", n_temperatures, 2, where="rbm.ais.log_partition")
    check_supported(params)
    gaussian = params.units.hidden == "gaussian"
    n_vis, n_hid = params.W.shape
    dtype = jnp.promote_types(params.W.dtype, jnp.float32)
    betas = temperatures(n_temperatures, schedule, dtype)
    k0, k_run = jax.random.split(key)
    v = jax.random.bernoulli(k0, jax.nn.sigmoid(b_a), (n_chains, n_vis)).astype(dtype)

    def log_p_star(v, beta):
        return ((1.0 - beta) * (v @ b_a) + beta * (v @ params.b_vis)
                + _hidden_term(gaussian, beta * (v @ params.W + params.b_hid)))

    def body(carry, i):
        v, log_w = carry
        beta_prev, beta = betas[i - 1], betas[i]
        log_w = log_w + log_p_star(v, beta) - log_p_star(v, beta_prev)
        k_h, k_v = jax.random.split(jax.random.fold_in(k_run, i))
        a = beta * (v @ params.W + params.b_hid)
        if gaussian:
            h = a + jax.random.normal(k_h, a.shape, dtype)
        else:
            h = jax.random.bernoulli(k_h, jax.nn.sigmoid(a)).astype(dtype)
        v_logits = (1.0 - beta) * b_a + beta * (h @ params.W.T + params.b_vis)
        v = jax.random.bernoulli(k_v, jax.nn.sigmoid(v_logits)).astype(dtype)
        return (v, log_w), None

    (v, log_w), _ = jax.lax.scan(body, (v, jnp.zeros((n_chains,), dtype)), jnp.arange(1, n_temperatures))
    log_z_a = (0.0 if gaussian else n_hid * jnp.log(2.0)) + jnp.sum(jax.nn.softplus(b_a))
    return from_log_weights(log_w, log_z_a)


def from_log_weights(log_w: jax.Array, log_z_a: jax.Array) -> AISResult:
    """The AIS estimate from the chains' final log importance weights (chains,) and the base model's log Z:
    log Z = log mean(w) + log Z_A, its standard error by the delta method, and the weights' ESS."""
    n_chains = log_w.shape[0]
    log_mean_w = jax.nn.logsumexp(log_w) - jnp.log(n_chains)
    # standard error of log mean(w): std(w) / (sqrt(n) mean(w)), computed in log space
    w_rel = jnp.exp(log_w - jax.nn.logsumexp(log_w)) * n_chains  # w / mean(w)
    std = jnp.std(w_rel, ddof=1) / jnp.sqrt(n_chains)
    ess = jnp.exp(2 * jax.nn.logsumexp(log_w) - jax.nn.logsumexp(2 * log_w))
    return AISResult(log_mean_w + log_z_a, std, log_w, ess)
