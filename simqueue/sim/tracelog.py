"""The trace of a run: a sequence of event tuples, the newest kept as tuples, the older packed
into binary rows.

A trace tuple costs about 150 bytes (the tuple and the number objects it holds), and a job
makes about five events: at a million jobs the tuples alone would take most of a gigabyte. So
:class:`Trace` keeps only its newest events as tuples (appending one is a list append, what the
event handlers do several times a job) and, whenever :meth:`Trace.pack` is called between
events (the simulation's state sampler does, every ``metrics_interval``), packs every whole
block of :data:`BLOCK` events into rows of 42 bytes, plus an 8-byte reference to the job id
the job's record holds anyway. Reading gives the same tuples back, equal field for field.

Row layout (little-endian, :data:`ROW`): time f64, seq i64, durable_seq i64, an integer detail
i64 (the fencing token of a DISPATCH), attempt i32, worker i32, the kind's index in
:data:`~simqueue.sim.trace.KINDS` u8, and flags u8 saying which of attempt, worker and seq are
None and whether the detail is the integer, another object (kept in a dict by position in the
block: a RETRY's ready time, a reason, a file name) or None. A block with a tuple that does not
fit (a time that is not a float, an integer out of range, an unknown kind) stays tuples.

Packing runs in C when the accelerator ``simqueue/sim/_tracepack.c`` is built (as the WAL
codec's does: :mod:`simqueue.core.wal.accel`), otherwise in the pure-Python :func:`pack_py`,
which packs the same bytes (``tests/sim/test_tracelog.py``).
"""

from __future__ import annotations

import importlib
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, overload

from simqueue.core.wal.accel import ACCELERATED
from simqueue.sim.trace import KINDS, TraceTuple

#: Events per packed block.
BLOCK = 16384
ROW = struct.Struct("<dqqqiiBB")
NO_ATTEMPT, NO_WORKER, NO_SEQ, DETAIL_INT, DETAIL_OBJECT = 1, 2, 4, 8, 16
_KIND_OFFSET = 40
CODES = {kind: i for i, kind in enumerate(KINDS)}
_I32 = (-(2**31), 2**31 - 1)
_I64 = (-(2**63), 2**63 - 1)

#: A packed block: rows, the job id of each, and the details that are objects, by position.
Packed = tuple[bytes, list[str | None], dict[int, Any]]
Block = Packed | list[TraceTuple]


def _fits(value: Any, bounds: tuple[int, int]) -> bool:
    return type(value) is int and bounds[0] <= value <= bounds[1]


def pack_py(rows: list[TraceTuple], start: int, stop: int, codes: dict[str, int]) -> Packed | None:
    """``rows[start:stop]`` packed (see the module docstring), or None if one does not fit."""
    out = bytearray()
    jobs: list[str | None] = []
    details: dict[int, Any] = {}
    pack = ROW.pack
    for i in range(stop - start):
        row = rows[start + i]
        if type(row) is not tuple or len(row) != 8:
            return None
        t, kind, job, attempt, worker, seq, durable, detail = row
        code = codes.get(kind)
        if type(t) is not float or code is None or not _fits(durable, _I64):
            return None
        flags = 0
        if attempt is None:
            attempt, flags = 0, flags | NO_ATTEMPT
        if worker is None:
            worker, flags = 0, flags | NO_WORKER
        if seq is None:
            seq, flags = 0, flags | NO_SEQ
        if not (_fits(attempt, _I32) and _fits(worker, _I32) and _fits(seq, _I64)):
            return None
        number = 0
        if detail is not None:
            if _fits(detail, _I64):
                number, flags = detail, flags | DETAIL_INT
            else:
                details[i] = detail
                flags |= DETAIL_OBJECT
        out += pack(t, seq, durable, number, attempt, worker, code, flags)
        jobs.append(job)
    return bytes(out), jobs, details


def _load_pack() -> Any:
    if not ACCELERATED:  # the pure-Python switch, or no C accelerator built
        return pack_py
    try:
        return importlib.import_module("simqueue.sim._tracepack").pack
    except ImportError:
        return pack_py


#: What :meth:`Trace.pack` packs with: the C accelerator's ``pack`` or :func:`pack_py`.
pack = _load_pack()


def _unpacked(block: Packed, lo: int, hi: int) -> list[TraceTuple]:
    """Rows ``lo`` to ``hi`` of a packed block as tuples."""
    data, jobs, details = block
    out: list[TraceTuple] = []
    append = out.append
    for k, (t, seq, durable, number, attempt, worker, kind, flags) in enumerate(
        ROW.iter_unpack(data[lo * ROW.size : hi * ROW.size]), lo
    ):
        if flags & DETAIL_INT:
            detail: Any = number
        else:
            detail = details[k] if flags & DETAIL_OBJECT else None
        append(
            (
                t,
                KINDS[kind],
                jobs[k],
                None if flags & NO_ATTEMPT else attempt,
                None if flags & NO_WORKER else worker,
                None if flags & NO_SEQ else seq,
                durable,
                detail,
            )
        )
    return out


class Trace(Sequence[TraceTuple]):
    """Every event of a run, in order; ``append`` takes a tuple, indexing and slicing give
    tuples back."""

    __slots__ = ("append", "_recent", "_blocks")

    def __init__(self) -> None:
        self._recent: list[TraceTuple] = []
        #: Append one event tuple (the list's own method: the cheapest call there is).
        self.append = self._recent.append
        self._blocks: list[Block] = []  # each of BLOCK events

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
        if i >= self._packed:
            return self._recent[i - self._packed]
        b, k = divmod(i, BLOCK)
        block = self._blocks[b]
        return block[k] if isinstance(block, list) else _unpacked(block, k, k + 1)[0]

    def _range(self, start: int, stop: int) -> list[TraceTuple]:
        out: list[TraceTuple] = []
        packed = self._packed
        for b in range(start // BLOCK, min(stop, packed) // BLOCK + 1):
            lo, hi = max(start - b * BLOCK, 0), min(stop - b * BLOCK, BLOCK)
            if b >= len(self._blocks) or lo >= hi:
                continue
            block = self._blocks[b]
            out.extend(block[lo:hi] if isinstance(block, list) else _unpacked(block, lo, hi))
        if stop > packed:
            out.extend(self._recent[max(start - packed, 0) : stop - packed])
        return out

    def __iter__(self) -> Iterator[TraceTuple]:
        for block in list(self._blocks):
            yield from block if isinstance(block, list) else _unpacked(block, 0, BLOCK)
        yield from self._recent[:]

    def blocks(self) -> Iterator[Block]:
        """The events in blocks: packed ones as (rows, job ids, object details), the rest as
        lists of tuples (the newest last); for readers that take the rows whole (the lab's
        frames read them with NumPy)."""
        yield from list(self._blocks)
        if self._recent:
            yield self._recent[:]

    def kind_counts(self) -> Counter[str]:
        """How many events of each kind, without unpacking a row."""
        counts: Counter[str] = Counter()
        for block in self.blocks():
            if isinstance(block, list):
                counts.update(t[1] for t in block)
            else:
                codes = Counter(block[0][_KIND_OFFSET :: ROW.size])
                counts.update({KINDS[code]: n for code, n in codes.items()})
        return counts

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Trace, list)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list

    def __repr__(self) -> str:
        return f"<Trace of {len(self)} events, {self._packed} packed>"


__all__ = ["BLOCK", "CODES", "ROW", "Trace", "pack", "pack_py"]
