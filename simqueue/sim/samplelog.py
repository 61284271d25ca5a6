"""The periodic state samples of a run, kept in columns.

A run samples its state every ``metrics_interval`` simulated seconds (ten times a second by
default), however many jobs it runs: a sample kept as a tuple of nine numbers costs about 300
bytes with its number objects, which in a long run with the trace off is most of what memory
still grows by. So :class:`Samples` keeps the times in an ``array('d')`` and the eight counts of
each sample in one ``array('q')``, and a byte per sample saying whether the queue was down (its
counts then read None): 73 bytes a sample. Reading gives the tuples back.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

#: A periodic state sample: time, pending, in_flight, completed, dead, wal_bytes, durable_seq,
#: last_seq (None while the queue is down), and the clients waiting for it to come back.
Sample = tuple[
    float, int | None, int | None, int | None, int | None, int | None, int | None, int | None, int
]

_WIDTH = 8  # counts per sample: the seven queue counts and the waiting clients
_DOWN_COUNTS = (0,) * (_WIDTH - 1)


class Samples(Sequence[Sample]):
    """State samples, oldest first; :meth:`up` or :meth:`down` adds one."""

    __slots__ = ("_times", "_counts", "_down")

    def __init__(self) -> None:
        self._times = array("d")
        self._counts = array("q")
        self._down = bytearray()

    def up(self, t: float, counts: tuple[int, int, int, int, int, int, int]) -> None:
        """A sample of a serving queue: pending, in flight, completed, dead, WAL bytes, durable
        seq and last seq."""
        self._times.append(t)
        self._counts.extend(counts)
        self._counts.append(0)
        self._down.append(0)

    def down(self, t: float, waiting: int) -> None:
        """A sample while the queue is down: only the clients waiting for it."""
        self._times.append(t)
        self._counts.extend(_DOWN_COUNTS)
        self._counts.append(waiting)
        self._down.append(1)

    def _row(self, i: int) -> Sample:
        c = self._counts[i * _WIDTH : (i + 1) * _WIDTH]
        if self._down[i]:
            return (self._times[i], None, None, None, None, None, None, None, c[7])
        return (self._times[i], c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        n = len(self)
        if isinstance(index, slice):
            return [self._row(i) for i in range(*index.indices(n))]
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"sample {index} out of range ({n} samples)")
        return self._row(i)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self[:])

    def __sizeof__(self) -> int:  # what sys.getsizeof reports: the columns included
        return object.__sizeof__(self) + sum(
            c.__sizeof__() for c in (self._times, self._counts, self._down)
        )


__all__ = ["Sample", "Samples"]
