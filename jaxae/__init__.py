"""jaxae: autoencoders and Boltzmann machines on JAX."""
from jaxae import data, estimators, evaluate, models, train, viz
from jaxae.errors import CheckpointError, ConfigError, DataError, JaxaeError, TrainingDiverged
from jaxae.estimators import Estimator, from_loss
from jaxae.models import AEConfig, ConvAEConfig, DAEConfig, IWAEConfig, VAEConfig
from jaxae.train import FitResult, Task, TrainConfig, TrainState, fit

__version__ = "0.1.0"

__all__ = [
    "AEConfig", "CheckpointError", "ConvAEConfig", "DAEConfig", "IWAEConfig", "VAEConfig", "evaluate", "ConfigError", "DataError", "Estimator", "FitResult", "JaxaeError",
    "Task", "TrainConfig", "TrainState", "TrainingDiverged", "data", "estimators", "fit", "from_loss",
    "models", "train", "viz",
]
