"""jaxae: autoencoders and Boltzmann machines on JAX.

Four layers, each importing only those below it:
  1. pure math: `jaxae.rbm`, `jaxae.vae`, `jaxae.cvae`, `jaxae.autoencoder`, `jaxae.estimators`, `jaxae.optim`,
     `jaxae.likelihood`, `jaxae.pca`, `jaxae.recsys`, `jaxae.nn` (jax, flax, optax, numpy only);
  2. the trainer: `jaxae.train` (`fit`, `TrainConfig`, `Task`, checkpoints, the run folder);
  3. the command-line models: `jaxae.tasks` (configs, tasks, what each offers, `load_run`);
  4. the `jaxae` command: `jaxae.apps`.
`jaxae.data`, `jaxae.viz`, `jaxae.rand` and `jaxae.errors` are utilities any layer may use.

Subpackages and the names below load on first use (PEP 562), so `import jaxae.rbm` pulls in neither
the trainer nor Orbax, tqdm, Pillow, matplotlib or pandas.
"""
from __future__ import annotations

import importlib

from jaxae.errors import CheckpointError, ConfigError, DataError, JaxaeError, TrainingDiverged

__version__ = "0.1.0"

_SUBMODULES = ("apps", "autoencoder", "cvae", "data", "estimators", "likelihood", "nn", "nnx_bridge", "optim", "pca",
               "rand", "rbm", "recsys", "tasks", "train", "types", "vae", "viz", "weights")
_NAMES = {
    "Estimator": "jaxae.estimators", "from_loss": "jaxae.estimators",
    "FitResult": "jaxae.train", "Task": "jaxae.train", "TrainConfig": "jaxae.train", "TrainState": "jaxae.train",
    "fit": "jaxae.train",
    "AEConfig": "jaxae.tasks", "CVAEConfig": "jaxae.tasks", "ConvAEConfig": "jaxae.tasks", "DAEConfig": "jaxae.tasks", "IWAEConfig": "jaxae.tasks",
    "VAEConfig": "jaxae.tasks", "load_run": "jaxae.tasks",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxae.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'jaxae' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AEConfig", "CVAEConfig", "CheckpointError", "ConfigError", "ConvAEConfig", "DAEConfig", "DataError", "Estimator",
    "FitResult", "IWAEConfig", "JaxaeError", "Task", "TrainConfig", "TrainState", "TrainingDiverged",
    "VAEConfig", "__version__", "apps", "autoencoder", "cvae", "data", "estimators", "fit", "from_loss",
    "likelihood", "load_run", "nn", "nnx_bridge", "optim", "pca", "rand", "rbm", "recsys", "tasks", "train", "types",
    "vae", "viz", "weights",
]
