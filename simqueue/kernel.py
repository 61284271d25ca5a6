"""A discrete-event kernel: a heap of (time, insertion number, action, args).

Like SimPy's core, it does one thing: pop the earliest event, move the clock there, run it. Ties
break by insertion order, so a seed reproduces a run event for event. Events are plain callables,
which keeps the hot loop short; *daemon* events (periodic timers) do not count as outstanding
work when the simulation asks whether it is idle.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from .clock import VirtualClock
from .errors import SimQueueError


class EmptySchedule(SimQueueError):
    """Nothing is left to happen."""


class Kernel:
    """Event heap driving a :class:`VirtualClock`."""

    __slots__ = ("clock", "_heap", "_counter", "_work")

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[..., Any], tuple, bool]] = []
        self._counter = itertools.count()
        self._work = 0

    def schedule(self, time: float, action: Callable[..., Any], *args: Any) -> None:
        """Run ``action(*args)`` at simulated ``time`` (never earlier than now)."""
        now = self.clock._now
        heapq.heappush(
            self._heap, (time if time > now else now, next(self._counter), action, args, False)
        )
        self._work += 1

    def schedule_daemon(self, time: float, action: Callable[..., Any], *args: Any) -> None:
        """Like :meth:`schedule` for periodic timers, which do not count as outstanding work."""
        now = self.clock._now
        heapq.heappush(
            self._heap, (time if time > now else now, next(self._counter), action, args, True)
        )

    def peek(self) -> float:
        """Time of the next event, or ``inf``."""
        return self._heap[0][0] if self._heap else float("inf")

    def step(self) -> None:
        """Run the next event. Raises :class:`EmptySchedule` if there is none."""
        if not self._heap:
            raise EmptySchedule("no events scheduled")
        time, _, action, args, daemon = heapq.heappop(self._heap)
        if not daemon:
            self._work -= 1
        self.clock._now = time
        action(*args)

    @property
    def outstanding_work(self) -> int:
        """Scheduled events that are not periodic timers."""
        return self._work

    def __len__(self) -> int:
        return len(self._heap)

    def clear(self) -> None:
        """Forget every scheduled event (what a crash does to timers and running work)."""
        self._heap.clear()
        self._work = 0
