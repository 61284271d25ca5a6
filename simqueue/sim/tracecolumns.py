"""A block of trace events packed into columns, and back into tuples.

:class:`~simqueue.sim.tracelog.Trace` packs each block of its older events with :func:`pack_py`
(or the C accelerator ``simqueue/sim/_tracepack.c``, which returns the same fields holding the
same bytes) and reads them back with :func:`unpacked`. A block of ``n`` events is a
:class:`Packed`; every column is fixed-width little-endian, so ``array`` or NumPy reads it whole:

===========  ==============================================================================
``time``     f64 per event: the event's time, bit for bit.
``kind``     u8 per event: the kind's index in :data:`~simqueue.sim.trace.KINDS`.
``flags``    u8 per event: ``NO_ATTEMPT`` 1, ``NO_WORKER`` 2, ``NO_SEQ`` 4 (that field is
             None), ``DETAIL_INT`` 8 (the detail is in the ``detail`` column), ``DETAIL_OBJECT``
             16 (in ``details``), ``DETAIL_FLOAT`` 32 (in ``fdetail``); none of the three
             detail flags: the detail is None.
``attempt``  a column (below), one value per event; a None is stored as 0 under its flag.
``worker``   the same.
``seq``      the same: the WAL sequence number.
``durable``  the same: ``durable_seq``, never None.
``detail``   a column with one value per event flagged ``DETAIL_INT`` (a DISPATCH's fencing
             token), in the events' order.
``fdetail``  f64 per event flagged ``DETAIL_FLOAT`` (its detail is a ``float``, exactly that
             type: a RETRY's ready time), in the events' order, bit for bit (NaN, -0.0 too).
``job``      a column, one value per event: 0 for no job, ``k`` for the ``k``-th id of the table.
``ids``      the block's distinct job ids in the order first seen, the UTF-8 of each
             (``surrogatepass``: any str) one after another.
``ends``     a column: where each id ends in ``ids`` (the first starts at 0).
``details``  a dict from an event's position in the block to its detail when that is neither
             None nor an int64 nor a float (a reason, a file name, a bool, a larger int).
===========  ==============================================================================

A column is ``(base, width, data)``: each value is ``base`` (the least value the column holds)
plus an unsigned integer of ``width`` bytes, 1, 2, 4 or 8, the fewest that hold the column's
range; a column holding no value is ``(0, 1, b"")``, or zeros. Every integer is an int64 (the
difference of two is at most ``2**64 - 1``, so 8 bytes always do).

A block with a tuple that does not fit exactly (a time that is not a float, an integer field
outside int64 or not an int, a bool where an integer belongs, a kind not in the codes, a job id
that is neither a str nor None, a tuple not of 8 fields) is not packed: ``pack`` returns None.
The block keeps the ids as bytes, not the str objects: a job the queue has forgotten keeps no
str alive through the trace; reading makes new, equal str objects.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from itertools import accumulate
from types import NoneType
from typing import Any, NamedTuple, cast

from simqueue.sim.trace import KINDS, TraceTuple

NO_ATTEMPT, NO_WORKER, NO_SEQ, DETAIL_INT, DETAIL_OBJECT, DETAIL_FLOAT = 1, 2, 4, 8, 16, 32
#: The code of each kind in the ``kind`` column: its index in KINDS.
CODES = {kind: i for i, kind in enumerate(KINDS)}
_I64 = (-(2**63), 2**63 - 1)
#: The array typecode of the unsigned integers of each width (the C sizes vary by platform).
_UNSIGNED = {w: next(c for c in "BHILQ" if array(c).itemsize == w) for w in (1, 2, 4, 8)}
_SWAP = sys.byteorder == "big"  # the columns are little-endian

#: (base, width, data): see the module docstring.
Column = tuple[int, int, bytes]


class Packed(NamedTuple):
    """A block of events in columns (the module docstring gives the layout): the bytes fields
    ``time`` and ``fdetail`` hold f64s, ``kind`` and ``flags`` a byte an event, ``ids`` the
    UTF-8 of the job ids; each :data:`Column` holds integers; ``details`` the other objects."""

    time: bytes
    kind: bytes
    flags: bytes
    attempt: Column
    worker: Column
    seq: Column
    durable: Column
    detail: Column
    fdetail: bytes
    job: Column
    ids: bytes
    ends: Column
    details: dict[int, Any]


def _width(span: int) -> int:
    """The fewest bytes of 1, 2, 4 and 8 that hold ``0..span``."""
    return 1 if span < 1 << 8 else 2 if span < 1 << 16 else 4 if span < 1 << 32 else 8


def _column(values: Sequence[Any], optional: bool = False) -> Column | None:
    """The values as a column, or None if one is not an int64 (nor None, when ``optional``: a
    None is stored as 0 and is not part of the range). A bool is not an int here."""
    types = set(map(type, values))
    present = values
    if optional and NoneType in types:
        types.discard(NoneType)
        present = [v for v in values if v is not None]
    if not types <= {int}:
        return None
    if not present:
        return 0, 1, bytes(len(values))
    base, top = min(present), max(present)
    if base < _I64[0] or top > _I64[1]:
        return None
    if present is not values:
        values = [0 if v is None else v - base for v in values]
    elif base:
        values = [v - base for v in values]
    data = array(_UNSIGNED[_width(top - base)], values)
    if _SWAP:
        data.byteswap()
    return base, data.itemsize, data.tobytes()


def _known(values: Sequence[int]) -> Column:
    """A column of values known to be int64s (numbers the packer made, details it checked)."""
    column = _column(values)
    assert column is not None
    return column


def _kind_codes(kinds: Sequence[Any], codes: dict[str, int]) -> bytes | None:
    """The code of each kind, or None if one is not a str with a code of 0 to 255."""
    if not set(map(type, kinds)) <= {str}:
        return None
    found: list[Any] = list(map(codes.get, kinds))
    if not set(map(type, found)) <= {int} or (found and not 0 <= min(found) <= max(found) < 256):
        return None
    return bytes(found)


def _job_numbers(jobs: Sequence[str | None]) -> tuple[Column, bytes, Column]:
    """Each job's number in the block's table of ids (0: None), the table's UTF-8 and ends."""
    table = dict.fromkeys(jobs)
    table.pop(None, None)
    number: dict[str | None, int] = {job: k for k, job in enumerate(table, 1)}
    number[None] = 0
    ids = [job for job in table if job is not None]
    blob = "".join(ids).encode("utf-8", "surrogatepass")
    sizes = list(map(len, ids))
    if len(blob) != sum(sizes):  # not all ASCII: an id's size in bytes is not its length
        sizes = [len(job.encode("utf-8", "surrogatepass")) for job in ids]
    return _known([number[job] for job in jobs]), blob, _known([*accumulate(sizes)])


def _f64s(values: Sequence[float]) -> bytes:
    """Floats as f64 little-endian, bit for bit."""
    data = array("d", values)
    if _SWAP:
        data.byteswap()
    return data.tobytes()


def pack_py(rows: list[TraceTuple], start: int, stop: int, codes: dict[str, int]) -> Packed | None:
    """``rows[start:stop]`` packed (see the module docstring), or None if one does not fit.

    It checks and builds a column at a time (``zip(*rows)`` turns the rows into columns), which
    costs a fraction of a loop over the events in Python."""
    block = rows[start:stop]
    if not set(map(type, block)) <= {tuple} or not set(map(len, block)) <= {8}:
        return None
    columns = [*zip(*block, strict=True)] or [()] * 8
    times, kinds, jobs, attempts, workers, seqs, durables, details = columns
    kind = _kind_codes(kinds, codes)
    attempt, worker, seq = (_column(c, optional=True) for c in (attempts, workers, seqs))
    durable = _column(durables)
    if kind is None or attempt is None or worker is None or seq is None or durable is None:
        return None
    if not set(map(type, times)) <= {float} or not set(map(type, jobs)) <= {str, NoneType}:
        return None
    lo, hi = _I64
    detail_kinds = [
        0 if v is None else DETAIL_FLOAT if type(v) is float
        else DETAIL_INT if type(v) is int and lo <= v <= hi else DETAIL_OBJECT
        for v in details
    ]  # fmt: skip
    flags = [
        (a is None) * NO_ATTEMPT | (w is None) * NO_WORKER | (s is None) * NO_SEQ | d
        for a, w, s, d in zip(attempts, workers, seqs, detail_kinds, strict=True)
    ]
    numbers = [v for v, d in zip(details, detail_kinds, strict=True) if d == DETAIL_INT]
    floats = [v for v, d in zip(details, detail_kinds, strict=True) if d == DETAIL_FLOAT]
    objects = {i: v for i, v in enumerate(details) if detail_kinds[i] == DETAIL_OBJECT}
    job, ids, ends = _job_numbers(jobs)
    return Packed(
        _f64s(times), kind, bytes(flags), attempt, worker, seq, durable, _known(numbers),
        _f64s(floats), job, ids, ends, objects,
    )  # fmt: skip


#: For each flags byte: 1 where it has the flag, else 0 (a ``bytes.translate`` table).
_MARKS = {flag: bytes(f & flag and 1 for f in range(256)) for flag in (1, 2, 4, 8, 16, 32)}
#: For each flag, the flags bytes that have it (for ``bytes.translate`` to delete).
_HAVING = {flag: bytes(f for f in range(256) if f & flag) for flag in (DETAIL_INT, DETAIL_FLOAT)}


def _stored(column: Column, lo: int, hi: int) -> array[int]:
    """The unsigned integers stored for values ``lo`` to ``hi`` of a column."""
    _, width, data = column
    values = array(_UNSIGNED[width], data[lo * width : hi * width])
    if _SWAP:
        values.byteswap()
    return values


def _ints(column: Column, lo: int, hi: int) -> list[int]:
    """Values ``lo`` to ``hi`` of a column."""
    base = column[0]
    values = _stored(column, lo, hi)
    return values.tolist() if base == 0 else [v + base for v in values]


def _optional(column: Column, lo: int, hi: int, flags: bytes, flag: int) -> list[int | None]:
    """Values ``lo`` to ``hi`` of a column, None where ``flags`` (theirs) has ``flag``."""
    marks = flags.translate(_MARKS[flag])
    if 1 not in marks:
        return cast(list[int | None], _ints(column, lo, hi))
    base = column[0]
    return [None if m else v + base for v, m in zip(_stored(column, lo, hi), marks, strict=True)]


def _floats(data: bytes, lo: int, hi: int) -> list[float]:
    """F64s ``lo`` to ``hi`` of ``data``."""
    values = array("d", data[lo * 8 : hi * 8])
    if _SWAP:
        values.byteswap()
    return values.tolist()


def _before(block: Packed, lo: int, flag: int) -> int:
    """How many events before ``lo`` have ``flag``: where the values of the events from ``lo``
    start in that flag's column (deleting those events' bytes is the fastest count in C)."""
    return lo - len(block.flags[:lo].translate(None, _HAVING[flag]))


def _details(block: Packed, lo: int, hi: int, flags: bytes) -> list[Any]:
    """Events ``lo`` to ``hi``'s details (``flags`` theirs): from the int column, the float
    column and the dict, each read only where the flags say it holds one."""
    out: list[Any] = [None] * (hi - lo)
    ints, floats = flags.translate(_MARKS[DETAIL_INT]), flags.translate(_MARKS[DETAIL_FLOAT])
    if 1 in ints:
        first = _before(block, lo, DETAIL_INT)
        numbers = iter(_ints(block.detail, first, first + ints.count(1)))
        out = [next(numbers) if m else None for m in ints]
    if 1 in floats:  # few (RETRYs): only their places are visited, each found in C
        first = _before(block, lo, DETAIL_FLOAT)
        k, place = -1, floats.index
        for value in _floats(block.fdetail, first, first + floats.count(1)):
            k = place(1, k + 1)
            out[k] = value
    objects = block.details
    if len(objects) <= hi - lo:
        for k, value in objects.items():
            if lo <= k < hi:
                out[k - lo] = value
    else:
        for k in range(lo, hi):
            if flags[k - lo] & DETAIL_OBJECT:
                out[k - lo] = objects[k]
    return out


def _table(block: Packed, first: int, last: int) -> list[str]:
    """The job ids numbered ``first`` to ``last`` (the first id of the table is 1)."""
    ends = _ints(block.ends, max(first - 2, 0), last)  # with the end before ``first``, if any
    starts = ends[:-1] if first > 1 else [0, *ends[:-1]]
    ends = ends[1:] if first > 1 else ends
    blob = block.ids[: ends[-1]]
    text = blob.decode("utf-8", "surrogatepass")
    if len(text) == len(blob):  # all ASCII: the byte offsets are character offsets
        return [text[s:e] for s, e in zip(starts, ends, strict=True)]
    return [blob[s:e].decode("utf-8", "surrogatepass") for s, e in zip(starts, ends, strict=True)]


def _ids(block: Packed, numbers: list[int]) -> list[str | None]:
    """The job id of each number of ``numbers`` (0: None), decoding only the part of the table
    from the least number to the greatest (the events of a stretch name ids near each other)."""
    named = set(numbers) - {0}
    if not named:
        return [None] * len(numbers)
    first = min(named)
    table: list[str | None] = [None] * first
    table += _table(block, first, max(named))
    return [table[k] for k in numbers]


def unpacked(block: Packed, lo: int, hi: int) -> list[TraceTuple]:
    """Events ``lo`` to ``hi`` of a packed block as tuples, equal to those that went in
    (``0 <= lo``; a ``hi`` past the block's end is its end, as in a slice)."""
    hi = max(lo, min(hi, len(block.kind)))
    flags = block.flags[lo:hi]
    return list(
        zip(
            _floats(block.time, lo, hi),
            [KINDS[code] for code in block.kind[lo:hi]],
            _ids(block, _ints(block.job, lo, hi)),
            _optional(block.attempt, lo, hi, flags, NO_ATTEMPT),
            _optional(block.worker, lo, hi, flags, NO_WORKER),
            _optional(block.seq, lo, hi, flags, NO_SEQ),
            _ints(block.durable, lo, hi),
            _details(block, lo, hi, flags),
            strict=True,
        )
    )


def kind_counts(block: Packed) -> dict[str, int]:
    """How many events of each kind the block holds, from its kind column alone."""
    counts = {KINDS[code]: block.kind.count(code) for code in range(len(KINDS))}
    return {kind: n for kind, n in counts.items() if n}


__all__ = ["CODES", "Column", "Packed", "kind_counts", "pack_py", "unpacked"]
