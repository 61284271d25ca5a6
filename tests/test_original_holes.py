"""Regression tests, one per hole of the original implementation: each checks a promise of
``docs/semantics.md`` that the original broke."""

from __future__ import annotations

import os
import random

from conftest import crash, observe

from simqueue import Job, VirtualClock
from simqueue.core import snapshot as snap
from simqueue.core.errors import SimulatedCrash
from simqueue.core.jobs import COMPLETED, DEAD, IN_FLIGHT, PENDING
from simqueue.core.storage import FileSystem
from simqueue.core.wal import HEADER_SIZE, iter_records
from simqueue.testing.faults import FaultyFileSystem


def test_hole_enqueue_not_replayed_jobs_after_snapshot_survive_kill_9_with_payload(
    make_queue, crash_kind
) -> None:
    q = make_queue()
    q.enqueue(Job("before", payload={"n": 1}))
    q.snapshot()
    q.enqueue(Job("after", payload={"n": 2, "s": "é"}, timeout=4.0))
    enq = list(iter_records(q.data_dir))[-1]
    assert (enq.type_name, enq.payload, enq.extra) == ("ENQUEUE", b'{"n":2,"s":"\\u00e9"}', 4.0)
    crash(q, crash_kind, seed=2)
    q = make_queue()
    info = q.job("after")
    assert (info.state, info.payload, info.timeout) == (PENDING, {"n": 2, "s": "é"}, 4.0)
    assert q.job("before").payload == {"n": 1}
    assert q.recovery.records_replayed == 1


def test_hole_replayed_dispatch_left_job_pending_completed_job_ran_twice(make_queue) -> None:
    q = make_queue()
    q.enqueue_many([Job("a"), Job("b"), Job("c")])
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    q.dispatch(1)  # b in flight at the crash
    crash(q)
    q = make_queue()
    assert q.state_of("a") is COMPLETED
    assert q.pending_ids() == ["c", "b"]  # each once; a not at all
    handed_out = []
    while (job := q.dispatch(0)) is not None:
        handed_out.append(job.id)
        q.complete(job.id, job.attempt)
    assert handed_out == ["c", "b"]


def test_hole_seq_restarted_at_zero_on_open_and_rotation(make_queue) -> None:
    last = 0
    for round_ in range(3):
        q = make_queue(segment_bytes=4096)
        seq = q.enqueue(Job(f"r{round_}"))
        assert seq == last + 1  # continues, never back to 0 or 1
        for i in range(80):
            q.enqueue(Job(f"r{round_}-{i}", payload={"pad": "x" * 20}))
        path = q.snapshot()
        assert os.path.basename(path) == snap.snapshot_name(q.last_seq)
        assert snap.read_snapshot(q.fs, q.snap_dir, path).last_seq == q.last_seq
        last = q.last_seq
        q.close()
    names = sorted(os.listdir(os.path.join(q.data_dir, "wal")))
    recs = list(iter_records(q.data_dir))
    assert [r.seq for r in recs] == list(range(recs[0].seq, recs[-1].seq + 1))
    starts = {r.seq for r in recs if r.offset == HEADER_SIZE} | {last + 1}  # + the empty one
    assert {int(name.split(".")[0]) for name in names} <= starts


def test_hole_crash_between_snapshot_written_and_wal_rotated(make_queue) -> None:
    """The snapshot is durable, the covered WAL segments are not deleted yet: recovery must
    skip the records the snapshot already holds instead of applying them twice."""
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs, segment_bytes=4096)
    for r in range(2):
        q.enqueue_many([Job(f"r{r}-{i}", payload={"pad": "y" * 30}) for i in range(60)])
        for _ in range(30):
            job = q.dispatch(0)
            q.complete(job.id, job.attempt)
        if r == 0:
            q.snapshot()
    before = observe(q)
    fs.crash_at(0, op="remove")  # after the new snapshot is durable, before any pruning
    try:
        q.snapshot()
    except SimulatedCrash:
        pass
    else:  # pragma: no cover - the scenario must prune something
        raise AssertionError("snapshot pruned nothing; the scenario is wrong")
    crash(q, "power-drop")
    q = make_queue(fs=fs, segment_bytes=4096)
    assert observe(q) == before
    assert q.recovery.records_replayed == 0 and q.recovery.records_skipped > 0


def test_hole_attempt_counted_twice_and_recovery_requeue_burned_an_attempt(make_queue) -> None:
    q = make_queue(max_retry=1)
    q.enqueue(Job("a"))
    q.dispatch(0)
    q.fail("a", 1)
    assert q.job("a").attempt == 1  # once per dispatch, not again for the failure
    q.dispatch(0)
    assert q.job("a").attempt == 2
    crash(q)
    q = make_queue(max_retry=1)
    # attempt 2 of 2 was interrupted: logged, and it used up exactly that attempt
    assert (q.state_of("a"), q.job("a").attempt) == (DEAD, 2)
    q.enqueue(Job("b"))
    q.dispatch(0)
    crash(q)
    q = make_queue(max_retry=1)
    assert (q.state_of("b"), q.job("b").attempt) == (PENDING, 1)
    recs = [r for r in iter_records(q.data_dir) if r.job_id == "b"]
    assert [(r.type_name, r.attempt, r.reason_name) for r in recs] == [
        ("ENQUEUE", 0, ""),
        ("DISPATCH", 1, ""),
        ("RETRY", 1, "interrupted"),
    ]
    assert q.dispatch(0).attempt == 2  # the second and last attempt, not a third


def test_hole_timeout_to_dead_without_dead_record_resurrected_on_replay(
    make_queue, clock, crash_kind
) -> None:
    q = make_queue(max_retry=0, task_timeout=1.0)
    q.enqueue(Job("a"))
    q.dispatch(0)
    clock.advance_by(1.0)
    assert q.expire() == ["a"]
    last = list(iter_records(q.data_dir))[-1]
    assert (last.type_name, last.job_id, last.reason_name) == ("DEAD", "a", "timeout")
    crash(q, crash_kind, seed=4)
    q = make_queue(max_retry=0)
    assert q.state_of("a") is DEAD and q.dispatch(0) is None


def test_hole_results_from_timed_out_attempt_not_fenced(make_queue, clock) -> None:
    q = make_queue(task_timeout=1.0)
    q.enqueue(Job("a"))
    first = q.dispatch(0)
    clock.advance_by(1.0)
    q.expire()
    second = q.dispatch(1)
    assert q.complete("a", first.attempt) is False  # the first handler is fenced off
    assert q.state_of("a") is IN_FLIGHT and q.stale_results == 1
    crash(q)
    q = make_queue()
    third = q.dispatch(2)  # attempt 2 was interrupted by the crash
    assert q.complete("a", second.attempt) is False
    assert q.fail("a", first.attempt) is None
    assert q.complete("a", third.attempt) is True
    assert [r.type_name for r in iter_records(q.data_dir) if r.type_name == "ACK"] == ["ACK"]


def test_hole_snapshot_rename_without_directory_fsync(make_queue) -> None:
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    q = make_queue(fs=fs)
    q.enqueue_many([Job(f"j{i}") for i in range(5)])
    path = q.snapshot()
    report = fs.power_loss(random.Random(0), "drop")
    assert report.dir_ops_undone == []
    assert os.path.exists(path)
    q.abandon()
    q = make_queue(fs=fs)
    assert q.recovery.snapshot == path


def test_hole_fifo_order_lost_on_restore_from_snapshot(make_queue, clock) -> None:
    q = make_queue(backoff=5.0, max_retry=5)
    q.enqueue_many([Job(f"j{i}") for i in range(8)])
    for _ in range(3):
        job = q.dispatch(0)
        q.fail(job.id, job.attempt)
        clock.advance_by(1.0)
    q.enqueue_many([Job("x"), Job("y")])
    order = q.pending_ids()
    q.snapshot()
    q.close()
    q = make_queue(backoff=5.0, max_retry=5)
    assert q.recovery.records_replayed == 0  # the order came from the snapshot, not a replay
    assert q.pending_ids() == order
    clock.advance_by(60.0)
    assert [q.dispatch(0).id for _ in order] == order


def test_hole_recovery_time_measured_not_assumed(make_queue, tmp_path, monkeypatch) -> None:
    sizes = {}
    for n in (10, 20_000):
        d = tmp_path / f"n{n}"
        q = make_queue(d, fsync="never", clock_=VirtualClock())
        q.enqueue_ids(f"j{i}" for i in range(n))
        q.close()
        q = make_queue(d, clock_=VirtualClock())
        assert q.recovery.wall_seconds > 0
        sizes[n] = q.recovery.wall_seconds
        q.close()
    assert sizes[20_000] > sizes[10]
    # and it is whatever the stopwatch says, not a constant
    import simqueue.core.recovery as store

    ticks = iter([7.0, 7.25])
    monkeypatch.setattr(store, "stopwatch", lambda: next(ticks))
    q = make_queue(tmp_path / "n10", clock_=VirtualClock())
    assert q.recovery.wall_seconds == 0.25
