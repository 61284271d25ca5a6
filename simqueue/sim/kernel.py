"""A discrete-event kernel: a heap of (time, insertion number, action, args).

Like SimPy's core, it does one thing: pop the earliest event, move the clock there, run it. Ties
break by insertion order, so a seed reproduces a run event for event. Events are plain callables,
which keeps the hot loop short; *daemon* events (periodic timers) do not count as outstanding
work when the simulation asks whether it is idle.

One recurring *source* (the arrival process) lives beside the heap: its next time is one number,
``source_time``, that its action sets again each time it runs. A job's arrival is then no heap
push and pop at all, only a comparison with the top of the heap; on equal times the source runs
first.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Any

from simqueue.core.clock import VirtualClock
from simqueue.core.errors import SimQueueError


class EmptySchedule(SimQueueError):
    """Nothing is left to happen."""


def _no_source() -> None:
    raise EmptySchedule("no source is set")


class Kernel:
    """Event heap driving a :class:`VirtualClock`."""

    __slots__ = ("clock", "_heap", "_counter", "_work", "source_time", "source")

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...], bool]] = []
        self._counter = itertools.count()
        self._work = 0
        #: When the source runs next (``inf``: not scheduled); its action sets it again.
        self.source_time = math.inf
        self.source: Callable[[], Any] = _no_source

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

    def set_source(self, time: float, action: Callable[[], Any]) -> None:
        """Run ``action()`` at ``time`` as the recurring source (replacing any earlier one)."""
        now = self.clock._now
        self.source = action
        self.source_time = time if time > now else now

    def peek(self) -> float:
        """Time of the next event, or ``inf``."""
        heap = self._heap
        if heap and heap[0][0] < self.source_time:
            return heap[0][0]
        return self.source_time

    def step(self) -> None:
        """Run the next event. Raises :class:`EmptySchedule` if there is none."""
        heap = self._heap
        source_time = self.source_time
        if heap and heap[0][0] < source_time:
            time, _, action, args, daemon = heapq.heappop(heap)
            if not daemon:
                self._work -= 1
            self.clock._now = time
            action(*args)
        elif source_time != math.inf:
            self.source_time = math.inf
            self.clock._now = source_time
            self.source()
        else:
            raise EmptySchedule("no events scheduled")

    @property
    def outstanding_work(self) -> int:
        """Scheduled events that are not periodic timers (the source counts)."""
        return self._work + (self.source_time != math.inf)

    def __len__(self) -> int:
        return len(self._heap) + (self.source_time != math.inf)

    def clear(self) -> None:
        """Forget every scheduled event (what a crash does to timers and running work)."""
        self._heap.clear()
        self._work = 0
        self.source_time = math.inf
