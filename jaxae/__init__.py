"""jaxae: autoencoders and Boltzmann machines on JAX."""
from jaxae import data, estimators, models, train, viz
from jaxae.errors import CheckpointError, ConfigError, DataError, JaxaeError, TrainingDiverged
from jaxae.estimators import Estimator, from_loss
from jaxae.models import AEConfig
from jaxae.train import FitResult, Task, TrainConfig, TrainState, fit

__version__ = "0.1.0"

__all__ = [
    "AEConfig", "CheckpointError", "ConfigError", "DataError", "Estimator", "FitResult", "JaxaeError",
    "Task", "TrainConfig", "TrainState", "TrainingDiverged", "data", "estimators", "fit", "from_loss",
    "models", "train", "viz",
]
