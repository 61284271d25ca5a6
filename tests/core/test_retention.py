"""The retention window: finished jobs leave memory and snapshots once out of it, duplicates are
refused inside it, and recovery rebuilds exactly the same window whatever the history
(simqueue/core/retention.py)."""

from __future__ import annotations

import pytest
from conftest import crash, observe

from simqueue import DuplicateJobError, Job, UnknownJobError
from simqueue.core import snapshot as snap


def finish(q, clock, ids, fail_every: int = 0) -> None:
    """Enqueue ``ids`` and run each to its end (every ``fail_every``-th dies)."""
    q.enqueue_many([Job(i) for i in ids])
    for k, _ in enumerate(ids):
        job = q.dispatch(k % 3)
        if fail_every and k % fail_every == 0:
            q.fail(job.id, job.attempt)
        else:
            q.complete(job.id, job.attempt)
        clock.advance_by(0.1)


def test_a_count_window_keeps_the_newest_finished_jobs_and_counts_them_all(make_queue, clock):
    q = make_queue(retain_finished=5, max_retry=0)
    finish(q, clock, [f"j{i}" for i in range(20)], fail_every=4)
    assert sorted(j.id for j in q.jobs_info()) == [f"j{i}" for i in range(15, 20)]
    assert q.counts() == {"pending": 0, "in_flight": 0, "completed": 15, "dead": 5}
    with pytest.raises(UnknownJobError, match="forgotten: the queue remembers the newest 5 "):
        q.job("j0")


def test_an_id_is_a_duplicate_inside_the_window_and_new_outside_it(make_queue, clock):
    q = make_queue(retain_finished=3)
    finish(q, clock, [f"j{i}" for i in range(6)])
    with pytest.raises(DuplicateJobError):
        q.enqueue(Job("j5"))
    q.enqueue(Job("j0"))  # forgotten: a new job
    assert q.job("j0").state.value == "pending" and q.job("j0").attempt == 0


def test_a_time_window_retires_jobs_older_than_it_when_a_job_finishes(make_queue, clock):
    q = make_queue(retain_seconds=1.0)
    finish(q, clock, [f"j{i}" for i in range(30)])  # one finishes every 0.1 s
    kept = sorted(int(j.id[1:]) for j in q.jobs_info())
    assert kept == list(range(19, 30))  # finished within 1 s of the last one, j29


@pytest.mark.parametrize("window", [{"retain_finished": 7}, {"retain_seconds": 0.45}])
def test_recovery_rebuilds_the_same_window_and_replays_a_reused_id(
    make_queue, clock, data_dir, crash_kind, window
):
    """Live queue and recovery (snapshot + replay) retire the same jobs at the same points, so
    an id re-enqueued after it left the window replays as the new job it was."""
    q = make_queue(max_retry=0, **window)
    finish(q, clock, [f"a{i}" for i in range(25)], fail_every=5)
    q.snapshot()
    finish(q, clock, [f"b{i}" for i in range(12)])
    q.enqueue(Job("a1"))  # left the window long ago
    q.snapshot()
    finish(q, clock, [f"c{i}" for i in range(9)], fail_every=3)
    q.enqueue(Job("b0"))
    q.sync()
    expected = observe(q)
    crash(q, crash_kind)
    assert observe(make_queue(data_dir, **window)) == expected


@pytest.mark.parametrize("window", [{"retain_finished": 2}, {"retain_seconds": 0.25}])
def test_recovery_of_jobs_that_backed_off_then_left_the_window(
    make_queue, clock, data_dir, crash_kind, window
):
    """A job that failed, backed off, ran again and finished is replayed through the delayed
    heap (its RETRY) and then dispatched without it (its DISPATCH), leaving the heap an entry
    that is stale; once the window forgets the job, that entry names a job the table no longer
    has, and reading the pending order must skip it, not raise."""
    q = make_queue(max_retry=2, backoff=0.05, **window)
    q.enqueue_many([Job(f"r{i}") for i in range(4)])
    for _ in range(4):
        job = q.dispatch(0)
        q.fail(job.id, job.attempt)  # backs off 0.05 s
    clock.advance_by(0.1)
    for _ in range(4):
        job = q.dispatch(0)
        q.complete(job.id, job.attempt)
        clock.advance_by(0.1)
    finish(q, clock, [f"f{i}" for i in range(6)])  # r0..r3 leave the window
    q.enqueue(Job("late"))
    q.sync()
    expected = observe(q)
    crash(q, crash_kind)
    recovered = make_queue(data_dir, max_retry=2, backoff=0.05, **window)
    assert observe(recovered) == expected
    assert recovered.next_ready_at() is None
    assert recovered.pending_ids() == ["late"]
    assert recovered.dispatch(1).id == "late"


def test_snapshots_stop_listing_chunks_whose_jobs_left_the_window(make_queue, clock, data_dir):
    """After a long history recovery loads about the window, not the history."""
    q = make_queue(retain_finished=50, fsync="never")
    for round_ in range(40):
        finish(q, clock, [f"r{round_}-{i}" for i in range(100)])
        q.snapshot()
    state = snap.read_snapshot(q.fs, q.snap_dir, snap.list_snapshots(q.fs, q.snap_dir)[0][1])
    assert 50 <= len(state.finished) <= 200
    q.close()
    again = make_queue(data_dir, retain_finished=50)
    assert again.recovery.jobs_restored <= 200
    assert again.counts()["completed"] == 4000 and len(again.jobs_info()) == 50


def test_without_a_window_every_finished_job_is_kept(make_queue, clock, data_dir):
    q = make_queue()
    finish(q, clock, [f"j{i}" for i in range(30)])
    q.snapshot()
    q.close()
    assert len(make_queue(data_dir).jobs_info()) == 30


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"retain_finished": -1}, "retain_finished"),
        ({"retain_finished": 2.5}, "retain_finished"),
        ({"retain_seconds": -1.0}, "retain_seconds"),
        ({"retain_seconds": "1h"}, "retain_seconds"),
        ({"retain_seconds": float("nan")}, "retain_seconds"),
    ],
)
def test_a_bad_window_is_refused_naming_the_field(make_queue, data_dir, kwargs, field):
    with pytest.raises(ValueError, match=field):
        make_queue(**kwargs)
    assert not data_dir.exists()


def test_a_result_for_a_job_the_window_forgot_is_stale_not_an_error(make_queue, clock):
    """A worker that overran its deadline reports after the job's retry finished and the window
    forgot it: its result is stale, as for any attempt that is no longer current."""
    q = make_queue(retain_finished=1, max_retry=1, backoff=0.0, task_timeout=1.0)
    q.enqueue(Job("slow"))
    first = q.dispatch(0)
    clock.advance_by(2.0)
    assert q.expire() == ["slow"]  # attempt 1 timed out: retried at once
    retry = q.dispatch(1)
    q.complete(retry.id, retry.attempt)
    finish(q, clock, ["other"])  # "slow" leaves the window
    assert "slow" not in q
    stale = q.stale_results
    assert q.complete(first.id, first.attempt) is False
    assert q.fail(first.id, first.attempt) is None
    assert q.stale_results == stale + 2
    with pytest.raises(UnknownJobError):
        q.job("slow")  # reads still say it is unknown
