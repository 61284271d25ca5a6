"""A snapshot's live jobs are exactly those at its ``last_seq``, although operations go on while
they are encoded slice by slice (simqueue/core/capture.py); and a snapshot does not hold the
queue's mutex while it writes its files."""

from __future__ import annotations

import threading

import pytest
from conftest import observe

from simqueue import Job
from simqueue.core import capture as capture_mod
from simqueue.core import snapshot as snap
from simqueue.core.jobs import IN_FLIGHT, PENDING


def live_jobs(q) -> list[tuple]:
    """(id, state, attempt, worker, ready_seq) of every live job, in snapshot order."""
    return [(r.id, r.state, r.attempt, r.worker, r.ready_seq) for r in q._live_records()]


def rows_of(records) -> list[tuple]:
    return [(r.id, r.state, r.attempt, r.worker, r.ready_seq) for r in records]


def every_kind_of_change(q, clock, rounds: list[int]):
    """Between slices: enqueue, dispatch, complete, fail (retry with backoff and dead), time
    out; each call does a little of each."""

    def change() -> None:
        k = rounds[0] = rounds[0] + 1
        q.enqueue(Job(f"late{k}"))
        for worker in range(3):
            job = q.dispatch(worker)
            if job is None:
                break
            if worker == 0:
                q.complete(job.id, job.attempt)
            elif worker == 1:
                q.fail(job.id, job.attempt)
        for job_id in q.in_flight_ids()[:2]:
            q.timeout_attempt(job_id, q.job(job_id).attempt)
        clock.advance_by(0.05)

    return change


@pytest.fixture
def busy_queue(make_queue, clock):
    """A queue with 60 pending jobs (some backing off) and 10 in flight."""
    q = make_queue(max_retry=2, backoff=0.2)
    q.enqueue_many([Job(f"j{i}") for i in range(80)])
    for i in range(20):
        job = q.dispatch(i % 4)
        if i % 2:
            q.fail(job.id, job.attempt)  # backs off: pending in the delayed heap
    return q


def test_snapshot_stores_the_live_jobs_as_they_were_at_its_seq(busy_queue, clock, monkeypatch):
    q = busy_queue
    before = live_jobs(q)
    assert {s for _, s, *_ in before} == {PENDING, IN_FLIGHT}
    last_seq = q.last_seq
    rounds = [0]
    encode = capture_mod.LiveCapture.encode
    change = every_kind_of_change(q, clock, rounds)

    def sliced(self, mutex, slice_rows=None, between=None):
        return encode(self, mutex, slice_rows=3, between=change)

    monkeypatch.setattr(capture_mod.LiveCapture, "encode", sliced)
    path = q.snapshot()
    assert rounds[0] >= 20  # changes really ran between slices
    state = snap.read_snapshot(q.fs, q.snap_dir, path)
    assert state.last_seq == last_seq
    assert rows_of(state.live) == before
    assert q.last_seq > last_seq and live_jobs(q) != before


def test_recovery_from_a_sliced_snapshot_equals_the_live_queue(
    busy_queue, make_queue, clock, monkeypatch, data_dir
):
    """Replaying the records after the snapshot onto it must give the live state: a snapshot
    that had caught a later change would make replay refuse a transition or diverge."""
    q = busy_queue
    encode = capture_mod.LiveCapture.encode
    change = every_kind_of_change(q, clock, [0])
    monkeypatch.setattr(
        capture_mod.LiveCapture,
        "encode",
        lambda self, mutex, slice_rows=None, between=None: encode(self, mutex, 2, change),
    )
    q.snapshot()
    change()
    q.snapshot()  # the second one prunes the WAL the first covers
    change()
    expected = observe(q)
    q.close()
    assert observe(make_queue(data_dir)) == expected


def test_operations_go_on_while_a_snapshot_writes_its_files(busy_queue, monkeypatch):
    """While the snapshot file is being written, another thread enqueues and dispatches."""
    q = busy_queue
    writing, resume = threading.Event(), threading.Event()
    write_snapshot = snap.write_snapshot

    def slow_write(*args, **kwargs):
        writing.set()
        assert resume.wait(10), "the other thread never got the mutex"
        return write_snapshot(*args, **kwargs)

    monkeypatch.setattr(snap, "write_snapshot", slow_write)
    done: list[int] = []

    def operate() -> None:
        writing.wait(10)
        done.append(q.enqueue(Job("during")))
        q.dispatch(7)
        resume.set()

    other = threading.Thread(target=operate)
    other.start()
    path = q.snapshot()
    other.join(10)
    assert done and snap.read_snapshot(q.fs, q.snap_dir, path).last_seq < done[0]
    assert "during" not in {r.id for r in snap.read_snapshot(q.fs, q.snap_dir, path).live}
