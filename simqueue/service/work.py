"""What a worker does with a dispatched job: call the user's handler, or simulate the work.

A :class:`Work` prepares each attempt under the queue's lock (where a simulation draws from its
seeded RNG streams, so one seed gives one sequence of draws) and returns an :data:`Attempt` that
the worker runs outside the lock. The attempt returns its :data:`Outcome`.

* :class:`HandlerWork` calls a ``module:function`` (see :func:`load_handler`) with the
  :class:`~simqueue.core.jobs.Job`; raising anything (``SystemExit`` and ``KeyboardInterrupt``
  included) is failure, logged at WARNING; the worker goes on.
* :class:`SimulatedWork` sleeps ``payload.sleep_ms`` (else a draw from ``config.service_time``)
  and fails with probability ``config.failure_rate`` (always, if ``payload.fail`` is true); with
  probability ``config.hang_rate`` it hangs until its deadline.

:class:`OneCpu` keeps the server's threads on one CPU, except while a handler runs.
"""

from __future__ import annotations

import functools
import importlib
import logging
import math
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from simqueue.core.jobs import Job
from simqueue.sim.config import Config

logger = logging.getLogger(__name__)

Handler = Callable[[Job], Any]
#: How an attempt ended: the worker reports ``"ok"`` as ACK, the others as a failed attempt.
Outcome = Literal["ok", "failed", "timeout"]
Attempt = Callable[[], Outcome]


class Released(Exception):
    """A simulated attempt abandoned because the server is being forced down."""


class Work(Protocol):
    """Turns a dispatched job into the attempt a worker runs."""

    def prepare(self, job: Job) -> Attempt:
        """Called under the queue's lock, right after the job's DISPATCH record."""
        ...


# ---------------------------------------------------------------------------------- handlers
def load_handler(spec: str) -> Handler:
    """Import ``module:function`` (the current directory is importable). Raises ValueError."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"handler must look like module:function; got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module itself failing to import
        raise ValueError(f"cannot import handler module {module_name!r}: {exc}") from None
    func: Any = module
    for part in func_name.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise ValueError(f"handler module {module_name!r} has no {func_name!r}")
    if not callable(func):
        raise ValueError(f"handler {spec!r} is not callable")
    return func


def handler_name(handler: Handler | None) -> str | None:
    """``module:qualname`` of a handler, for ``GET /status`` (None: simulated work)."""
    if handler is None:
        return None
    mod = getattr(handler, "__module__", "?")
    return f"{mod}:{getattr(handler, '__qualname__', repr(handler))}"


class OneCpu:
    """The CPU the server's threads run on, and the CPUs the process may use.

    The server's threads take turns holding the GIL, handing it over at every lock, fsync and
    socket call; spread over several CPUs, each hand-over wakes a thread on another CPU, which
    costs about twice the CPU per job and half the throughput of the same threads kept on one
    CPU (``benchmarks/bench_server.py``, 16 clients, on a 2-CPU machine). They never run Python
    on two CPUs at once anyway. A handler runs on every CPU the process may use (``unpinned``),
    so what it starts (a subprocess, a call that releases the GIL) is not held to one CPU.
    Linux only (``os.sched_setaffinity``); elsewhere, or with one CPU, nothing is pinned."""

    def __init__(self) -> None:
        get = getattr(os, "sched_getaffinity", None)
        self.everywhere: set[int] = set(get(0)) if get is not None else set()
        cpus = sorted(self.everywhere)
        # One server per CPU when several run: spread by process id.
        self.cpu: int | None = cpus[os.getpid() % len(cpus)] if len(cpus) > 1 else None

    def pin(self) -> None:
        """Keep the calling thread (and the threads it starts) on the server's CPU."""
        if self.cpu is not None:
            _set_affinity({self.cpu})

    def unpin(self) -> None:
        """Let the calling thread run on any CPU the process may use."""
        if self.cpu is not None:
            _set_affinity(self.everywhere)


def _set_affinity(cpus: set[int]) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError:  # a CPU taken away meanwhile: stay as we are (it only costs speed)
        pass


class HandlerWork:
    """Each attempt calls the handler with the job; an exception fails the attempt. With
    ``cpus``, the attempt runs unpinned from the server's CPU (:class:`OneCpu`)."""

    def __init__(self, handler: Handler, cpus: OneCpu | None = None) -> None:
        self.handler = handler
        self.cpus = cpus

    def prepare(self, job: Job) -> Attempt:
        return functools.partial(self._call, job)

    def _call(self, job: Job) -> Outcome:
        cpus = self.cpus
        if cpus is not None:
            cpus.unpin()
        try:
            self.handler(job)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt too: a failed attempt
            logger.warning("job %r attempt %d failed: %r", job.id, job.attempt, exc)
            return "failed"
        finally:
            if cpus is not None:
                cpus.pin()
        return "ok"


# ---------------------------------------------------------------------------------- simulated
@dataclass(frozen=True)
class Plan:
    """A simulated attempt, decided at dispatch: how long it takes, and how it ends."""

    service: float  # seconds of work
    fails: bool
    hangs: bool  # runs past any deadline


class SimulatedWork:
    """Sleeps and fails as the config says; ``abort`` (a forced stop) abandons every attempt."""

    def __init__(self, config: Config, abort: threading.Event) -> None:
        self.config = config
        self.abort = abort
        self._service_rng = random.Random(f"{config.seed}:server-service")
        self._failure_rng = random.Random(f"{config.seed}:server-failure")

    def prepare(self, job: Job) -> Attempt:
        return functools.partial(self._attempt, job, self.plan(job))

    def plan(self, job: Job) -> Plan:
        """How long the attempt takes, whether it fails and whether it hangs."""
        c = self.config
        payload = job.payload or {}
        service = _requested_seconds(payload.get("sleep_ms"))
        if service is None:
            service = c.service_time.sample(self._service_rng)
        fails = self._failure_rng.random() < c.failure_rate or payload.get("fail") is True
        hangs = c.hang_rate > 0 and self._failure_rng.random() < c.hang_rate
        return Plan(service, fails, hangs)

    def _attempt(self, job: Job, plan: Plan) -> Outcome:
        """Outside the lock: wait out the service time (or the deadline), then report."""
        remaining = (job.deadline or math.inf) - time.time()
        if plan.hangs or plan.service >= remaining:
            # The attempt would outlive its deadline: give up at the deadline, as a context
            # with a timeout would (the timeout loop may already have expired it: then stale).
            if self.abort.wait(max(0.0, remaining)):
                raise Released
            return "timeout"
        if plan.service > 0 and self.abort.wait(plan.service):
            raise Released
        return "failed" if plan.fails else "ok"


def _requested_seconds(sleep_ms: Any) -> float | None:
    """``payload.sleep_ms`` in seconds, or None when it is not a usable duration."""
    if not isinstance(sleep_ms, int | float) or isinstance(sleep_ms, bool):
        return None
    try:
        service = sleep_ms / 1000.0
    except OverflowError:  # an integer past float range: longer than any deadline
        return math.inf if sleep_ms > 0 else None
    return service if service >= 0 else None  # negative (or NaN): not a duration


__all__ = [
    "Attempt",
    "Handler",
    "HandlerWork",
    "OneCpu",
    "Outcome",
    "Plan",
    "Released",
    "SimulatedWork",
    "Work",
    "handler_name",
    "load_handler",
]
