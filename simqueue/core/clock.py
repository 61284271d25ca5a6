"""Clocks. All engine time comes from an injected clock; this is the only engine module that
reads the machine's time.

- :class:`VirtualClock` is moved explicitly by the simulation kernel and refuses to go backwards,
  so a notebook can stop time, step one event and look around.
- :class:`WallClock` is the real time of day, used by the server so deadlines survive a restart.

>>> clock = VirtualClock()
>>> clock.advance_to(1.5); clock.now()
1.5
>>> clock.advance_to(1.0)
Traceback (most recent call last):
...
ValueError: VirtualClock cannot go backwards: now=1.5, asked for 1.0
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything with ``now() -> float`` seconds."""

    def now(self) -> float: ...


class VirtualClock:
    """Simulated time in seconds, advanced only by whoever owns it."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance_to(self, t: float) -> None:
        if t < self._now:
            raise ValueError(f"VirtualClock cannot go backwards: now={self._now}, asked for {t}")
        self._now = t

    def advance_by(self, dt: float) -> None:
        if dt < 0:
            raise ValueError(f"VirtualClock cannot go backwards: dt={dt}")
        self._now += dt

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now})"


class WallClock:
    """Seconds since the epoch, so persisted deadlines stay meaningful after a restart."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "WallClock()"


def stopwatch() -> float:
    """A monotonic reading for measuring real elapsed work (recovery time is measured, not
    simulated, even under a virtual clock)."""
    return time.perf_counter()
