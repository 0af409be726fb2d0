"""User-facing errors. The CLI prints their message on one line and exits non-zero."""


class JaxaeError(Exception):
    """Base class of every error jaxae raises for something the user can fix."""


class DataError(JaxaeError, ValueError):
    """A data file or array is missing, malformed, or of the wrong shape or values."""


class ConfigError(JaxaeError, ValueError):
    """A configuration value or command-line option is invalid."""


class CheckpointError(JaxaeError):
    """No usable checkpoint, or a run folder that would be overwritten."""


class TrainingDiverged(JaxaeError, FloatingPointError):
    """The loss or the parameters became NaN or infinite."""


class Preempted(JaxaeError):
    """Training stopped on SIGTERM (preemption) after saving a checkpoint; `--resume` continues exactly.
    The command line exits with `exit_code`."""

    exit_code = 75
