"""What the demo measures on the wall clock: the job counts it saw over time, the moments that
matter (enqueue, kill, ready again, all done) and the overall deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from simqueue.cli.demo.errors import DemoError

#: Finished jobs per second are counted over this window (seconds), within one server's life.
RATE_WINDOW = 0.25
#: A window shorter than this (just after a start) gives no rate point.
RATE_MIN_SPAN = 0.2


class Sample(NamedTuple):
    """One ``GET /status`` answer: when (seconds since the demo began), which server (``before``
    or ``after`` the kill) and the job counts."""

    time: float
    phase: str
    pending: int
    in_flight: int
    completed: int
    dead: int

    @property
    def finished(self) -> int:
        return self.completed + self.dead


@dataclass
class Marks:
    """Moments of the run, in seconds since the demo began (0 until they happen)."""

    enqueued: float = 0.0
    acked: float = 0.0
    killed: float = 0.0
    ready: float = 0.0
    done: float = 0.0


@dataclass
class Timeline:
    """The demo's clock, its samples and its marks."""

    t0: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    marks: Marks = field(default_factory=Marks)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def record(self, phase: str, status: dict[str, Any]) -> None:
        """Keep the counts of a ``/status`` answer."""
        c = status["counts"]
        self.samples.append(
            Sample(self.now(), phase, c["pending"], c["in_flight"], c["completed"], c["dead"])
        )

    def phase(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.phase == name]


class Deadline:
    """The ``--timeout`` of the whole demo: every wait checks it."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.at:
            raise DemoError(f"timed out while {what}")


def finished_rate(points: list[Sample]) -> list[tuple[float, float]]:
    """(time, finished jobs per second over the last :data:`RATE_WINDOW`) for one phase's
    samples; a window never spans the crash because each phase is rated on its own."""
    rates = []
    j = 0
    for b in points:
        while j + 1 < len(points) and b.time - points[j + 1].time >= RATE_WINDOW:
            j += 1
        a = points[j]
        dt = b.time - a.time
        if dt >= RATE_MIN_SPAN:
            rates.append((b.time, max(0.0, (b.finished - a.finished) / dt)))
    return rates


__all__ = ["Deadline", "Marks", "Sample", "Timeline", "finished_rate"]
