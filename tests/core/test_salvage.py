"""``DurableQueue.open(..., salvage=True)``: the explicit way past a hole in the last segment.

A power cut may persist a later unsynced sector of the WAL and lose an earlier one, leaving a
hole followed by valid records. Recovery refuses that by default (it cannot tell it from a
flipped bit in fsynced data); with ``salvage=True`` it cuts at the hole, says where and how much,
and (because everything from the hole on was never fsynced) loses nothing acknowledged. The
crash campaign counts these outcomes as "needs salvage" (tests/testing/test_crash_campaign.py).
"""

from __future__ import annotations

import inspect
import os
import random
from pathlib import Path

import pytest
from conftest import observe

from simqueue import CorruptWALError, DurableQueue, Job
from simqueue.core.storage import FileSystem
from simqueue.core.wal import SegmentScan, iter_records, verify

SECTOR = 512


def last_segment(d: Path) -> Path:
    return d / "wal" / sorted(os.listdir(d / "wal"))[-1]


def hole_after_a_group_commit(make_queue, d: Path) -> tuple[list[str], int, int]:
    """Five jobs acknowledged (fsynced), then twelve more handed to the OS only; then a power
    cut that kept the later unsynced sectors and lost one earlier one. Returns the acknowledged
    ids, the offset of the first record the hole damages, and the segment size."""
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    q = make_queue(d, fs=fs, fsync="batch", batch_size=1000, flush_interval=60.0)
    q.enqueue_many([Job(f"a{i}", payload={"i": i}) for i in range(5)])
    q.sync()
    acknowledged = [f"a{i}" for i in range(5)]
    synced = last_segment(d).stat().st_size
    q.enqueue_many([Job(f"b{i:02d}", payload={"pad": "p" * 200}) for i in range(12)])
    q.flush()
    q.abandon()
    seg = last_segment(d)
    data = bytearray(seg.read_bytes())
    start = (synced // SECTOR + 1) * SECTOR  # the first whole unsynced sector
    assert start + SECTOR < len(data)  # valid records follow the hole
    data[start : start + SECTOR] = bytes(SECTOR)
    seg.write_bytes(bytes(data))
    scan = SegmentScan(str(seg), bytes(data[:start]), None)  # the records wholly before it
    assert scan.check_header()
    for _ in scan.records():
        pass
    return acknowledged, scan.end, len(data)


def test_salvage_is_off_by_default() -> None:
    assert inspect.signature(DurableQueue.open).parameters["salvage"].default is False


def test_a_hole_with_valid_records_after_it_is_refused_without_salvage(make_queue, tmp_path):
    d = tmp_path / "q"
    hole_after_a_group_commit(make_queue, d)
    before = last_segment(d).read_bytes()
    with pytest.raises(CorruptWALError, match="valid record follows"):
        make_queue(d)
    assert last_segment(d).read_bytes() == before  # nothing cut or "repaired"
    assert verify(str(d)).status == "corrupt"


def test_salvage_cuts_at_the_hole_reports_it_and_loses_nothing_acknowledged(make_queue, tmp_path):
    d = tmp_path / "q"
    acknowledged, first_bad, size = hole_after_a_group_commit(make_queue, d)
    salvaged_segment = str(last_segment(d))
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    q = make_queue(d, fs=fs, salvage=True)
    r = q.recovery
    assert r.salvage_offset == first_bad
    assert r.salvaged_bytes == r.tail_bytes_discarded == size - first_bad
    assert r.torn_segment == salvaged_segment
    assert "SALVAGED" in r.describe() and f"byte offset {first_bad}" in r.describe()
    for job_id in acknowledged:
        assert job_id in q
    assert os.path.getsize(salvaged_segment) == first_bad  # really cut there
    recovered = observe(q)
    q.enqueue(Job("after"))
    # The cut was durable: a power cut now, and a plain open (no salvage) agrees.
    q.abandon()
    fs.power_loss(random.Random(1), "drop")
    q = make_queue(d)
    assert {k: v for k, v in observe(q).jobs.items() if k != "after"} == recovered.jobs
    assert q.recovery.salvage_offset is None
    q.close()
    assert verify(str(d)).status == "clean"


def test_salvage_never_cuts_a_segment_that_is_not_the_last(make_queue, tmp_path) -> None:
    d = tmp_path / "q"
    q = make_queue(d, segment_bytes=4096)
    for i in range(60):
        q.enqueue(Job(f"j{i}", payload={"pad": "p" * 40}))
    q.close()
    recs = list(iter_records(str(d)))
    first = sorted(os.listdir(d / "wal"))[0]
    victim = [r for r in recs if os.path.basename(r.path) == first][-2]
    seg = d / "wal" / first
    data = bytearray(seg.read_bytes())
    data[victim.offset + 20] ^= 0x01
    seg.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError, match="not the last"):
        make_queue(d, segment_bytes=4096, salvage=True)
    assert seg.read_bytes() == bytes(data)


def test_salvage_on_an_ordinary_torn_tail_is_just_recovery(make_queue, tmp_path) -> None:
    d = tmp_path / "q"
    q = make_queue(d)
    q.enqueue_many([Job(f"j{i}") for i in range(3)])
    q.close()
    with open(last_segment(d), "ab") as f:
        f.write(b"\x07torn")
    q = make_queue(d, salvage=True)
    assert q.recovery.tail_bytes_discarded == 5 and q.recovery.salvage_offset is None
    assert "SALVAGED" not in q.recovery.describe()
    assert len(q) == 3
