"""The trace of a run: a sequence of event tuples, the newest kept as tuples, the older packed
into columns.

A trace tuple costs about 150 bytes (the tuple and the number objects it holds), and a job
makes about five events: at a million jobs the tuples alone would take most of a gigabyte. So
:class:`Trace` keeps only its newest events as tuples (appending one is a list append, what the
event handlers do several times a job) and, whenever :meth:`Trace.pack` is called between
events (the simulation's state sampler does, every ``metrics_interval``), packs every whole
block of :data:`BLOCK` events into columns (:mod:`simqueue.sim.tracecolumns` gives the layout):
the time as a float64, the kind and the flags saying which fields are None as a byte each, each
integer field as its difference from the block's least value in the fewest bytes (1, 2, 4 or
8) that hold the block's range, the job as a number into the block's table of distinct ids
(kept as UTF-8 bytes, not as the str objects, so the trace keeps no finished job's id alive),
the float details as float64s and the other details (a reason, a file name) in a dict. On the
reference model that is about 23 bytes an event, ids included. Reading gives the same tuples
back, equal field for field; a block with a tuple that does not fit the columns (a time that
is not a float, an integer out of int64, an unknown kind) stays tuples.

Packing runs in C when the accelerator ``simqueue/sim/_tracepack.c`` is built (as the WAL
codec's does: :mod:`simqueue.core.wal.accel`), otherwise in the pure-Python
:func:`~simqueue.sim.tracecolumns.pack_py`, which packs the same bytes
(``tests/sim/test_tracelog.py``). Reading is Python's (``array`` decodes a column at a time);
the trace keeps the block it decoded last, so reading events one by one decodes a block once.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import overload

from simqueue.core.wal.accel import ACCELERATED
from simqueue.sim.trace import TraceTuple
from simqueue.sim.tracecolumns import CODES, Packed, kind_counts, pack_py, unpacked

#: Events per packed block.
BLOCK = 16384

Block = Packed | list[TraceTuple]
Packer = Callable[[list[TraceTuple], int, int, dict[str, int]], Packed | None]


def _load_pack() -> Packer:
    if not ACCELERATED:  # the pure-Python switch, or no C accelerator built
        return pack_py
    try:
        c_pack = importlib.import_module("simqueue.sim._tracepack").pack
    except ImportError:
        return pack_py

    def pack_c(
        rows: list[TraceTuple], start: int, stop: int, codes: dict[str, int]
    ) -> Packed | None:
        fields = c_pack(rows, start, stop, codes)  # Packed's fields, as a plain tuple
        return None if fields is None else Packed._make(fields)

    return pack_c


#: What :meth:`Trace.pack` packs with: the C accelerator's ``pack`` (its tuple made a
#: :class:`~simqueue.sim.tracecolumns.Packed`) or :func:`~simqueue.sim.tracecolumns.pack_py`.
pack = _load_pack()


class Trace(Sequence[TraceTuple]):
    """Every event of a run, in order; ``append`` takes a tuple, indexing and slicing give
    tuples back."""

    __slots__ = ("append", "_recent", "_blocks", "_decoded")

    def __init__(self) -> None:
        self._recent: list[TraceTuple] = []
        #: Append one event tuple (the list's own method: the cheapest call there is).
        self.append = self._recent.append
        self._blocks: list[Block] = []  # each of BLOCK events
        #: The packed block read last, by its index, decoded (blocks never change once packed).
        self._decoded: tuple[int, list[TraceTuple]] = (-1, [])

    def pack(self) -> None:
        """Pack every whole block of the newest events (between events, never during one)."""
        recent = self._recent
        whole = len(recent) // BLOCK * BLOCK
        if not whole:
            return
        for start in range(0, whole, BLOCK):
            block = pack(recent, start, start + BLOCK, CODES)
            self._blocks.append(block if block is not None else recent[start : start + BLOCK])
        del recent[:whole]  # in place: ``append`` is bound to this list

    @property
    def _packed(self) -> int:
        """Events in whole blocks, the oldest ones."""
        return len(self._blocks) * BLOCK

    def __len__(self) -> int:
        return self._packed + len(self._recent)

    @overload
    def __getitem__(self, index: int) -> TraceTuple: ...

    @overload
    def __getitem__(self, index: slice) -> list[TraceTuple]: ...

    def __getitem__(self, index: int | slice) -> TraceTuple | list[TraceTuple]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[k] for k in range(start, stop, step)]
            return self._range(start, stop)
        n = len(self)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"trace index {index} out of range (the trace has {n} events)")
        return self._event(i)

    def _event(self, i: int) -> TraceTuple:
        """Event ``i`` (``0 <= i < len(self)``)."""
        if i >= self._packed:
            return self._recent[i - self._packed]
        b, k = divmod(i, BLOCK)
        block = self._blocks[b]
        return block[k] if isinstance(block, list) else self._decode(b, block)[k]

    def _decode(self, b: int, block: Packed) -> list[TraceTuple]:
        """Block ``b``, decoded: from the one kept, or decoded and kept instead."""
        if self._decoded[0] != b:
            self._decoded = (b, unpacked(block, 0, BLOCK))
        return self._decoded[1]

    def _range(self, start: int, stop: int) -> list[TraceTuple]:
        out: list[TraceTuple] = []
        packed = self._packed
        for b in range(start // BLOCK, min(stop, packed) // BLOCK + 1):
            lo, hi = max(start - b * BLOCK, 0), min(stop - b * BLOCK, BLOCK)
            if b >= len(self._blocks) or lo >= hi:
                continue
            block = self._blocks[b]
            if isinstance(block, list):
                out.extend(block[lo:hi])
            elif self._decoded[0] == b:
                out.extend(self._decoded[1][lo:hi])
            else:
                out.extend(unpacked(block, lo, hi))
        if stop > packed:
            out.extend(self._recent[max(start - packed, 0) : stop - packed])
        return out

    def __iter__(self) -> Iterator[TraceTuple]:
        for block in list(self._blocks):
            yield from block if isinstance(block, list) else unpacked(block, 0, BLOCK)
        yield from self._recent[:]

    def blocks(self) -> Iterator[Block]:
        """The events in blocks, the oldest first: each packed one a
        :class:`~simqueue.sim.tracecolumns.Packed` (a named tuple of fixed-width little-endian
        columns, one value an event: ``time`` float64, ``kind`` and ``flags`` a byte, the
        integer fields and the job number as ``(base, width, data)``, the job ids in a table of
        UTF-8; ``array`` or NumPy reads a column whole), the rest lists of tuples (the newest
        last)."""
        yield from list(self._blocks)
        if self._recent:
            yield self._recent[:]

    def kind_counts(self) -> Counter[str]:
        """How many events of each kind, from the packed blocks' kind columns (no row decoded)."""
        counts: Counter[str] = Counter()
        for block in self.blocks():
            if isinstance(block, list):
                counts.update(t[1] for t in block)
            else:
                counts.update(kind_counts(block))
        return counts

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Trace, list)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"<Trace of {len(self)} events, {self._packed} packed>"


__all__ = ["BLOCK", "CODES", "Trace", "pack", "pack_py"]
