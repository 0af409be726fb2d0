"""Principal component analysis in JAX: the linear baseline a deep autoencoder is measured against
(Hinton & Salakhutdinov 2006 compare squared reconstruction errors with PCA at the same code size)."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxae.errors import ConfigError


class PCA(NamedTuple):
    """mean: (n_features,); components: (n_features, k), orthonormal columns, largest variance first."""

    mean: jax.Array
    components: jax.Array


def fit(x: jax.Array, k: int) -> PCA:
    """The top-k principal directions of x (n, n_features), from the eigenvectors of the covariance
    (accumulated in float32 over centred data)."""
    x = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
    if not 1 <= k <= x.shape[1]:
        raise ConfigError(f"PCA needs 1 <= k <= {x.shape[1]} components, got {k}")
    mean = jnp.mean(x, axis=0)
    centred = x - mean
    covariance = centred.T @ centred / x.shape[0]
    _, vectors = jnp.linalg.eigh(covariance)  # ascending eigenvalues
    return PCA(mean, vectors[:, ::-1][:, :k])


def encode(pca: PCA, x: jax.Array) -> jax.Array:
    """(n, n_features) -> (n, k) coordinates."""
    return (x.reshape(x.shape[0], -1) - pca.mean) @ pca.components


def decode(pca: PCA, z: jax.Array) -> jax.Array:
    """(n, k) -> (n, n_features) reconstructions."""
    return z @ pca.components.T + pca.mean


def squared_error(pca: PCA, x: jax.Array) -> jax.Array:
    """Summed squared reconstruction error per example, (n,)."""
    flat = x.reshape(x.shape[0], -1)
    return jnp.sum((decode(pca, encode(pca, flat)) - flat) ** 2, axis=-1)
