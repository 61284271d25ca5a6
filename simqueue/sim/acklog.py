"""The acknowledgements of a run: (job id, arrived at, acknowledged at) of every acknowledged
enqueue, in the order they were acknowledged.

A simulation acknowledges every job, so what one acknowledgement costs is what a long run's
memory grows by. A tuple with two floats costs about a hundred bytes, and a reference to the
job's id would keep the id's string (about 58 bytes) alive after the retention window has let
the job go. So the two times are kept in ``array('d')`` columns (8 bytes each), the newest
:data:`BLOCK` ids as a list of strings (adding one is a list append) and every older block of
ids as one string, the ids joined by NUL: about 11 bytes an id of the simulation's ``job-<n>``
form. A block with an id that holds a NUL itself stays a list. Reading gives the tuples back.

With the trace off (``Config(trace=False)``) a run keeps only its newest acknowledgements, at
least ``keep`` of them (the retention window's count): older blocks go, and indexing starts at
the oldest kept; :attr:`Acks.total` still counts every one.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

Ack = tuple[str, float, float]

#: Ids per joined block.
BLOCK = 16384
_SEP = "\x00"


class Acks(Sequence[Ack]):
    """Acknowledged enqueues, oldest first; :meth:`add` one, index or iterate for tuples."""

    __slots__ = ("_recent", "_blocks", "_split", "arrived", "acked", "_keep", "_dropped")

    def __init__(self, keep: int | None = None) -> None:
        self._keep = keep  # None: every acknowledgement; else at least this many of the newest
        self._dropped = 0  # acknowledgements let go (the oldest)
        self._recent: list[str] = []  # the newest ids, fewer than BLOCK
        self._blocks: list[str | list[str]] = []  # BLOCK ids each, joined or (with a NUL) not
        self._split: tuple[int, list[str]] = (-1, [])  # the last block read, split
        self.arrived = array("d")
        self.acked = array("d")

    def add(self, job_id: str, arrived: float, acked: float) -> None:
        recent = self._recent
        recent.append(job_id)
        if len(recent) == BLOCK:
            self._join()
        self.arrived.append(arrived)
        self.acked.append(acked)

    def _join(self) -> None:
        """The newest block of ids into one string (unless an id holds the separator)."""
        recent = self._recent
        joined = _SEP.join(recent)
        self._blocks.append(joined if joined.count(_SEP) == len(recent) - 1 else recent[:])
        recent.clear()
        if self._keep is not None and (len(self._blocks) - 1) * BLOCK >= self._keep:
            del self._blocks[0]  # the oldest block: the rest still hold ``keep``
            del self.arrived[:BLOCK]
            del self.acked[:BLOCK]
            self._dropped += BLOCK
            self._split = (-1, [])

    @property
    def total(self) -> int:
        """Every acknowledgement of the run, those let go included."""
        return self._dropped + len(self)

    def _block(self, b: int) -> list[str]:
        """Block ``b``'s ids as a list (the last one split is kept for the next read)."""
        block = self._blocks[b]
        if isinstance(block, list):
            return block
        if self._split[0] != b:
            self._split = (b, block.split(_SEP))
        return self._split[1]

    def job_ids(self, start: int = 0, stop: int | None = None) -> list[str]:
        """The ids of acknowledgements ``start`` to ``stop``, in order."""
        n = len(self)
        stop = n if stop is None else min(stop, n)
        out: list[str] = []
        joined = len(self._blocks) * BLOCK
        for b in range(start // BLOCK, min(stop, joined) // BLOCK + 1):
            lo, hi = max(start - b * BLOCK, 0), min(stop - b * BLOCK, BLOCK)
            if b < len(self._blocks) and lo < hi:
                out.extend(self._block(b)[lo:hi])
        if stop > joined:
            out.extend(self._recent[max(start - joined, 0) : stop - joined])
        return out

    def latencies(self) -> list[float]:
        """Each acknowledgement's time from its client's arrival, in order."""
        return [b - a for a, b in zip(self.arrived, self.acked, strict=True)]

    def __len__(self) -> int:
        return len(self.arrived)

    @overload
    def __getitem__(self, index: int) -> Ack: ...

    @overload
    def __getitem__(self, index: slice) -> list[Ack]: ...

    def __getitem__(self, index: int | slice) -> Ack | list[Ack]:
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            ids = self.job_ids(start, stop) if start < stop else []
            return list(zip(ids, self.arrived[start:stop], self.acked[start:stop], strict=True))
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"acknowledgement {index} out of range ({n} acknowledged)")
        return self.job_ids(i, i + 1)[0], self.arrived[i], self.acked[i]

    def __iter__(self) -> Iterator[Ack]:
        return iter(self[:])

    def __sizeof__(self) -> int:  # what sys.getsizeof reports: the ids and columns included
        ids = self._recent.__sizeof__() + sum(b.__sizeof__() for b in self._blocks)
        return object.__sizeof__(self) + ids + self.arrived.__sizeof__() + self.acked.__sizeof__()


__all__ = ["BLOCK", "Ack", "Acks"]
