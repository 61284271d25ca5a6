"""The group committer of ``DurableQueue`` (simqueue/core/commit.py) under threads: while one
fsync runs, every operation that arrives joins the next one, and each caller returns as soon as
an fsync covering its record returned (docs/semantics.md, "Threads").

The first fsync of the log is held on an event, so what joins which fsync is decided by the
test, not by the machine's speed: no timing threshold anywhere.
"""

from __future__ import annotations

import threading

import pytest

from simqueue import DurableQueue, Job
from simqueue.core.errors import QueueStoppedError, StorageError
from simqueue.core.storage import FileSystem

WAITERS = 6


class HeldFileSystem(FileSystem):
    """Real files and fsyncs; the fsync number ``hold_at`` (of WAL segments) waits for
    ``release``; ``started`` is set when it begins."""

    def __init__(self) -> None:
        super().__init__(real_fsync=True)
        self.hold_at: int | None = None
        self.started = threading.Event()
        self.release = threading.Event()
        self.wal_fsyncs = 0

    def before(self, op: str, path: str) -> None:
        super().before(op, path)
        if op == "fsync" and "/wal/" in path:
            self.wal_fsyncs += 1
            if self.wal_fsyncs == self.hold_at:
                self.started.set()
                assert self.release.wait(60), "the held fsync was never released"


def _open(tmp_path, fsync: str) -> tuple[DurableQueue, HeldFileSystem]:
    fs = HeldFileSystem()
    q = DurableQueue.open(str(tmp_path / "q"), fsync=fsync, fs=fs, flush_interval=3600.0)
    return q, fs


def _spawn(fn, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_callers_arriving_during_an_fsync_share_the_next_one(tmp_path, fsync) -> None:
    q, fs = _open(tmp_path, fsync)
    try:
        fs.hold_at = fs.wal_fsyncs + 1
        done: list[int] = []

        def enqueue_and_wait(job_id: str) -> None:
            seq = q.enqueue(Job(job_id))
            q.wait_acknowledged(seq)  # under always it has waited already
            done.append(seq)

        first = _spawn(enqueue_and_wait, "first")
        assert fs.started.wait(30)
        # The mutex is free while the first fsync runs: these append and then wait.
        others = [_spawn(enqueue_and_wait, f"j{i}") for i in range(WAITERS)]
        while q.last_seq < WAITERS + 1:
            threading.Event().wait(0.001)
        assert done == [] and q.durable_seq == 0
        fs.release.set()
        for t in [first, *others]:
            t.join(30)
        assert sorted(done) == list(range(1, WAITERS + 2))
        assert q.durable_seq == WAITERS + 1
        assert fs.wal_fsyncs - fs.hold_at == 1  # the six waiters shared one more fsync
    finally:
        fs.release.set()
        q.close()


def test_batch_acknowledgement_does_not_wait_for_the_flush_interval(tmp_path) -> None:
    # flush_interval is an hour: wait_acknowledged must start the fsync itself.
    q, fs = _open(tmp_path, "batch")
    try:
        seq = q.enqueue(Job("a"))
        assert not q.is_acknowledged(seq)
        q.wait_acknowledged(seq)
        assert q.is_acknowledged(seq) and q.durable_seq == seq
    finally:
        q.close()


def test_deferred_operations_return_before_their_fsync_and_wait_later(tmp_path) -> None:
    q, fs = _open(tmp_path, "always")
    try:
        before = fs.wal_fsyncs
        with q.acks_deferred():
            seqs = [q.enqueue(Job(f"j{i}")) for i in range(5)]
        assert fs.wal_fsyncs == before and q.durable_seq < seqs[-1]
        q.wait_acknowledged(seqs[-1])
        assert fs.wal_fsyncs == before + 1 and q.durable_seq == seqs[-1]
    finally:
        q.close()


def test_a_failed_group_fsync_stops_the_queue_for_every_waiter(tmp_path) -> None:
    q, fs = _open(tmp_path, "always")
    orig = fs.before

    def failing(op: str, path: str) -> None:
        orig(op, path)
        if op == "fsync" and "/wal/" in path:
            raise OSError(5, "injected EIO")

    fs.before = failing  # type: ignore[method-assign]
    try:
        with q.acks_deferred():
            seq = q.enqueue(Job("a"))
        with pytest.raises(StorageError):
            q.wait_acknowledged(seq)
        with pytest.raises(QueueStoppedError):
            q.wait_acknowledged(seq)
        assert q.stopped
    finally:
        q.abandon()


@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_try_acknowledge_leads_when_free_and_never_waits_behind_another_commit(
    tmp_path, fsync
) -> None:
    """A thread serving many clients (the server's HTTP loop) asks without waiting: it leads
    the commit if none runs, else hears from ``on_commit`` when the running one ended."""
    q, fs = _open(tmp_path, fsync)
    ended: list[int] = []
    q.on_commit(lambda: ended.append(q.durable_seq))
    try:
        with q.acks_deferred():
            mine = q.enqueue(Job("mine"))
        before = fs.wal_fsyncs
        assert q.try_acknowledge(mine)  # no commit ran: it led one, for its own record
        assert fs.wal_fsyncs == before + 1 and q.durable_seq >= mine and ended == [mine]

        fs.hold_at = fs.wal_fsyncs + 1
        with q.acks_deferred():
            theirs = q.enqueue(Job("theirs"))
        leader = _spawn(q.wait_acknowledged, theirs)
        assert fs.started.wait(30)
        with q.acks_deferred():
            late = q.enqueue(Job("late"))  # appended while the held fsync runs
        assert not q.try_acknowledge(late)  # at once: another thread's commit is running
        assert not q.try_acknowledge(theirs)  # its own fsync has not returned either
        fs.release.set()
        leader.join(30)
        assert ended[-1] == theirs  # the listener heard that commit end
        assert q.try_acknowledge(theirs)
        assert q.try_acknowledge(late) and q.durable_seq >= late  # it led the next one
    finally:
        fs.release.set()
        q.close()


def test_try_acknowledge_under_never_is_true_once_written(tmp_path) -> None:
    q, fs = _open(tmp_path, "never")
    try:
        before = fs.wal_fsyncs
        seq = q.enqueue(Job("a"))
        assert q.try_acknowledge(seq) and fs.wal_fsyncs == before
    finally:
        q.close()
