"""The one trainer: a Task (only what training reads), the state pytree, compiled steps, data-parallel
backends, checkpoints, the run folder and the fit loop."""
from jaxae.train.checkpoint import Checkpointer
from jaxae.train.config import TrainConfig
from jaxae.train.loop import FitResult, fit, init_states
from jaxae.train.rundir import RunDir
from jaxae.train.state import Task, TrainState, init_state, state_shapes

__all__ = ["Checkpointer", "FitResult", "RunDir", "Task", "TrainConfig", "TrainState", "fit", "init_state",
           "init_states", "state_shapes"]
