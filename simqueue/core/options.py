"""How a queue is opened: every option of :meth:`DurableQueue.open`, checked once, before
anything touches the disk. A :class:`QueueOptions` that exists is valid."""

from __future__ import annotations

from dataclasses import dataclass

from simqueue.core import checks
from simqueue.core.retention import Retention

#: When an operation's records reach the disk (see :mod:`simqueue.core.commit`).
FSYNC_POLICIES = ("always", "batch", "never")
#: ``real`` fsyncs; ``modeled`` records the fsyncs instead (simulations; a simulated power loss
#: honours them).
DURABILITY_MODES = ("real", "modeled")
DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
MIN_SEGMENT_BYTES = 4096


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """The options of one open queue, normalised (numbers are floats, ``salvage`` a bool).

    ``fsync``: ``"always"`` (every operation fsynced before it returns), ``"batch"`` (group
    commit: one fsync per ``batch_size`` records or ``flush_interval`` seconds, whichever comes
    first) or ``"never"`` (handed to the OS only). A job gets ``max_retry + 1`` attempts; the
    retry after attempt ``n`` waits ``backoff * 2 ** (n - 1)`` seconds; an attempt without a
    timeout of its own may run ``task_timeout`` seconds. ``salvage``: see
    :meth:`DurableQueue.open`. ``retain_finished`` (a count) and ``retain_seconds``: the
    retention window of finished jobs (:mod:`simqueue.core.retention`); ``None`` keeps them all."""

    fsync: str = "batch"
    max_retry: int = 3
    backoff: float = 0.0
    task_timeout: float = 3.0
    flush_interval: float = 0.010
    batch_size: int = 100
    segment_bytes: int = DEFAULT_SEGMENT_BYTES
    durability: str = "real"
    salvage: bool = False
    retain_finished: int | None = None
    retain_seconds: float | None = None

    def __post_init__(self) -> None:
        checks.choice("fsync", self.fsync, FSYNC_POLICIES)
        checks.choice("durability", self.durability, DURABILITY_MODES)
        checks.integer("max_retry", self.max_retry, lo=0)
        normalised = {
            "backoff": checks.number("backoff", self.backoff),
            "task_timeout": checks.number("task_timeout", self.task_timeout, positive=True),
            "flush_interval": checks.number("flush_interval", self.flush_interval),
            "salvage": bool(self.salvage),
        }
        checks.integer("batch_size", self.batch_size, lo=1)
        checks.integer("segment_bytes", self.segment_bytes, lo=MIN_SEGMENT_BYTES)
        if self.retain_finished is not None:
            checks.integer("retain_finished", self.retain_finished, lo=0)
        if self.retain_seconds is not None:
            normalised["retain_seconds"] = checks.number("retain_seconds", self.retain_seconds)
        for name, value in normalised.items():
            object.__setattr__(self, name, value)  # frozen: set once, here

    def retention(self) -> Retention | None:
        """A fresh retention window for a queue opened with these options (None: keep all)."""
        if self.retain_finished is None and self.retain_seconds is None:
            return None
        return Retention(self.retain_finished, self.retain_seconds)


__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "DURABILITY_MODES",
    "FSYNC_POLICIES",
    "MIN_SEGMENT_BYTES",
    "QueueOptions",
]
