"""The acknowledgement log (simqueue/sim/acklog.py): what goes in comes back, tuple for tuple,
however its ids are kept; older ids are joined into one string a block and hold no reference to
the strings that went in."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simqueue.sim import acklog
from simqueue.sim.acklog import Acks


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acklog, "BLOCK", 4)


def _filled(ids: list[str]) -> tuple[Acks, list[tuple[str, float, float]]]:
    acks, rows = Acks(), []
    for i, job_id in enumerate(ids):
        row = (job_id, i * 0.5, i * 0.5 + 0.004 * (i % 7))
        acks.add(*row)
        rows.append(row)
    return acks, rows


def test_acknowledgements_read_back_as_the_tuples_added() -> None:
    acks, rows = _filled([f"job-{i}" for i in range(50)])
    assert list(acks) == rows
    assert len(acks) == 50
    assert acks[3] == rows[3] and acks[-1] == rows[-1]
    assert acks[10:20] == rows[10:20]
    assert acks.latencies() == [b - a for _, a, b in rows]


@given(
    ids=st.lists(st.text(max_size=6), max_size=30),
    index=st.integers(-40, 40),
    cut=st.slices(40),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_indexing_and_slicing_match_a_list_across_joined_blocks(
    ids: list[str], index: int, cut: slice, small_blocks: Any
) -> None:
    acks, rows = _filled(ids)
    assert list(acks) == rows
    assert acks[cut] == rows[cut]
    if -len(rows) <= index < len(rows):
        assert acks[index] == rows[index]
    else:
        with pytest.raises(IndexError, match="out of range"):
            acks[index]


def test_older_ids_are_joined_and_keep_no_reference_to_the_strings(small_blocks: Any) -> None:
    acks, rows = _filled([f"job-{i}" for i in range(10)])
    assert all(isinstance(block, str) for block in acks._blocks)
    assert len(acks._blocks) == 2 and len(acks._recent) == 2
    assert acks.job_ids() == [r[0] for r in rows]


def test_a_block_with_an_id_holding_a_nul_stays_a_list(small_blocks: Any) -> None:
    ids = ["a", "b\x00c", "", "d", "", "f", "g", "h"]
    acks, rows = _filled(ids)
    assert isinstance(acks._blocks[0], list) and isinstance(acks._blocks[1], str)
    assert list(acks) == rows


def test_a_bounded_log_keeps_at_least_its_newest_and_counts_every_one(small_blocks: Any) -> None:
    acks = Acks(keep=6)
    rows = _filled([f"job-{i}" for i in range(23)])[1]
    for row in rows:
        acks.add(*row)
    assert acks.total == 23
    assert 6 <= len(acks) < 6 + 2 * acklog.BLOCK
    assert list(acks) == rows[-len(acks) :]
    assert acks[0] == rows[23 - len(acks)]
