"""Simulation and server configuration: one dataclass, defaults from the original plan.

The same fields drive :class:`~simqueue.sim.simulation.Simulation`, ``simqueue run`` and
``simqueue simulate``. Every value is checked on construction; a bad one raises ``ValueError``
naming the field, so a typo in a notebook or a config file fails at once, not halfway through.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simqueue.core.checks import choice, integer, number, probability
from simqueue.core.queue import DURABILITY_MODES, FSYNC_POLICIES
from simqueue.core.storage import TEAR_MODES
from simqueue.sim.disk import DEFAULT_DISK, DiskProfile, resolve_disk
from simqueue.sim.distributions import Constant, Exponential, Poisson, Uniform, parse_distribution

#: What a client does while the queue is down: wait and enqueue after recovery, or give up.
CLIENT_MODELS = ("retry", "reject")
#: ``process``: like ``kill -9``; ``power``: only what was fsynced survives.
CRASH_KINDS = ("process", "power")


#: A simulation's retention window when its config sets none: more finished jobs than any
#: notebook makes (so they keep every job), few enough that a run of millions of jobs keeps its
#: memory and its snapshots bounded (``python -m benchmarks.sim_memory``).
SIMULATION_RETAIN_FINISHED = 250_000


@dataclass
class Config:
    """Everything a run depends on. ``seed`` plus this reproduces a simulation event for event.

    Defaults follow the original plan: 8 workers, service time uniform on 0-0.5 s, 10% of
    attempts fail, a 3 s task timeout, 3 retries, a snapshot every 10 s, group commit every 10 ms.

    ``disk`` is the modeled disk (:mod:`simqueue.sim.disk`): a built-in profile's name, a path
    to a JSON profile (``simqueue calibrate``) or a :class:`DiskProfile`; every fsync costs a
    latency drawn from it, in virtual time. ``fsync_latency`` (seconds), when above 0, replaces
    it with a disk whose every fsync takes exactly that long (``disk="instant"``: no latency).
    ``clients``: what a client does while the queue is down, ``"retry"`` (it waits and enqueues
    once the queue is back: a backlog that drains) or ``"reject"`` (its enqueue fails and is
    counted). ``crash_at``: crash once at that virtual time (``crash_kind``, ``crash_tear``)
    and recover after the modeled downtime (docs/semantics.md, "Outages"). ``trace=False``: keep
    no history of events, only their counts (:mod:`simqueue.sim.traceoff`), and only the newest
    acknowledgements: with the retention window, memory stays flat however long the run.
    """

    workers: int = 8
    service_time: Uniform | Exponential | Constant = field(
        default_factory=lambda: Uniform(0.0, 0.5)
    )
    failure_rate: float = 0.1
    hang_rate: float = 0.0
    task_timeout: float = 3.0
    max_retry: int = 3
    backoff: float = 0.0
    arrival: Poisson | None = None
    snapshot_interval: float | None = 10.0
    fsync: str = "batch"
    flush_interval: float = 0.010
    batch_size: int = 100
    durability: str = "modeled"
    fsync_latency: float = 0.0
    disk: str | DiskProfile = DEFAULT_DISK
    clients: str = "retry"
    crash_at: float | None = None
    crash_kind: str = "process"
    crash_tear: str = "drop"
    seed: int = 0
    data_dir: str | None = None  # None: a temporary directory, removed by Simulation.close()
    restart_delay: float = 1.0
    metrics_interval: float = 0.1
    segment_bytes: int = 4 * 1024 * 1024
    #: The retention window of finished jobs (simqueue/core/retention.py); None: the default,
    #: :data:`SIMULATION_RETAIN_FINISHED` in a simulation, the server's own in ``simqueue run``.
    retain_finished: int | None = None
    #: Keep the trace of events (True) or only their counts (False).
    trace: bool = True
    #: The disk profile ``disk`` and ``fsync_latency`` name, resolved once.
    disk_model: DiskProfile = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.service_time = _field("service_time", self.service_time, parse_distribution)
        if self.arrival is not None:
            self.arrival = _field("arrival", self.arrival, parse_distribution)
            if not isinstance(self.arrival, Poisson):
                raise ValueError(f"arrival must be Poisson(rate) or None; got {self.arrival!r}")
        if isinstance(self.service_time, Poisson):
            raise ValueError("service_time must be Uniform, Exponential or Constant, not Poisson")
        integer("workers", self.workers, lo=1, hi=100_000)
        integer("max_retry", self.max_retry, lo=0)
        integer("batch_size", self.batch_size, lo=1)
        integer("seed", self.seed, lo=0)
        integer("segment_bytes", self.segment_bytes, lo=4096)
        if self.retain_finished is not None:
            integer("retain_finished", self.retain_finished, lo=0)
        if not isinstance(self.trace, bool):
            raise ValueError(f"trace must be true or false, got {self.trace!r}")
        probability("failure_rate", self.failure_rate)
        probability("hang_rate", self.hang_rate)
        number("task_timeout", self.task_timeout, positive=True)
        number("backoff", self.backoff)
        number("flush_interval", self.flush_interval)
        self._check_disk_and_crash()
        number("restart_delay", self.restart_delay)
        number("metrics_interval", self.metrics_interval, positive=True)
        if self.snapshot_interval is not None:
            number("snapshot_interval", self.snapshot_interval, positive=True)
        choice("fsync", self.fsync, FSYNC_POLICIES)
        choice("durability", self.durability, DURABILITY_MODES)
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            self.data_dir = str(self.data_dir)

    def _check_disk_and_crash(self) -> None:
        if number("fsync_latency", self.fsync_latency) > 0:
            self.disk_model = DiskProfile.constant(self.fsync_latency)
        else:
            self.disk_model = resolve_disk(self.disk)  # its errors name the field
        if isinstance(self.disk, os.PathLike):
            self.disk = os.fspath(self.disk)
        choice("clients", self.clients, CLIENT_MODELS)
        if self.crash_at is not None:
            number("crash_at", self.crash_at)
        choice("crash_kind", self.crash_kind, CRASH_KINDS)
        choice("crash_tear", self.crash_tear, TEAR_MODES)

    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def queue_options(self) -> dict[str, Any]:
        """The keyword arguments of :meth:`DurableQueue.open` this config decides: one list
        for the simulation and the server, which open the same queue on different clocks."""
        return {
            "fsync": self.fsync,
            "max_retry": self.max_retry,
            "backoff": self.backoff,
            "task_timeout": self.task_timeout,
            "flush_interval": self.flush_interval,
            "batch_size": self.batch_size,
            "segment_bytes": self.segment_bytes,
            "durability": self.durability,
            "retain_finished": self.retain_finished,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain values (distributions as their spec strings) for JSON, YAML and exports."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            v = getattr(self, f.name)
            if isinstance(v, DiskProfile):
                v = v.to_dict()
            out[f.name] = v.to_spec() if hasattr(v, "to_spec") else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> Config:
        """Build from plain values; an unknown key is an error naming it and ``source``."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"{source}: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(names))})"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"{source}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None


def _field(name: str, value: Any, parse: Callable[[Any], Any]) -> Any:
    """``parse(value)``, its error prefixed with the field's name."""
    try:
        return parse(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: {exc}") from None


__all__ = ["CLIENT_MODELS", "CRASH_KINDS", "Config", "TEAR_MODES"]
