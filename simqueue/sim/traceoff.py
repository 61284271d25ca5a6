"""The trace of a run with the trace off (``Config(trace=False)``): every event counted by kind,
none kept for long.

A long run's memory grows with its trace, about a hundred bytes a job even packed
(:mod:`simqueue.sim.tracelog`). With the trace off the handlers still append every event (the
same list append, so the run is the same run, event for event), and each state sample
(:meth:`pack`, every ``metrics_interval``) counts the events since the last one by kind and lets
them go. What stays is a count a kind: with a retention window as well, memory stays flat
however many jobs the run makes (``python -m benchmarks.sim_memory --variant trace-off``).

``len`` counts every event of the run; slicing and iterating reach only the events since the
last sample, and an index before them (or a slice with a step reaching them) raises
:class:`IndexError` saying so.
:meth:`Simulation.step` still returns every event, as it reads each before the next sample.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from operator import itemgetter

from simqueue.sim.trace import TraceTuple
from simqueue.sim.tracelog import Block, Trace

_kind = itemgetter(1)


class TraceOff(Trace):
    """A trace that counts events by kind and keeps only those since the last sample."""

    __slots__ = ("_dropped", "_counts")

    def __init__(self) -> None:
        super().__init__()
        self._dropped = 0  # events counted and let go, the oldest of the run
        self._counts: Counter[str] = Counter()

    def pack(self) -> None:
        """Count the events since the last sample by kind, and let them go."""
        recent = self._recent
        if recent:
            self._counts.update(map(_kind, recent))
            self._dropped += len(recent)
            recent.clear()  # in place: ``append`` is bound to this list

    def __len__(self) -> int:
        return self._dropped + len(self._recent)

    def _event(self, i: int) -> TraceTuple:
        if i < self._dropped:
            raise IndexError(
                f"trace event {i} is gone: the trace is off (Config(trace=False)) and keeps "
                f"only the {len(self._recent)} events since the last state sample"
            )
        return self._recent[i - self._dropped]

    def _range(self, start: int, stop: int) -> list[TraceTuple]:
        """The events ``start`` to ``stop`` still kept (a slice reaches only those)."""
        dropped = self._dropped
        return self._recent[max(start - dropped, 0) : max(stop - dropped, 0)]

    def __iter__(self) -> Iterator[TraceTuple]:
        return iter(self._recent[:])

    def blocks(self) -> Iterator[Block]:
        """The events still kept, as one block of tuples."""
        if self._recent:
            yield self._recent[:]

    def kind_counts(self) -> Counter[str]:
        """How many events of each kind the run has made, let go or not."""
        return self._counts + Counter(map(_kind, self._recent))

    def __repr__(self) -> str:
        return f"<Trace (off) of {len(self)} events, {len(self._recent)} kept>"


__all__ = ["TraceOff"]
