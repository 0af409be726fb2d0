"""Several processes (one per host) as one JAX program, through JAX's own multi-controller runtime
(`jax.distributed`), with bounded timeouts, a watchdog that stops the others when a process dies, and
preemption (SIGTERM) handled at a step all processes agree on.

    initialize(Cluster(coordinator="10.0.0.1:1234", num_processes=2, process_id=0))
    initialize(Cluster())   # auto-detected: Cloud TPU, SLURM (what jax.distributed finds itself)

The settings can also come from the environment: JAXAE_COORDINATOR (or JAX_COORDINATOR_ADDRESS),
JAXAE_NUM_PROCESSES (or JAX_NUM_PROCESSES), JAXAE_PROCESS_ID (or JAX_PROCESS_ID).
"""
from __future__ import annotations

import atexit
import dataclasses
import itertools
import os
import signal
import sys
import threading
import time
from typing import Any

import jax

from jaxae.errors import ConfigError, JaxaeError, Preempted

EXIT_PEER_FAILED = 3  # another process of the run stopped
EXIT_PREEMPTED = Preempted.exit_code  # SIGTERM: checkpointed at an agreed step; --resume continues (EX_TEMPFAIL)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """How this process joins the others.

    Attributes:
      coordinator: HOST:PORT of process 0's coordination service ("" to auto-detect on Cloud TPU or SLURM).
      num_processes: how many processes (0: auto-detect).
      process_id: this process's index, 0..num_processes-1 (-1: auto-detect).
      timeout: seconds to wait for all processes to join, and a dead peer's heartbeat.
    """

    coordinator: str = ""
    num_processes: int = 0
    process_id: int = -1
    timeout: int = 30

    @classmethod
    def from_env(cls, **given) -> Cluster:
        """The settings given (when not None), else from the environment variables (module docstring)."""
        env = os.environ
        values: dict[str, Any] = {
            "coordinator": env.get("JAXAE_COORDINATOR") or env.get("JAX_COORDINATOR_ADDRESS") or "",
            "num_processes": int(env.get("JAXAE_NUM_PROCESSES") or env.get("JAX_NUM_PROCESSES") or 0),
            "process_id": int(env.get("JAXAE_PROCESS_ID") or env.get("JAX_PROCESS_ID") or -1),
            "timeout": int(env.get("JAXAE_DISTRIBUTED_TIMEOUT") or 30),
        }
        values.update({k: v for k, v in given.items() if v is not None})
        return cls(**values)

    def check(self) -> None:
        explicit = [bool(self.coordinator), self.num_processes > 0, self.process_id >= 0]
        if any(explicit) and not all(explicit):
            raise ConfigError("give all of --coordinator HOST:PORT, --num-processes N and --process-id I (or none of "
                              "them, to auto-detect on Cloud TPU or SLURM)")
        if all(explicit) and not 0 <= self.process_id < self.num_processes:
            raise ConfigError(f"--process-id must be in 0..{self.num_processes - 1}, got {self.process_id}")
        if self.timeout < 1:
            raise ConfigError(f"the distributed timeout must be at least 1 second, got {self.timeout}")


def initialize(cluster: Cluster) -> None:
    """Joins the other processes (jax.distributed.initialize) with bounded timeouts, and starts the
    watchdog. Call before anything else touches a JAX device.

    Raises:
      ConfigError: inconsistent settings, or the processes did not all join within the timeout.
    """
    cluster.check()
    flag = f"--xla_cpu_collective_timeout_seconds={cluster.timeout}"  # a collective waiting on a dead peer
    if flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    # a dead peer is noticed after the heartbeat timeout (then the watchdog ends this process)
    kwargs: dict[str, Any] = dict(initialization_timeout=cluster.timeout,
                                  heartbeat_timeout_seconds=max(3, min(cluster.timeout // 3, 10)),
                                  shutdown_timeout_seconds=max(5, min(cluster.timeout, 10)))
    if cluster.coordinator:
        kwargs.update(coordinator_address=cluster.coordinator, num_processes=cluster.num_processes,
                      process_id=cluster.process_id)
    try:
        jax.distributed.initialize(**kwargs)
    except (ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"could not join the other processes ({first[:200]}); check --coordinator, "
                          "--num-processes and --process-id, that every process was started, and that "
                          "process 0 can be reached") from None
    if jax.process_count() > 1:
        watchdog = _Watchdog(jax.process_count(), jax.process_index(), cluster.timeout)
        atexit.register(watchdog.stop)  # registered after JAX's shutdown, so it runs before it
        watchdog.start()


def client() -> Any:
    """JAX's coordination-service client of this process (live nodes, barriers), or None when it joined
    no others. (A private attribute of JAX's: the one place jaxae reads it.)"""
    from jax._src import distributed as state

    return state.global_state.client


def failed_peers(wait: float) -> list[int]:
    """The processes the coordination service no longer sees, asked for up to `wait` seconds (a
    collective that failed because a peer died is noticed by the heartbeats a little later)."""
    joined = client()
    if joined is None or jax.process_count() == 1:
        return []
    deadline = time.monotonic() + wait
    while True:
        missing = _missing(joined, jax.process_count())
        if missing or time.monotonic() > deadline:
            return missing
        time.sleep(0.5)


def _missing(client, count: int) -> list[int]:
    """The processes of `count` that the coordination service no longer sees (process 0 when the
    service itself, which process 0 runs, is gone)."""
    everyone = list(range(count))
    try:
        return sorted(set(everyone) - set(client.get_live_nodes(everyone)))
    except Exception:  # the coordination service (process 0) itself is gone
        return [0]


def exit_for_failed_peers(wait: float) -> None:
    """If another process stopped (within `wait` seconds), says so in one line and ends this one."""
    missing = failed_peers(wait)
    if missing:
        _exit_naming(missing, jax.process_count(), jax.process_index())


_BARRIERS = itertools.count()  # every process calls wait_for_all in the same order: the same ids


def wait_for_all(name: str, timeout_s: float = 600.0) -> None:
    """Waits until every process gets here (a no-op for one process), at a barrier of the coordination
    service rather than a device collective: no collective timeout applies, so process 0 may take its
    time writing the run folder (pictures, curves) while the others wait. A process that dies meanwhile
    is noticed by the watchdog, which ends this one.

    Raises:
      JaxaeError: the others did not arrive within `timeout_s`.
    """
    joined = client()
    if joined is None or jax.process_count() == 1:
        return
    barrier = f"{name} #{next(_BARRIERS)}"
    try:
        joined.wait_at_barrier(barrier, int(timeout_s * 1000))
    except Exception as e:  # the runtime's JaxRuntimeError (DEADLINE_EXCEEDED, or the barrier failed)
        exit_for_failed_peers(wait=10.0)  # a process that died: say which (as the watchdog does), exit 3
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise JaxaeError(f"process {jax.process_index()} waited {timeout_s:.0f} s at '{name}' and not every process "
                         f"arrived ({first}); check the other processes' output, then resume with --resume") from None


def _exit_naming(missing: list[int], count: int, me: int) -> None:
    names = ", ".join(f"process {i}" for i in missing)
    exit_now(EXIT_PEER_FAILED, f"jaxae: error: {names} of {count} stopped; process {me} stops too (resume the run "
             "with --resume once every process is back)")


def exit_now(code: int, message: str | None = None) -> None:
    """Ends this process at once (os._exit: no shutdown barrier to wait in for a dead peer), `message`
    the last line on stderr: the runtime's threads, which log the coordination service's view of the
    same failure, are silenced first, so that the line that says what to do is the one the user sees last."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    if message:
        os.write(saved, (message + "\n").encode())
    os._exit(code)


class _Watchdog(threading.Thread):
    """Polls which processes the coordination service still sees; when one is gone, prints one line
    naming it and ends this process (a collective waiting on it would otherwise wait until timeout)."""

    def __init__(self, count: int, me: int, timeout: int):
        super().__init__(name="jaxae-watchdog", daemon=True)
        self.count, self.me, self.timeout = count, me, timeout
        self.stopped = threading.Event()

    def stop(self) -> None:
        """At a normal exit: the processes leave one by one, which is no failure."""
        self.stopped.set()

    def run(self) -> None:
        joined = client()  # the runtime's client: live nodes of the job
        if joined is None:
            return
        while not self.stopped.wait(1.0):
            missing = _missing(joined, self.count)
            if missing and not self.stopped.is_set():
                _exit_naming(missing, self.count, self.me)


class Preemption:
    """SIGTERM (what Cloud TPU and SLURM send before preempting) asks every process to stop after the
    epoch they are in: at the end of each epoch the processes exchange their flags (an allgather), so
    they all stop after the same one; the trainer then saves a checkpoint and exits with EXIT_PREEMPTED."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        del signum, frame
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def agreed(self) -> bool:
        """Whether to stop now: this process was asked, or (several processes) any of them was."""
        if jax.process_count() == 1:
            return self.requested
        from jax.experimental import multihost_utils

        flag = multihost_utils.process_allgather(jax.numpy.asarray(self.requested))
        return bool(jax.numpy.any(flag))
