"""A worker's wait under ``fsync="always"`` (simqueue/service/follow.py): while the HTTP loop is
busy the worker sleeps until a commit covers its record instead of leading one; once the loop
is idle, or after the limit, it leads one itself; either way it never returns before its record
is durable.

Who led each fsync is recorded by the file system, so what the test checks is who committed,
not how long anything took.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from simqueue import DurableQueue, Job
from simqueue.core.storage import FileSystem
from simqueue.service import follow
from simqueue.service.follow import CommitWatch


class LeaderLog(FileSystem):
    """Real files and fsyncs; the thread that made each fsync of the log."""

    def __init__(self) -> None:
        super().__init__(real_fsync=True)
        self.leaders: list[str] = []

    def before(self, op: str, path: str) -> None:
        super().before(op, path)
        if op == "fsync" and "/wal/" in path:
            self.leaders.append(threading.current_thread().name)


@pytest.fixture
def watched(tmp_path) -> Iterator[tuple[DurableQueue, LeaderLog, CommitWatch]]:
    fs = LeaderLog()
    q = DurableQueue.open(str(tmp_path / "q"), fsync="always", fs=fs)
    watch = CommitWatch(q)
    q.on_commit(watch.ended)
    yield q, fs, watch
    q.close()


def _appended(q: DurableQueue, job_id: str) -> int:
    """A record appended without waiting for its fsync (as the server's threads append)."""
    with q.acks_deferred():
        return q.enqueue(Job(job_id))


def _worker_waiting(watch: CommitWatch, seq: int) -> threading.Thread:
    t = threading.Thread(target=watch.wait_durable, args=(seq,), name="worker", daemon=True)
    t.start()
    return t


def test_while_the_loop_is_busy_a_worker_shares_its_commit_instead_of_leading(
    watched, monkeypatch
) -> None:
    q, fs, watch = watched
    monkeypatch.setattr(follow, "FOLLOW_LIMIT", 60.0)
    watch.last_answer = lambda: float("inf")  # answers wait for the loop's next commit
    seq = _appended(q, "dispatched")
    worker = _worker_waiting(watch, seq)
    worker.join(0.2)
    assert worker.is_alive() and q.durable_seq < seq  # asleep, and it led no fsync
    threading.Thread(target=q.try_acknowledge, args=(seq,), name="loop").start()
    worker.join(30)
    assert not worker.is_alive() and q.durable_seq >= seq
    assert fs.leaders[-1:] == ["loop"] and "worker" not in fs.leaders


def test_once_the_loop_is_idle_a_worker_leads_its_own_commit(watched) -> None:
    q, fs, watch = watched
    watch.last_answer = lambda: -float("inf")  # the loop answered nothing lately
    seq = _appended(q, "dispatched")
    worker = _worker_waiting(watch, seq)
    worker.join(30)
    assert not worker.is_alive() and q.durable_seq >= seq
    assert fs.leaders[-1:] == ["worker"]


def test_a_worker_follows_a_busy_loop_for_a_limited_time_then_leads(watched) -> None:
    q, fs, watch = watched
    watch.last_answer = lambda: float("inf")  # busy, but its commit never comes
    seq = _appended(q, "dispatched")
    worker = _worker_waiting(watch, seq)
    worker.join(30)  # FOLLOW_LIMIT (milliseconds) bounds the wait, not this join
    assert not worker.is_alive() and q.durable_seq >= seq
    assert fs.leaders[-1:] == ["worker"]


def test_a_worker_whose_record_is_durable_already_neither_waits_nor_leads(
    watched, monkeypatch
) -> None:
    q, fs, watch = watched
    monkeypatch.setattr(follow, "FOLLOW_LIMIT", 60.0)
    watch.last_answer = lambda: float("inf")  # busy: a worker that slept would sleep a minute
    seq = _appended(q, "dispatched")
    q.wait_acknowledged(seq)
    before = list(fs.leaders)
    worker = _worker_waiting(watch, seq)
    worker.join(30)
    assert not worker.is_alive() and fs.leaders == before
