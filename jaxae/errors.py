"""User-facing errors. The CLI prints their message on one line and exits non-zero."""
from __future__ import annotations

import re

import jax

# [[name]], [[name=value]] in a message: an option, written as Python's keyword (n_chains, parallel="none",
# resume=True) in the message and as the command line's flag (--n-chains, --parallel none, --resume) in `cli`
_OPTION = re.compile(r"\[\[(\w+)(?:=([^\]]*))?\]\]")


def _as_python(match: re.Match) -> str:
    name, value = match.groups()
    return name if value is None else f"{name}={value}"


def _as_flag(match: re.Match) -> str:
    name, value = match.groups()
    flag = "--" + name.replace("_", "-")
    if value is None or value == "True":
        return flag
    return f"{flag} {value.strip(chr(34) + chr(39))}"


def in_terms(message: str) -> tuple[str, str]:
    """(Python wording, command-line wording) of a message whose options are written [[name=value]]."""
    return _OPTION.sub(_as_python, message), _OPTION.sub(_as_flag, message)


class JaxaeError(Exception):
    """Base class of every error jaxae raises for something the user can fix.

    The message speaks Python (keyword arguments: `resume=True`, `workdir`), the `jaxae` command prints
    `cli`, the same message with flags (`--resume`, `--workdir`): options are written `[[resume=True]]`
    in the raising code (see `in_terms`). `str(error)` is always the Python wording.
    """

    def __init__(self, message: str = "", *, cli: str | None = None):
        python, flags = in_terms(message)
        super().__init__(python)
        self.cli = flags if cli is None else cli


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


def check_count(name: str, value, minimum: int | None = 1, where: str = "") -> int:
    """`value` as an int >= `minimum` (any int for None), or ConfigError naming `name`. For static arguments (sample
    counts, chunk sizes, chain counts): a traced value means the function was jitted without marking
    it static, which the message says."""
    if isinstance(value, jax.core.Tracer):  # jitted without static_argnames
        raise ConfigError(f"{name} must be a Python int (it sets array shapes), got a traced value; mark it static, "
                          f"e.g. jax.jit({where or 'f'}, static_argnames={name!r})")
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ConfigError(f"{name} must be an integer{'' if minimum is None else f' >= {minimum}'}, got {value!r}")
    value = value.__index__()
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value
