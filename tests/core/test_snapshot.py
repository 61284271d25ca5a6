"""Snapshots: framed and checksummed, written atomically, the previous one kept as a fallback,
the WAL pruned only behind a durable snapshot, and a crash at any step harmless."""

from __future__ import annotations

import os
import random
import shutil
import zlib
from pathlib import Path

import pytest
from conftest import copy_dir, crash, observe

from simqueue import CorruptSnapshotError, Job, VirtualClock
from simqueue.core import snapshot as snap
from simqueue.core.errors import SimulatedCrash
from simqueue.core.jobs import DEAD
from simqueue.core.wal import iter_records
from simqueue.testing.faults import FaultyFileSystem


def workload(q, clock, n: int = 30, start: int = 0) -> None:
    """Jobs in every state: completed, dead, in flight, pending (ready and backing off)."""
    doomed = f"doomed{start}"
    q.enqueue(Job(doomed))
    while q.state_of(doomed) is not DEAD:
        job = q.dispatch(9)
        if job is None:
            clock.advance_by(100.0)
            continue
        q.fail(job.id, job.attempt)
    q.enqueue_many(
        [
            Job(f"j{i}", payload={"i": i}, timeout=5.0 if i % 3 else None)
            for i in range(start, start + n)
        ]
    )
    for k in range(n):
        job = q.dispatch(k % 4)
        if job is None:
            break
        if k % 4 in (0, 3):
            q.complete(job.id, job.attempt)
        elif k % 4 == 1:
            q.fail(job.id, job.attempt)
        clock.advance_by(0.1)
        if k == n // 2:
            q.enqueue(Job(f"mid{start}"))


def snaps(d: Path) -> list[str]:
    return sorted(n for n in os.listdir(d / "snapshots") if n.endswith(".snap"))


def test_snapshot_file_has_schema_last_seq_and_checksum_in_header(make_queue, clock) -> None:
    q = make_queue()
    workload(q, clock)
    path = q.snapshot()
    data = Path(path).read_bytes()
    head, _, body = data.partition(b"\n")
    magic, schema, last_seq, size, crc, head_crc = head.decode().split(" ")
    assert (magic, int(schema), int(last_seq)) == ("SQSNAP", snap.SCHEMA_VERSION, q.last_seq)
    assert int(size) == len(body) and int(crc, 16) == zlib.crc32(body)
    assert int(head_crc, 16) == zlib.crc32(head.rpartition(b" ")[0])
    assert os.path.basename(path) == snap.snapshot_name(q.last_seq)
    assert not [n for n in os.listdir(q.snap_dir) if n.endswith(snap.TMP_SUFFIX)]


def test_snapshot_is_written_to_temp_then_fsynced_renamed_and_dir_fsynced(make_queue, clock):
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs)
    workload(q, clock)
    mark = len(fs.ops)
    path = q.snapshot()
    ops = fs.ops[mark:]
    tmp = path + snap.TMP_SUFFIX
    i = ops.index(("create", tmp))
    assert ops[i : i + 5] == [
        ("create", tmp),
        ("write", tmp),
        ("fsync", tmp),
        ("rename", path),
        ("fsync_dir", q.snap_dir),
    ]


def test_previous_snapshot_is_kept_and_older_ones_pruned(make_queue, clock) -> None:
    q = make_queue()
    names = []
    for r in range(4):
        workload(q, clock, n=10, start=100 * r)
        names.append(os.path.basename(q.snapshot()))
        assert snaps(Path(q.data_dir)) == names[-2:]


@pytest.mark.parametrize("where", ["body", "header", "truncated", "chunk"])
def test_unreadable_newest_snapshot_falls_back_to_previous_plus_wal(
    make_queue, clock, data_dir, where
) -> None:
    q = make_queue()
    workload(q, clock)
    q.snapshot()
    workload(q, clock, start=100)
    newest = Path(q.snapshot())
    workload(q, clock, n=5, start=200)
    q.close()
    expected = observe(make_queue(copy_dir(data_dir, data_dir.parent / "ref")))
    victims = [newest]
    if where == "chunk":  # the chunk and its copy
        chunk = data_dir / "snapshots" / snap.chunk_name(int(newest.name[5:25]))
        victims = [chunk, chunk.with_name(chunk.name + snap.COPY_SUFFIX)]
    for victim in victims:
        data = bytearray(victim.read_bytes())
        if where == "truncated":
            data = data[: len(data) // 2]
        else:
            data[5 if where == "header" else len(data) - 10] ^= 0x04
        victim.write_bytes(bytes(data))
    q = make_queue()
    assert observe(q) == expected
    assert q.recovery.snapshots_skipped and q.recovery.snapshot != str(newest)
    assert q.recovery.snapshot is not None  # the older snapshot, not a replay from scratch


def test_snapshot_of_a_newer_schema_is_an_error_not_a_fallback(make_queue, clock, data_dir):
    q = make_queue()
    workload(q, clock)
    q.snapshot()
    workload(q, clock, start=100)
    newest = Path(q.snapshot())
    q.close()
    head, _, body = newest.read_bytes().partition(b"\n")
    last_seq = int(head.split(b" ")[2])
    # Checksums still right: a newer simqueue wrote it.
    newest.write_bytes(snap._frame("SQSNAP", last_seq, body, schema=snap.SCHEMA_VERSION + 1))
    with pytest.raises(CorruptSnapshotError, match="schema"):
        make_queue()


def test_wal_segments_covered_by_previous_snapshot_are_deleted_after_new_one_is_durable(
    make_queue, clock
) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs, segment_bytes=4096)
    workload(q, clock, n=60)
    first = q.snapshot()
    first_seq = q.last_seq
    segs_before = sorted(os.listdir(q.wal_dir))
    workload(q, clock, n=60, start=100)
    mark = len(fs.ops)
    second = q.snapshot()
    ops = fs.ops[mark:]
    removed = [p for op, p in ops if op == "remove" and p.startswith(q.wal_dir)]
    assert removed, "segments wholly covered by the previous snapshot should go"
    durable_at = ops.index(("fsync_dir", q.snap_dir))
    assert ops.index(("rename", second)) < durable_at
    assert all(ops.index(("remove", p)) > durable_at for p in removed)
    kept = {int(n.split(".")[0]) for n in os.listdir(q.wal_dir)}
    for p in removed:
        assert os.path.basename(p) in segs_before
    # every record after the first snapshot is still in the WAL, so it can be a fallback
    seqs = [r.seq for r in iter_records(q.data_dir)]
    assert seqs[0] <= first_seq + 1 and min(kept) <= first_seq + 1
    assert os.path.exists(first)


def test_recovery_replays_only_records_after_the_snapshot(make_queue, clock) -> None:
    q = make_queue()
    workload(q, clock)
    q.snapshot()
    snap_seq = q.last_seq
    workload(q, clock, n=9, start=100)
    last = q.last_seq
    q.close()
    q = make_queue()
    assert q.recovery.snapshot_last_seq == snap_seq
    assert q.recovery.records_replayed == last - snap_seq
    assert q.recovery.records_skipped == snap_seq  # still in the WAL, read, not applied


def test_finished_jobs_survive_many_snapshots_and_tiered_chunk_merges(
    make_queue, clock, monkeypatch
) -> None:
    monkeypatch.setattr(snap, "MERGE_FANIN", 3)  # levels fill after 3, 9, 27 snapshots
    q = make_queue()
    rounds = 30
    for r in range(rounds):
        q.enqueue_many([Job(f"r{r}-{i}") for i in range(3)])
        for _ in range(3):
            job = q.dispatch(0)
            q.complete(job.id, job.attempt)
        q.snapshot()
        levels = [m["level"] for m in q._checkpoints.chunks]
        assert levels == sorted(levels, reverse=True)  # oldest, most merged first
        assert all(levels.count(k) < 3 for k in set(levels))  # a full run is always merged
    # 30 = 1*27 + 1*3 (base 3): one level-3 chunk, one level-1 chunk, no level-0 or level-2.
    assert [m["level"] for m in q._checkpoints.chunks] == [3, 1]
    expected = observe(q)
    q.close()
    q = make_queue()
    assert observe(q) == expected
    assert q.counts()["completed"] == 3 * rounds
    from simqueue import DuplicateJobError

    with pytest.raises(DuplicateJobError):
        q.enqueue(Job("r0-0"))


def _snapshot_scenario(make_queue, d: Path) -> tuple:
    """The same queue every time: its own clock, two previous snapshots, everything synced."""
    clk = VirtualClock(100.0)
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(d, fs=fs, clock_=clk, segment_bytes=4096, backoff=1.0, max_retry=1)
    workload(q, clk, n=40)
    q.snapshot()
    workload(q, clk, n=40, start=100)
    q.snapshot()  # two previous snapshots: the next one prunes a snapshot and WAL segments
    workload(q, clk, n=40, start=200)
    q.sync()
    return q, fs, clk


@pytest.mark.parametrize("tear", ["drop", "prefix"])
def test_crash_at_every_step_of_a_snapshot_loses_nothing(make_queue, tmp_path, tear) -> None:
    def reopen(d: Path, clk: VirtualClock):
        return make_queue(d, clock_=clk, segment_bytes=4096, backoff=1.0, max_retry=1)

    q, fs, clk = _snapshot_scenario(make_queue, tmp_path / "ref")
    before = observe(q)
    crash(q, "power-drop")
    expected = observe(reopen(tmp_path / "ref", clk))
    # Before the crash, in flight jobs become interrupted attempts; nothing else changes.
    for job_id, (state, attempt) in before.jobs.items():
        if job_id in before.in_flight:
            assert expected.jobs[job_id] in {("pending", attempt), ("dead", attempt)}
        else:
            assert expected.jobs[job_id] == (state, attempt)
    assert expected.pending[: len(before.pending)] == before.pending

    q, fs, clk = _snapshot_scenario(make_queue, tmp_path / "count")
    mark = len(fs.ops)
    q.snapshot()
    steps = fs.ops[mark:]
    assert {"create", "write", "fsync", "rename", "fsync_dir", "remove"} <= {o for o, _ in steps}
    removed = {os.path.dirname(p) for o, p in steps if o == "remove"}
    assert removed == {q.wal_dir, q.snap_dir}  # the oldest snapshot and covered segments go
    for n in range(len(steps)):
        d = tmp_path / f"n{n}"
        q, fs, clk = _snapshot_scenario(make_queue, d)
        assert observe(q) == before
        fs.crash_at(n)
        with pytest.raises(SimulatedCrash):
            q.snapshot()
        q.abandon()
        fs.power_loss(random.Random(n), tear)
        r = reopen(d, clk)
        assert observe(r) == expected, f"crash before {steps[n]} (step {n})"
        r.close()
        assert observe(reopen(d, clk)) == expected
        shutil.rmtree(d)


def test_job_states_and_fifo_survive_restore_from_snapshot_alone(make_queue, clock) -> None:
    q = make_queue(backoff=1.0, max_retry=1)
    workload(q, clock)
    before = observe(q)
    assert before.counts["dead"] and before.counts["completed"] and before.in_flight
    assert q.next_ready_at() is not None  # some pending jobs are still backing off
    q.snapshot()
    q.close()
    q = make_queue(backoff=1.0, max_retry=1)
    assert q.recovery.records_replayed == 0
    after = observe(q)
    assert after.pending[: len(before.pending)] == before.pending
    for job_id, (state, attempt) in before.jobs.items():
        if job_id in before.in_flight:
            assert after.jobs[job_id] in {("pending", attempt), ("dead", attempt)}
        else:
            assert after.jobs[job_id] == (state, attempt)


def test_fallback_snapshot_is_not_pruned_in_favour_of_an_unreadable_one(
    make_queue, clock, data_dir
) -> None:
    """After recovering past an unreadable newest snapshot, the next snapshot must keep a
    readable previous one (and the WAL after it), or one more bad snapshot loses everything."""
    q = make_queue()
    workload(q, clock, n=10)
    q.snapshot()
    workload(q, clock, n=10, start=100)
    bad = Path(q.snapshot())
    q.close()
    bad.write_bytes(bad.read_bytes()[:-3])
    q = make_queue()
    assert q.recovery.snapshots_skipped
    workload(q, clock, n=10, start=200)
    newest = Path(q.snapshot())
    workload(q, clock, n=5, start=300)
    q.close()
    expected = observe(make_queue(copy_dir(data_dir, data_dir.parent / "ref")))
    newest.write_bytes(newest.read_bytes()[:-3])
    q = make_queue()
    assert observe(q) == expected


@pytest.mark.parametrize("name", ["", ".", "../snap-x.snap", "/etc/passwd", 7, "done-1.jobs"])
def test_a_chunk_name_that_is_not_ours_never_becomes_a_path(tmp_path, name) -> None:
    """Regression (found by fuzzing): an empty chunk name made the reader open the directory
    itself and fail with IsADirectoryError instead of a CorruptSnapshotError."""
    from simqueue.core.storage import FileSystem

    with pytest.raises(CorruptSnapshotError, match="bad name"):
        snap.read_chunk_body(FileSystem(), str(tmp_path), {"name": name, "bytes": 0, "crc": 0})


def test_a_chunk_list_with_whole_file_checksums_still_reads(make_queue) -> None:
    """Snapshots written before chunk lists carried the body's CRC listed the whole file's."""
    import json

    q = make_queue()
    q.enqueue_many([Job(f"old-{i}") for i in range(4)])
    for _ in range(4):
        job = q.dispatch(0)
        q.complete(job.id, job.attempt)
    q.snapshot()
    expected = observe(q)
    snap_path = q._checkpoints.snapshots[-1][1]
    snap_dir = q.snap_dir
    q.close()
    with open(snap_path, "rb") as f:
        last_seq, body, _ = snap._unframe(snap_path, f.read(), "SQSNAP")
    nl = body.index(b"\n")
    doc = json.loads(body[:nl])
    for meta in doc["chunks"]:
        with open(os.path.join(snap_dir, meta["name"]), "rb") as f:
            meta["crc"] = zlib.crc32(f.read())  # the older listing
        meta.pop("level")
    body = json.dumps(doc, separators=(",", ":")).encode() + body[nl:]
    with open(snap_path, "wb") as f:
        f.write(snap._frame("SQSNAP", last_seq, body))
    q = make_queue()
    assert q.recovery.snapshot == snap_path
    assert observe(q) == expected
