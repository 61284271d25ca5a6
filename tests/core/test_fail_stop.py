"""Fail-stop: a write or fsync error stops the queue for good, with an error naming the cause;
reopening on a healthy disk recovers a consistent state that lost nothing acknowledged."""

from __future__ import annotations

import errno

import pytest
from conftest import observe

from simqueue import Job, QueueStoppedError, StorageError
from simqueue.core.jobs import COMPLETED
from simqueue.core.storage import FileSystem
from simqueue.testing.faults import FaultyFileSystem

FAULTS = [
    pytest.param("write", errno.EIO, id="EIO-on-write"),
    pytest.param("fsync", errno.ENOSPC, id="ENOSPC-on-fsync"),
    pytest.param("fsync", errno.EIO, id="EIO-on-fsync"),
    pytest.param("write", errno.ENOSPC, id="ENOSPC-on-write"),
]


def later_calls(q):
    return [
        lambda: q.enqueue(Job("later")),
        lambda: q.enqueue_ids(["later2"]),
        lambda: q.dispatch(0),
        lambda: q.complete("ok0", 1),
        lambda: q.fail("ok0", 1),
        lambda: q.expire(),
        lambda: q.timeout_attempt("ok0", 1),
        lambda: q.snapshot(),
        lambda: q.sync(),
        lambda: q.flush(),
        lambda: q.tick(),
    ]


def healthy_prefix(q) -> list[int]:
    seqs = [q.enqueue(Job(f"ok{i}", payload={"i": i})) for i in range(4)]
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    q.dispatch(1)
    return seqs


@pytest.mark.parametrize(("op", "code"), FAULTS)
@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_io_error_stops_the_queue_and_reopen_recovers(make_queue, op, code, fsync) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs, fsync=fsync, batch_size=3)
    seqs = healthy_prefix(q)
    q.sync()
    acknowledged = [f"ok{i}" for i, s in enumerate(seqs) if q.is_acknowledged(s)]
    assert acknowledged
    fs.fail_at(op, 0, code)
    with pytest.raises(StorageError) as info:
        for i in range(10):  # under "batch" the fault shows when the group commit runs
            q.enqueue(Job(f"doomed{i}"))
    assert os_error_named(str(info.value), code)
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == code
    assert q.stopped
    for call in later_calls(q):
        with pytest.raises(QueueStoppedError, match="stopped"):
            call()
    q.close()  # closing a stopped queue does not try to write again
    q = make_queue(fs=FileSystem(real_fsync=False))
    for job_id in acknowledged:
        assert job_id in q
    assert q.state_of("ok0") is COMPLETED
    assert q.job("ok1").reason == "interrupted"  # was in flight
    c = q.counts()
    assert sum(c.values()) == len(q)
    q.enqueue(Job("after"))  # and it works again
    q.close()


def os_error_named(message: str, code: int) -> bool:
    import os

    return os.strerror(code) in message


@pytest.mark.parametrize("keep", [0, 1, 30, None])
def test_short_write_stops_the_queue_and_the_partial_record_is_cut(make_queue, keep) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs)
    healthy_prefix(q)
    before = observe(q)
    fs.short_write_at(0, keep=keep)
    with pytest.raises(StorageError, match="No space left"):
        q.enqueue(Job("half", payload={"pad": "x" * 100}))
    with pytest.raises(QueueStoppedError):
        q.dispatch(0)
    q.abandon()
    q = make_queue(fs=FileSystem(real_fsync=False))
    assert "half" not in q
    assert observe(q).jobs == {
        **before.jobs,
        "ok1": ("pending", 1),  # interrupted
    }
    if keep is None:
        assert q.recovery.tail_bytes_discarded > 0
    else:
        assert q.recovery.tail_bytes_discarded == keep


@pytest.mark.parametrize("op", ["create", "write", "fsync", "rename", "fsync_dir"])
def test_io_error_during_snapshot_is_fail_stop_and_the_old_state_survives(make_queue, op) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs)
    healthy_prefix(q)
    q.sync()
    fs.fail_at(op, 0, errno.EIO)
    with pytest.raises(StorageError, match="snapshot"):
        q.snapshot()
    with pytest.raises(QueueStoppedError):
        q.enqueue(Job("x"))
    q.abandon()
    q = make_queue(fs=FileSystem(real_fsync=False))
    assert sorted(q.counts().items()) == sorted(
        {"pending": 3, "in_flight": 0, "completed": 1, "dead": 0}.items()
    )


@pytest.mark.parametrize(
    ("op", "n"), [("truncate", 0), ("create", 0), ("write", 0), ("fsync", 0), ("fsync_dir", 0)]
)
def test_io_error_during_recovery_raises_storage_error_and_a_retry_works(
    make_queue, data_dir, op, n
) -> None:
    q = make_queue()
    healthy_prefix(q)
    q.abandon()
    with open(data_dir / "wal" / sorted((data_dir / "wal").iterdir())[-1].name, "ab") as f:
        f.write(b"torn")
    fs = FaultyFileSystem(real_fsync=False)
    fs.fail_at(op, n, errno.EIO)
    with pytest.raises(StorageError, match="Input/output error"):
        make_queue(fs=fs)
    q = make_queue(fs=fs)
    assert len(q) == 4 and q.job("ok1").reason == "interrupted"


def test_persistent_fault_keeps_failing(make_queue) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    q = make_queue(fs=fs)
    fs.fail_at("fsync", 0, errno.EIO, persistent=True)
    with pytest.raises(StorageError):
        q.enqueue(Job("a"))
    q.abandon()
    with pytest.raises(StorageError):
        make_queue(fs=fs)
    fs.disarm()
    assert "a" in make_queue(fs=fs)  # it reached the OS; never acknowledged, but not lost either
