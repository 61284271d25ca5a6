"""The packed trace (simqueue/sim/tracelog.py, columns in simqueue/sim/tracecolumns.py): what
goes in as tuples comes out as the same tuples, however it was packed; the C packer writes
exactly what the pure-Python one does; each integer column takes the fewest bytes its block's
range needs; and a packed block keeps no job id str alive."""

from __future__ import annotations

import importlib
import struct
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simqueue import Config, Exponential, Poisson, Simulation
from simqueue.sim import tracelog
from simqueue.sim.trace import KINDS, TraceTuple
from simqueue.sim.tracecolumns import (
    DETAIL_FLOAT,
    DETAIL_INT,
    DETAIL_OBJECT,
    NO_WORKER,
    Packed,
    unpacked,
)
from simqueue.sim.tracelog import BLOCK, CODES, Trace, pack_py

try:
    C_PACK: Any = importlib.import_module("simqueue.sim._tracepack").pack
except ImportError:  # no C compiler where this was installed
    C_PACK = None

I64 = (-(2**63), 2**63 - 1)


class Seconds(float):
    """A float subclass: not exactly a float, so a detail of it is an object detail."""


def _f64(bits: int) -> float:
    value: float = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
    return value


#: Floats whose bits a careless copy would lose: NaNs (quiet, negative, with a payload,
#: signalling), infinities, the zeros, subnormals, the extremes.
SPECIAL_FLOATS = [
    float("nan"), -float("nan"), _f64(0x7FF8_0000_0000_0123), _f64(0x7FF0_0000_0000_0001),
    float("inf"), -float("inf"), 0.0, -0.0, 5e-324, -5e-324, _f64(0x000F_FFFF_FFFF_FFFF),
    2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
]  # fmt: skip
floats = st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS))
int64 = st.integers(*I64)
optional_int = st.one_of(st.none(), int64, st.integers(-3, 300))
job_ids = st.one_of(
    st.none(),
    st.sampled_from(["job-1", "job-2", "", "é-ü", "\ud800", "job-\U0001f600"]),
    st.text(max_size=12),
    st.text(st.characters(exclude_categories=()), max_size=6),  # surrogates too
)
events = st.tuples(
    floats,
    st.sampled_from(KINDS),
    job_ids,
    optional_int,
    optional_int,
    optional_int,
    st.one_of(int64, st.integers(0, 1000)),
    st.one_of(
        st.none(),
        int64,
        st.integers(2**63, 2**70),  # an int past int64 is an object detail
        floats,
        st.builds(Seconds, floats),  # an object detail, as are str and bool
        st.text(),
        st.booleans(),
    ),
)

#: Tuples the layout cannot hold exactly: each keeps its block as tuples.
UNFIT: list[Any] = [
    (0, "ARRIVE", "job-1", 0, None, 1, 0, None),  # an int time
    (Seconds(0.0), "ARRIVE", "job-1", 0, None, 1, 0, None),  # a float subclass time
    (0.0, "NOT-A-KIND", "job-1", 0, None, 1, 0, None),
    (0.0, 2, "job-1", 0, None, 1, 0, None),  # a kind that is not a str
    (0.0, "DISPATCH", "job-1", 2**63, 0, 1, 0, None),  # attempt past int64
    (0.0, "DISPATCH", "job-1", 1, -(2**63) - 1, 1, 0, None),  # worker before int64
    (0.0, "DISPATCH", "job-1", 1, 0, 2**64, 0, None),  # seq past int64
    (0.0, "SYNC", None, None, None, 1, 2**63, None),  # durable_seq past int64
    (0.0, "SYNC", None, None, None, 1, None, None),  # durable_seq None
    (0.0, "DISPATCH", "job-1", True, 0, 1, 0, None),  # a bool is not an int here
    (0.0, "DISPATCH", "job-1", 1, 0, 1, False, None),
    (0.0, "DISPATCH", "job-1", 1.0, 0, 1, 0, None),  # a float attempt
    (0.0, "ARRIVE", 7, 0, None, 1, 0, None),  # a job id that is not a str
    (0.0, "ARRIVE", b"job-1", 0, None, 1, 0, None),
    (0.0, "ARRIVE", "job-1", 0, None, 1, 0),  # seven fields
    [0.0, "ARRIVE", "job-1", 0, None, 1, 0, None],  # a list, not a tuple
]


def exact(rows: list[Any]) -> list[tuple[Any, ...]]:
    """The rows with each exact float as its type and bits: NaN == NaN, 0.0 != -0.0."""
    return [
        tuple((float, struct.pack("<d", v)) if type(v) is float else (type(v), v) for v in row)
        for row in rows
    ]


def packed_both_ways(rows: list[Any]) -> Packed | None:
    """``rows`` packed by pack_py, after checking the C packer packs the same (when built)."""
    block = pack_py(rows, 0, len(rows), CODES)
    if C_PACK is not None:
        c_block = C_PACK(rows, 0, len(rows), CODES)
        if block is None:
            assert c_block is None
        else:
            assert c_block == tuple(block)  # the details dicts hold the same objects
            assert list(map(type, c_block)) == list(map(type, block))
            for c_field, field in zip(c_block, block, strict=True):
                if isinstance(field, tuple):  # a column: (base, width, data)
                    assert list(map(type, c_field)) == list(map(type, field)), field
    return block


@given(st.lists(events, max_size=40))
@settings(max_examples=300, deadline=None)
def test_packed_rows_unpack_to_the_tuples_that_went_in(rows: list[TraceTuple]) -> None:
    block = packed_both_ways(rows)
    assert block is not None
    assert exact(unpacked(block, 0, len(rows))) == exact(rows)
    for lo, hi in ((0, 1), (1, 3), (len(rows) // 2, len(rows))):
        assert exact(unpacked(block, lo, hi)) == exact(rows[lo:hi])


@pytest.mark.parametrize("row", UNFIT, ids=range(len(UNFIT)))
def test_a_tuple_that_does_not_fit_the_columns_leaves_its_block_unpacked(row: Any) -> None:
    rows = [(0.5, "ARRIVE", "job-0", 0, None, 0, 0, None), row]
    assert pack_py(rows, 0, 2, CODES) is None
    if C_PACK is not None:
        assert C_PACK(rows, 0, 2, CODES) is None


def _rows_with(field: int, values: list[int]) -> list[Any]:
    rows = []
    for i, value in enumerate(values):
        row: list[Any] = [i * 0.5, "DISPATCH", f"job-{i}", 1, 2, 10 + i, 10, None]
        row[field] = value
        rows.append(tuple(row))
    return rows


SPANS = [  # (least, greatest) value of a column, the width it takes
    ((0, 0), 1),
    ((0, 255), 1),
    ((0, 256), 2),
    ((-300, -45), 1),
    ((-1, 65534), 2),
    ((-1, 65535), 4),
    ((5, 2**32 + 4), 4),
    ((5, 2**32 + 5), 8),
    ((-(2**31), 2**31), 8),
    ((-(2**63), -(2**63) + 255), 1),
    ((2**63 - 65536, 2**63 - 1), 2),
    (I64, 8),
]
FIELDS = {"attempt": 3, "worker": 4, "seq": 5, "durable": 6, "detail": 7}


@pytest.mark.parametrize("name", FIELDS)
@pytest.mark.parametrize(("span", "width"), SPANS, ids=[str(s) for s, _ in SPANS])
def test_a_column_takes_the_fewest_bytes_its_range_needs(
    name: str, span: tuple[int, int], width: int
) -> None:
    least, greatest = span
    values = [greatest, least, least + (greatest - least) // 3, greatest]
    rows = _rows_with(FIELDS[name], values)
    block = packed_both_ways(rows)
    assert block is not None
    base, column_width, data = getattr(block, name)
    assert (base, column_width, len(data)) == (least, width, width * len(values))
    stored = struct.unpack(f"<{len(values)}{'BHIQ'[width.bit_length() - 1]}", data)
    assert [base + v for v in stored] == values
    assert unpacked(block, 0, len(rows)) == rows


def test_a_none_is_stored_as_zero_outside_the_range_under_its_flag() -> None:
    rows = [
        (0.0, "ARRIVE", "job-1", 0, None, 5_000_000, 5_000_000, None),
        (0.5, "RETRY", "job-1", 1, 3, 5_000_200, 5_000_000, 12.5),
        (0.5, "DISPATCH", "job-2", 1, 3, 5_000_201, 5_000_000, 2**32 + 1),
        (0.75, "STALE", "job-2", 1, 3, 5_000_202, 5_000_000, "lease expired"),
        (1.0, "RETRY", "job-2", 1, 3, 5_000_203, 5_000_000, -0.0),
    ]
    block = packed_both_ways(rows)
    assert block is not None
    assert block.worker == (3, 1, bytes(5))  # the None is not part of the range
    assert block.seq == (5_000_000, 1, bytes([0, 200, 201, 202, 203]))
    flags = [NO_WORKER, DETAIL_FLOAT, DETAIL_INT, DETAIL_OBJECT, DETAIL_FLOAT]
    assert list(block.flags) == flags
    assert block.detail == (2**32 + 1, 1, b"\x00")  # only the int details, in order
    assert block.fdetail == struct.pack("<2d", 12.5, -0.0)  # only the float ones, in order
    assert block.details == {3: "lease expired"}
    assert struct.unpack("<5d", block.time) == (0.0, 0.5, 0.5, 0.75, 1.0)
    assert list(block.kind) == [CODES[r[1]] for r in rows]


def test_float_details_are_a_column_of_their_bits_and_other_objects_stay_objects() -> None:
    others: list[Any] = [Seconds(1.5), True, 2**64, "1.5", None, 7]
    details = [*SPECIAL_FLOATS, *others]
    rows = [(i * 1.0, "RETRY", "job-1", 1, 0, i, 0, v) for i, v in enumerate(details)]
    block = packed_both_ways(rows)
    assert block is not None
    assert block.fdetail == struct.pack(f"<{len(SPECIAL_FLOATS)}d", *SPECIAL_FLOATS)
    n = len(SPECIAL_FLOATS)
    assert list(block.flags) == [DETAIL_FLOAT] * n + [DETAIL_OBJECT] * 4 + [0, DETAIL_INT]
    assert list(block.details) == [n, n + 1, n + 2, n + 3]
    assert all(block.details[n + k] is v for k, v in enumerate(others[:4]))
    back = unpacked(block, 0, len(rows))
    assert exact(back) == exact(rows)
    assert type(back[n][7]) is Seconds and back[n + 1][7] is True
    assert exact(unpacked(block, 3, n + 2)) == exact(rows[3 : n + 2])  # from the 4th float


def test_job_ids_are_a_table_of_the_distinct_ones_in_utf8_first_seen_first() -> None:
    ids = ["job-7", None, "", "é", "job-7", "\ud800x", "", None, "naïve-\U0001f600", "é"]
    rows = [(i * 1.0, "ARRIVE", job, 0, None, i, 0, None) for i, job in enumerate(ids)]
    block = packed_both_ways(rows)
    assert block is not None
    distinct = ["job-7", "", "é", "\ud800x", "naïve-\U0001f600"]
    assert block.ids == b"".join(s.encode("utf-8", "surrogatepass") for s in distinct)
    base, width, data = block.ends
    ends = [base + v for v in data]  # width 1: one byte each
    assert width == 1 and ends == [5, 5, 7, 11, 22]
    assert block.job == (0, 1, bytes([1, 0, 2, 3, 1, 4, 2, 0, 5, 3]))
    assert [r[2] for r in unpacked(block, 0, len(rows))] == ids
    assert [r[2] for r in unpacked(block, 5, 7)] == ids[5:7]


def test_equal_job_ids_in_distinct_str_objects_share_their_number() -> None:
    ids = ["".join(["job-", str(i % 3)]) for i in range(9)]  # nine objects, three ids
    assert len({id(s) for s in ids}) == 9
    rows = [(i * 1.0, "ARRIVE", job, 0, None, i, 0, None) for i, job in enumerate(ids)]
    block = packed_both_ways(rows)
    assert block is not None
    assert block.ids == b"job-0job-1job-2" and block.job == (1, 1, bytes([0, 1, 2] * 3))


def test_a_packed_block_keeps_no_reference_to_the_job_ids() -> None:
    job = "".join(["job-", "only-here"])
    reason = "".join(["a ", "reason"])
    rows = [(i * 1.0, "STALE", job, 1, 0, i, 0, reason) for i in range(50)]
    job_refs, reason_refs = sys.getrefcount(job), sys.getrefcount(reason)
    packers = [pack_py] + ([C_PACK] if C_PACK is not None else [])
    blocks = [packer(rows, 0, len(rows), CODES) for packer in packers]
    assert sys.getrefcount(job) == job_refs
    assert sys.getrefcount(reason) == reason_refs + 50 * len(blocks)  # each in each details
    assert all(block is not None for block in blocks)


def _filled(n: int, unfit_at: int | None = None) -> tuple[Trace, list[TraceTuple]]:
    trace, rows = Trace(), []
    for i in range(n):
        row: Any = (i * 0.001, KINDS[i % len(KINDS)], f"job-{i // 3}", i % 4, None, i, i // 2, None)
        if i == unfit_at:
            row = (i, *row[1:])  # an int time
        trace.append(row)
        rows.append(row)
        if i % 5000 == 0:
            trace.pack()
    trace.pack()
    return trace, rows


@pytest.mark.parametrize("unfit_at", [None, BLOCK + 7])
def test_a_trace_reads_like_the_list_of_its_events(unfit_at: int | None) -> None:
    n = 3 * BLOCK + 123
    trace, rows = _filled(n, unfit_at)
    assert trace._packed == 3 * BLOCK  # whole blocks only, newest left as tuples
    assert len(trace) == n
    assert list(trace) == rows
    assert trace == rows
    for i in (0, 1, BLOCK - 1, BLOCK, BLOCK + 7, 2 * BLOCK + 5, n - 1, -1, -n, 3, 2 * BLOCK):
        assert trace[i] == rows[i]
    for s in (
        slice(None),
        slice(5, 9),
        slice(BLOCK - 3, BLOCK + 3),
        slice(BLOCK, 2 * BLOCK),
        slice(-200, None),
        slice(3 * BLOCK - 1, None),
        slice(10, 2 * BLOCK, 997),
        slice(n + 5, n + 9),
        slice(-5, -n - 3, -7),
    ):
        assert trace[s] == rows[s], s
    assert trace.kind_counts() == Counter(r[1] for r in rows)
    with pytest.raises(IndexError, match=f"trace index {n} out of range"):
        trace[n]


def test_reading_events_one_by_one_decodes_each_block_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trace, rows = _filled(2 * BLOCK + 10)
    decoded: list[tuple[int, int]] = []

    def counting(block: Packed, lo: int, hi: int) -> list[TraceTuple]:
        decoded.append((lo, hi))
        return unpacked(block, lo, hi)

    monkeypatch.setattr(tracelog, "unpacked", counting)
    assert [trace[i] for i in range(0, 2 * BLOCK + 10, 7)] == rows[: 2 * BLOCK + 10 : 7]
    assert decoded == [(0, BLOCK), (0, BLOCK)]
    assert trace[BLOCK + 3 : BLOCK + 9] == rows[BLOCK + 3 : BLOCK + 9]  # from the block kept
    assert len(decoded) == 2
    assert trace.kind_counts() == Counter(r[1] for r in rows)  # from the kind columns
    assert len(decoded) == 2


def test_a_long_simulation_packs_its_trace_and_reads_the_same_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = Config(
        arrival=Poisson(400.0),
        workers=8,
        service_time=Exponential(1 / 60),
        task_timeout=0.05,
        hang_rate=0.05,
        snapshot_interval=5.0,
        seed=4,
    )

    def events(packer: Any) -> tuple[list[TraceTuple], list[Any]]:
        monkeypatch.setattr(tracelog, "pack", packer)
        with Simulation(cfg) as sim:
            sim.run_until(60.0)
            return list(sim.trace), list(sim.trace.blocks())

    packed, packed_blocks = events(tracelog.pack)
    unpacked_events, tuple_blocks = events(lambda *args: None)
    assert len(packed_blocks) >= 5 and all(isinstance(b, Packed) for b in packed_blocks[:-1])
    assert len(tuple_blocks) == len(packed_blocks)  # the blocks were cut, but kept as tuples
    assert packed == unpacked_events
    if C_PACK is not None:  # the C packer writes what pack_py does on a real run's events
        rows = unpacked_events[:BLOCK]
        assert C_PACK(rows, 0, BLOCK, CODES) == tuple(pack_py(rows, 0, BLOCK, CODES) or ())
