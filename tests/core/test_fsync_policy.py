"""The fsync policies, checked by counting real ``os.fsync`` / ``os.fdatasync`` calls
(``durability="real"``):
``always`` acknowledges after an fsync covering the record, ``batch`` group-commits, ``never``
hands records to the OS without ever fsyncing them."""

from __future__ import annotations

import os

import pytest
from conftest import crash

from simqueue import Job
from simqueue.core.storage import filesystem as fs_module


@pytest.fixture
def fsyncs(monkeypatch) -> list[int]:
    """Every ``os.fsync`` and file ``fdatasync`` call, as how much of the file had been written
    when it was made durable: the file offset, which only the writes move (a WAL segment is
    preallocated, so its size says nothing), -1 for directories."""
    calls: list[int] = []

    def counting(real):
        def sync(fd: int) -> None:
            st = os.fstat(fd)
            calls.append(-1 if os.path.stat.S_ISDIR(st.st_mode) else os.lseek(fd, 0, os.SEEK_CUR))
            real(fd)

        return sync

    monkeypatch.setattr(os, "fsync", counting(os.fsync))
    monkeypatch.setattr(fs_module, "_sync_data", counting(fs_module._sync_data))
    return calls


def segment_size(q) -> int:
    """Bytes written to the current segment (its file may be preallocated beyond them)."""
    return q.writer._handle.size


def test_always_acknowledges_each_enqueue_after_an_fsync_covering_it(make_queue, fsyncs):
    q = make_queue(fsync="always", durability="real")
    for i in range(20):
        fsyncs.clear()
        seq = q.enqueue(Job(f"j{i}"))
        assert q.durable_seq >= seq and q.is_acknowledged(seq)
        assert fsyncs == [segment_size(q)]  # exactly one, after the record was written
    fsyncs.clear()
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    assert len(fsyncs) == 2 and q.durable_seq == q.last_seq


def test_always_fsyncs_once_for_a_batch_enqueue(make_queue, fsyncs) -> None:
    q = make_queue(fsync="always", durability="real")
    fsyncs.clear()
    seq = q.enqueue_many([Job(f"j{i}") for i in range(50)])
    assert fsyncs == [segment_size(q)] and q.durable_seq == seq


def test_batch_group_commits_every_batch_size_records(make_queue, fsyncs) -> None:
    q = make_queue(fsync="batch", durability="real", batch_size=10, flush_interval=60.0)
    fsyncs.clear()
    seqs = [q.enqueue(Job(f"j{i}")) for i in range(25)]
    assert len(fsyncs) == 2  # after records 10 and 20
    acked = [s for s in seqs if q.is_acknowledged(s)]
    assert acked == seqs[:20]  # acknowledged together, a whole batch at a time
    assert q.durable_seq == seqs[19] and q.written_seq == seqs[19]
    assert not q.is_acknowledged(seqs[20])


def test_batch_group_commits_when_flush_interval_passes(make_queue, clock, fsyncs) -> None:
    q = make_queue(fsync="batch", durability="real", batch_size=1000, flush_interval=0.5)
    fsyncs.clear()
    seqs = [q.enqueue(Job(f"j{i}")) for i in range(5)]
    assert fsyncs == [] and not any(q.is_acknowledged(s) for s in seqs)
    assert q.sync_due_at == clock.now() + 0.5
    clock.advance_by(0.4)
    assert q.tick() is False and fsyncs == []
    clock.advance_by(0.1)
    assert q.tick() is True
    assert len(fsyncs) == 1 and all(q.is_acknowledged(s) for s in seqs)
    assert q.tick() is False and q.sync_due_at is None


def test_batch_commit_due_is_also_taken_by_the_next_append(make_queue, clock, fsyncs) -> None:
    q = make_queue(fsync="batch", durability="real", batch_size=1000, flush_interval=0.5)
    fsyncs.clear()
    first = q.enqueue(Job("a"))
    clock.advance_by(0.5)
    second = q.enqueue(Job("b"))
    assert len(fsyncs) == 1 and q.is_acknowledged(first) and q.is_acknowledged(second)


def test_the_hot_operations_group_commit_at_the_same_points(make_queue, clock, fsyncs) -> None:
    """enqueue_new_id, dispatch_raw and complete skip the policy call inside the commit window;
    the fsyncs must still land exactly every batch_size records and at the flush interval."""
    q = make_queue(fsync="batch", durability="real", batch_size=10, flush_interval=0.5)
    base = q.durable_seq
    fsyncs.clear()
    ids = [f"h{i}" for i in range(12)]
    for job_id in ids:
        q.enqueue_new_id(job_id, job_id.encode())
    assert len(fsyncs) == 1 and q.durable_seq == base + 10
    for worker in range(12):
        q.dispatch_raw(worker)
    assert len(fsyncs) == 2 and q.durable_seq == base + 20
    for job_id in ids[:9]:
        q.complete(job_id, 1)
    assert len(fsyncs) == 3 and q.durable_seq == base + 30
    q.complete(ids[9], 1)  # record 34: inside the window, nothing due
    assert len(fsyncs) == 3
    clock.advance_by(0.5)  # the oldest unsynced record has now waited flush_interval
    q.complete(ids[10], 1)
    assert len(fsyncs) == 4 and q.durable_seq == base + 35


def test_never_hands_records_to_the_os_without_any_fsync(make_queue, fsyncs) -> None:
    q = make_queue(fsync="never", durability="real")
    fsyncs.clear()
    seqs = [q.enqueue(Job(f"j{i}", payload={"i": i})) for i in range(30)]
    for _ in range(10):
        job = q.dispatch(0)
        q.complete(job.id, job.attempt)
    assert fsyncs == []
    assert q.written_seq == q.last_seq and q.durable_seq < seqs[0]
    assert all(q.is_acknowledged(s) for s in seqs)  # acknowledged = reached the OS
    crash(q, "process")
    q = make_queue(fsync="never", durability="real")
    assert len(q) == 30 and q.counts()["completed"] == 10


def test_never_loses_unsynced_records_to_a_power_cut(make_queue) -> None:
    q = make_queue(fsync="never")
    q.enqueue_many([Job(f"j{i}") for i in range(5)])
    crash(q, "power-drop")
    q = make_queue(fsync="never")
    assert len(q) == 0  # the documented price of "never"


@pytest.mark.parametrize("policy", ["always", "batch"])
def test_acknowledged_enqueues_survive_a_power_cut(make_queue, policy, crash_kind) -> None:
    q = make_queue(fsync=policy, batch_size=7)
    acked = []
    for i in range(40):
        seq = q.enqueue(Job(f"j{i}"))
        acked = [f"j{k}" for k in range(i + 1) if q.is_acknowledged(seq - (i - k))]
    crash(q, crash_kind, seed=11)
    q = make_queue(fsync=policy)
    assert all(a in q for a in acked) and len(acked) >= 35


def test_modeled_durability_makes_no_os_fsync_calls(make_queue, fsyncs) -> None:
    q = make_queue(fsync="always", durability="modeled")
    fsyncs.clear()
    for i in range(10):
        seq = q.enqueue(Job(f"j{i}"))
        assert q.durable_seq >= seq
    assert fsyncs == [] and q.fs.stats.fsyncs >= 10


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="this OS has no fdatasync")
def test_a_durable_append_uses_fdatasync_and_only_directories_use_fsync(make_queue, monkeypatch):
    q = make_queue(fsync="always", durability="real")
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(
        fs_module, "_sync_data", lambda fd: (calls.append("fdatasync"), real_fdatasync(fd))
    )
    q.enqueue(Job("j"))
    assert calls == ["fdatasync"]
    calls.clear()
    q.snapshot()  # files fdatasynced, then the renames made durable by directory fsyncs
    assert "fdatasync" in calls and "fsync" in calls
    assert calls[-1] == "fsync"
