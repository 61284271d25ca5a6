"""The packed trace (simqueue/sim/tracelog.py): what goes in as tuples comes out as the same
tuples, however it was packed, and the C packer writes exactly what the pure-Python one does."""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simqueue import Config, Exponential, Poisson, Simulation
from simqueue.sim import tracelog
from simqueue.sim.acklog import Acks
from simqueue.sim.trace import KINDS, TraceTuple
from simqueue.sim.tracelog import BLOCK, CODES, Trace, pack_py

try:
    C_PACK: Any = importlib.import_module("simqueue.sim._tracepack").pack
except ImportError:  # no C compiler where this was installed
    C_PACK = None

optional_int = st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1))
events = st.tuples(
    st.floats(allow_nan=False),
    st.sampled_from(KINDS),
    st.one_of(st.none(), st.text(max_size=12)),
    optional_int,
    optional_int,
    st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    st.integers(0, 2**63 - 1),
    st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False),
        st.text(),
        st.booleans(),
    ),
)

#: Tuples the layout cannot hold exactly: each keeps its block as tuples.
UNFIT: list[Any] = [
    (0, "ARRIVE", "job-1", 0, None, 1, 0, None),  # an int time
    (0.0, "NOT-A-KIND", "job-1", 0, None, 1, 0, None),
    (0.0, "DISPATCH", "job-1", 2**31, 0, 1, 0, None),  # attempt past int32
    (0.0, "DISPATCH", "job-1", 1, 0, 2**64, 0, None),  # seq past int64
    (0.0, "SYNC", None, None, None, 1, None, None),  # durable_seq None
    (0.0, "DISPATCH", "job-1", True, 0, 1, 0, None),  # a bool is not an int here
    (0.0, "ARRIVE", "job-1", 0, None, 1, 0),  # seven fields
]


@given(st.lists(events, min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_packed_rows_unpack_to_the_tuples_that_went_in(rows: list[TraceTuple]) -> None:
    block = pack_py(rows, 0, len(rows), CODES)
    assert block is not None
    assert tracelog._unpacked(block, 0, len(rows)) == rows
    if C_PACK is not None:
        assert C_PACK(rows, 0, len(rows), CODES) == block


@pytest.mark.parametrize("row", UNFIT, ids=range(len(UNFIT)))
def test_a_tuple_that_does_not_fit_the_rows_leaves_its_block_unpacked(row: Any) -> None:
    rows = [(0.5, "ARRIVE", "job-0", 0, None, 0, 0, None), row]
    assert pack_py(rows, 0, 2, CODES) is None
    if C_PACK is not None:
        assert C_PACK(rows, 0, 2, CODES) is None


def _filled(n: int, unfit_at: int | None = None) -> tuple[Trace, list[TraceTuple]]:
    trace, rows = Trace(), []
    for i in range(n):
        row: Any = (i * 0.001, KINDS[i % len(KINDS)], f"job-{i}", i % 4, None, i, i // 2, None)
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
    for i in (0, 1, BLOCK - 1, BLOCK, BLOCK + 7, 2 * BLOCK + 5, n - 1, -1, -n):
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
    ):
        assert trace[s] == rows[s], s
    assert trace.kind_counts() == Counter(r[1] for r in rows)
    with pytest.raises(IndexError, match=f"trace index {n} out of range"):
        trace[n]


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

    def events(packer: Any) -> tuple[list[TraceTuple], int]:
        monkeypatch.setattr(tracelog, "pack", packer)
        with Simulation(cfg) as sim:
            sim.run_until(60.0)
            return list(sim.trace), sim.trace._packed

    packed, n_packed = events(tracelog.pack)
    unpacked, none_packed = events(lambda *args: None)
    assert n_packed >= 4 * BLOCK
    assert none_packed == n_packed  # the blocks were cut, but kept as tuples
    assert packed == unpacked


def test_acknowledgements_read_back_as_the_tuples_added() -> None:
    acks, rows = Acks(), []
    for i in range(50):
        row = (f"job-{i}", i * 0.5, i * 0.5 + 0.004 * (i % 7))
        acks.add(*row)
        rows.append(row)
    assert list(acks) == rows
    assert len(acks) == 50
    assert acks[3] == rows[3] and acks[-1] == rows[-1]
    assert acks[10:20] == rows[10:20]
    assert acks.latencies() == [b - a for _, a, b in rows]
