"""The acknowledgements of a run: (job id, arrived at, acknowledged at) of every acknowledged
enqueue, in the order they were acknowledged.

A tuple with two floats costs about a hundred bytes and a simulation acknowledges every job, so
the two times are kept in ``array('d')`` columns (8 bytes each) beside a list of the job ids (a
reference to the id the job's record holds anyway): about 24 bytes an acknowledgement. Reading
gives the tuples back.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import overload

Ack = tuple[str, float, float]


class Acks(Sequence[Ack]):
    """Acknowledged enqueues, oldest first; :meth:`add` one, index or iterate for tuples."""

    __slots__ = ("ids", "arrived", "acked")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived = array("d")
        self.acked = array("d")

    def add(self, job_id: str, arrived: float, acked: float) -> None:
        self.ids.append(job_id)
        self.arrived.append(arrived)
        self.acked.append(acked)

    def latencies(self) -> list[float]:
        """Each acknowledgement's time from its client's arrival, in order."""
        return [b - a for a, b in zip(self.arrived, self.acked, strict=True)]

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> Ack: ...

    @overload
    def __getitem__(self, index: slice) -> list[Ack]: ...

    def __getitem__(self, index: int | slice) -> Ack | list[Ack]:
        if isinstance(index, slice):
            return list(zip(self.ids[index], self.arrived[index], self.acked[index], strict=True))
        return self.ids[index], self.arrived[index], self.acked[index]

    def __iter__(self) -> Iterator[Ack]:
        return zip(self.ids[:], self.arrived[:], self.acked[:], strict=True)


__all__ = ["Ack", "Acks"]
