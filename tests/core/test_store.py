"""DurableQueue's surface: opening options, closing, reading views, leftovers from crashes."""

from __future__ import annotations

import os

import pytest
from conftest import observe

from simqueue import DuplicateJobError, DurableQueue, Job, JobState, QueueStoppedError
from simqueue.core import snapshot as snap


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fsync": "sometimes"},
        {"durability": "maybe"},
        {"max_retry": -1},
        {"max_retry": True},
        {"backoff": -1.0},
        {"task_timeout": 0},
        {"flush_interval": float("nan")},
        {"batch_size": 0},
        {"segment_bytes": 1024},
    ],
)
def test_bad_options_are_refused_before_touching_the_disk(tmp_path, kwargs) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        DurableQueue.open(tmp_path / "q", **kwargs)
    assert not (tmp_path / "q").exists()


def test_closed_queue_refuses_work_and_close_is_idempotent(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    q.close()
    q.close()
    assert q.stopped
    with pytest.raises(QueueStoppedError, match="closed"):
        q.enqueue(Job("b"))
    with pytest.raises(QueueStoppedError):
        q.dispatch(0)
    assert q.state_of("a") is JobState.PENDING  # reading still works


def test_context_manager_closes_and_syncs(make_queue, data_dir, clock) -> None:
    with DurableQueue.open(data_dir, fsync="never", clock=clock, durability="modeled") as q:
        q.enqueue(Job("a"))
    assert q.stopped
    q = make_queue()
    assert "a" in q


def test_enqueue_ids_fast_path_validates_and_refuses_duplicates(make_queue) -> None:
    q = make_queue()
    q.enqueue_ids(["a", "b"])
    with pytest.raises(DuplicateJobError):
        q.enqueue_ids(["c", "a"])
    with pytest.raises(ValueError):
        q.enqueue_ids([""])
    assert sorted(observe(q).jobs) == ["a", "b"]
    assert q.job("a").payload is None and q.job("a").timeout is None


def test_views_agree_with_each_other(make_queue, clock) -> None:
    q = make_queue(max_retry=0)
    q.enqueue_many([Job(f"j{i}") for i in range(6)])
    q.complete("j0", q.dispatch(0).attempt)
    q.fail("j1", q.dispatch(0).attempt)
    q.dispatch(0)
    c = q.counts()
    assert c == {"pending": 3, "in_flight": 1, "completed": 1, "dead": 1}
    assert len(q) == sum(c.values()) == len(q.jobs_info())
    assert q.in_flight_ids() == ["j2"] and q.pending_ids() == ["j3", "j4", "j5"]
    assert {j.id for j in q.iter_jobs()} == {f"j{i}" for i in range(6)}
    info = q.job("j2").as_dict()
    assert info["state"] == "in_flight" and info["worker"] == 0 and info["deadline"]
    assert "pending=3" in repr(q) and q.wal_bytes > 0


def test_leftover_temp_files_from_a_crashed_snapshot_are_removed(make_queue, data_dir) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    q.snapshot()
    q.close()
    junk = data_dir / "snapshots" / (snap.snapshot_name(99) + snap.TMP_SUFFIX)
    junk.write_bytes(b"half a snapshot")
    q = make_queue()
    assert not junk.exists() and "a" in q
    assert not [n for n in os.listdir(q.snap_dir) if n.endswith(snap.TMP_SUFFIX)]


def test_duplicate_of_a_finished_job_restored_from_snapshot_is_refused(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    q.complete("a", q.dispatch(0).attempt)
    q.snapshot()
    q.close()
    q = make_queue()
    with pytest.raises(DuplicateJobError):
        q.enqueue(Job("a"))


def test_a_queue_keeps_fewer_than_30_instance_attributes(make_queue) -> None:
    """CPython 3.11 keeps at most 30 attributes in a class's shared key table, and reads of
    attributes kept there are the fastest: every hot operation reads several."""
    assert len(vars(make_queue())) < 30
