"""The one trainer: state, compiled steps, checkpoints, the fit loop."""
from jaxae.train.checkpoint import Checkpointer
from jaxae.train.config import TrainConfig
from jaxae.train.loop import FitResult, fit
from jaxae.train.state import Task, TrainState, init_state

__all__ = ["Checkpointer", "FitResult", "Task", "TrainConfig", "TrainState", "fit", "init_state"]
