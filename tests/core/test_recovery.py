"""Recovery: opening a directory brings back exactly the durable state, ends interrupted
attempts in a logged way, and gives the same answer however often (or however badly) it runs."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from conftest import copy_dir, crash, observe

from simqueue import Job, VirtualClock
from simqueue.core.errors import SimulatedCrash
from simqueue.core.storage import FileSystem
from simqueue.core.wal import iter_records
from simqueue.testing.faults import FaultyFileSystem


def busy_queue(q, clock) -> None:
    q.enqueue_many([Job(f"j{i}", payload={"i": i}) for i in range(12)])
    for k in range(8):
        job = q.dispatch(k)
        if k % 3 == 0:
            q.complete(job.id, job.attempt)
        elif k % 3 == 1:
            q.fail(job.id, job.attempt)
        clock.advance_by(0.5)


def test_in_flight_jobs_become_interrupted_attempts_and_that_is_logged(
    make_queue, clock, crash_kind
) -> None:
    q = make_queue(max_retry=2)
    busy_queue(q, clock)
    in_flight = sorted(q.in_flight_ids())
    attempts = {i: q.job(i).attempt for i in in_flight}
    assert in_flight
    crash(q, crash_kind, seed=3)
    q = make_queue(max_retry=2)
    assert q.recovery.jobs_interrupted == len(in_flight)
    assert q.in_flight_ids() == []
    for job_id in in_flight:
        info = q.job(job_id)
        assert (info.state.value, info.attempt, info.reason) == (
            "pending",
            attempts[job_id],
            "interrupted",
        )
    logged = list(iter_records(q.data_dir))[-len(in_flight) :]
    assert sorted(r.job_id for r in logged) == in_flight
    assert {(r.type_name, r.reason_name) for r in logged} == {("RETRY", "interrupted")}
    assert all(r.attempt == attempts[r.job_id] for r in logged)
    assert q.durable_seq == q.last_seq  # the decision is durable before open returns


def test_interrupting_the_last_attempt_makes_the_job_dead(make_queue, clock) -> None:
    q = make_queue(max_retry=1)
    q.enqueue(Job("a"))
    q.dispatch(0)
    q.fail("a", 1)
    q.dispatch(0)  # attempt 2 of 2
    crash(q)
    q = make_queue(max_retry=1)
    info = q.job("a")
    assert (info.state.value, info.attempt, info.reason) == ("dead", 2, "interrupted")
    last = list(iter_records(q.data_dir))[-1]
    assert (last.type_name, last.reason_name, last.attempt) == ("DEAD", "interrupted", 2)


def test_interruption_waits_out_the_backoff(make_queue, clock) -> None:
    q = make_queue(backoff=4.0)
    q.enqueue(Job("a"))
    q.dispatch(0)
    crash(q)
    q = make_queue(backoff=4.0)
    assert q.job("a").ready_at == clock.now() + 4.0
    assert q.dispatch(0) is None


def test_recovering_twice_gives_the_same_state(make_queue, clock, crash_kind) -> None:
    q = make_queue(max_retry=2)
    busy_queue(q, clock)
    crash(q, crash_kind, seed=5)
    q = make_queue(max_retry=2)
    first = observe(q)
    seq = q.last_seq
    crash(q, crash_kind, seed=6)
    q = make_queue(max_retry=2)
    assert observe(q) == first
    assert q.recovery.jobs_interrupted == 0
    assert q.last_seq == seq  # the second recovery had nothing new to decide


@pytest.mark.parametrize("tear", [None, "drop", "prefix", "garble", "zero"])
def test_crash_at_any_step_of_recovery_then_recovering_again_gives_the_same_state(
    make_queue, tmp_path, tear
) -> None:
    """The first recovery is cut short before each of its disk operations in turn."""

    def scenario(d: Path) -> VirtualClock:
        clk = VirtualClock(50.0)
        q = make_queue(d, clock_=clk, max_retry=2, fsync="batch", batch_size=4)
        busy_queue(q, clk)
        q.flush()  # reached the OS, not all of it fsynced: the torn-tail path runs too
        crash(q, "process")
        with open(d / "wal" / sorted((d / "wal").iterdir())[-1].name, "ab") as f:
            f.write(b"\x00" * 10)  # and a zero tail to cut
        return clk

    template = tmp_path / "template"
    clk = scenario(template)
    ref = make_queue(copy_dir(template, tmp_path / "ref"), clock_=clk, max_retry=2)
    expected = observe(ref)
    assert ref.recovery.jobs_interrupted and ref.recovery.tail_bytes_discarded == 10
    counting = FaultyFileSystem(real_fsync=False)
    make_queue(copy_dir(template, tmp_path / "count"), fs=counting, clock_=clk, max_retry=2)
    steps = list(counting.ops)
    assert {"truncate", "create", "write", "fsync", "fsync_dir"} <= {op for op, _ in steps}
    for n in range(len(steps)):
        d = copy_dir(template, tmp_path / f"n{n}")
        fs = FaultyFileSystem(real_fsync=False)
        fs.crash_at(n)
        with pytest.raises(SimulatedCrash):
            make_queue(d, fs=fs, clock_=clk, max_retry=2)
        if tear is not None:
            fs.power_loss(random.Random(n), tear)
        q = make_queue(d, fs=fs, clock_=clk, max_retry=2)
        assert observe(q) == expected, f"crash before {steps[n]} (step {n})"
        q.close()
        shutil.rmtree(d)


def test_failed_open_releases_lock_and_files(make_queue, tmp_path, clock) -> None:
    d = tmp_path / "q"
    q = make_queue(d)
    q.enqueue(Job("a"))
    q.dispatch(0)
    crash(q)
    fs = FaultyFileSystem(real_fsync=False)
    fs.crash_at(0, op="write")  # the interrupt record
    with pytest.raises(SimulatedCrash):
        make_queue(d, fs=fs)
    q = make_queue(d, fs=fs)  # not locked by the failed attempt
    assert q.job("a").reason == "interrupted"


def test_replayed_state_equals_the_live_state_before_a_clean_close(make_queue, clock) -> None:
    q = make_queue(max_retry=2, backoff=1.5)
    busy_queue(q, clock)
    for job_id in list(q.in_flight_ids()):
        q.complete(job_id, q.job(job_id).attempt)
    live = observe(q)
    live_infos = {j.id: j for j in q.jobs_info()}
    q.close()
    q = make_queue(max_retry=2, backoff=1.5)
    assert observe(q) == live
    for info in q.jobs_info():
        assert info == live_infos[info.id]  # payloads, timestamps, ready times, reasons


def test_process_crash_keeps_what_reached_the_os_and_loses_the_buffer(make_queue) -> None:
    q = make_queue(fsync="batch", batch_size=1000, flush_interval=60.0)
    q.enqueue_many([Job(f"a{i}") for i in range(5)])
    q.flush()
    q.enqueue_many([Job(f"b{i}") for i in range(5)])  # still in the user-space buffer
    written = q.written_seq
    crash(q, "process")
    q = make_queue(fsync="batch")
    assert sorted(observe(q).jobs) == [f"a{i}" for i in range(5)]
    assert q.recovery.next_seq == written + 1


def test_recovered_records_are_made_durable_before_new_ones_follow(make_queue, data_dir) -> None:
    """After a kill -9, the records that reached the OS but were never fsynced are replayed;
    recovery must fsync them before starting a new segment, or a later power cut tears a
    segment that is no longer the last (which reads as corruption) and loses what the
    recovered queue already reported as durable."""
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    q = make_queue(fs=fs, fsync="never")
    q.enqueue_many([Job(f"a{i}") for i in range(5)])
    crash(q, "process")
    q = make_queue(fs=fs, fsync="always")
    assert len(q) == 5 and q.durable_seq == q.last_seq
    acknowledged = q.enqueue(Job("b"))
    assert q.is_acknowledged(acknowledged)
    crash(q, "power-drop")
    q = make_queue(fs=fs)
    assert sorted(observe(q).jobs) == ["a0", "a1", "a2", "a3", "a4", "b"]


def test_recovery_report_describes_what_happened(make_queue, clock) -> None:
    q = make_queue()
    assert q.recovery is None  # a fresh directory: nothing was recovered
    busy_queue(q, clock)
    q.snapshot()
    q.enqueue(Job("x"))
    crash(q)
    q = make_queue()
    r = q.recovery
    assert r.snapshot and r.records_replayed == 1 and r.jobs_interrupted >= 1
    assert r.wall_seconds > 0 and r.next_seq <= q.next_seq
    assert "replayed 1 WAL records" in r.describe()
    assert r.as_dict()["jobs_restored"] == len(q)
