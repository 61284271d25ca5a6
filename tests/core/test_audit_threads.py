"""Many threads on one DurableQueue: records get consecutive seqs, nothing acknowledged is lost
or duplicated, and the state machine never interleaves (issue 18, defect 5).

8 producer threads enqueue, 4 consumer threads dispatch, complete and fail, one more thread
reads, syncs, ticks and takes a snapshot; then the queue is closed and reopened (recovery refuses
a seq gap) and the log is decoded independently. The threads' switch interval is lowered for
the test so that an unguarded read-modify-write is interrupted often; every loop is bounded.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simqueue import DurableQueue, Job
from simqueue.core.storage import FileHandle, FileSystem
from simqueue.core.wal import ACK, ENQUEUE
from simqueue.core.wal.reader import iter_records

PRODUCERS = 8
CONSUMERS = 4
PER_PRODUCER = 250  # 2,000 jobs
SPIN_LIMIT = 2_000_000  # consumer loop bound: far more than the jobs need


@pytest.fixture(autouse=True)
def _frequent_thread_switches() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


class Run:
    """What the threads saw acknowledged, per thread (merged after they are joined)."""

    def __init__(self, observe: bool) -> None:
        self.enqueued: list[list[str]] = [[] for _ in range(PRODUCERS)]
        self.completed: list[list[str]] = [[] for _ in range(CONSUMERS)]
        self.errors: list[tuple[str, BaseException]] = []
        self.producers_done = threading.Event()
        self.start = threading.Barrier(PRODUCERS + CONSUMERS + observe)


def _guarded(run: Run, name: str, body: Callable[[], None]) -> Callable[[], None]:
    def target() -> None:
        try:
            body()
        except BaseException as exc:  # reported by the test, never swallowed
            run.errors.append((name, exc))
            run.producers_done.set()

    return target


def _producer(q: DurableQueue, run: Run, p: int) -> Callable[[], None]:
    def body() -> None:
        run.start.wait()
        out = run.enqueued[p]
        for i in range(PER_PRODUCER):
            if i % 25 == 24:  # a batch of two now and then
                jobs = [Job(f"p{p}-{i}-a", {"i": i}), Job(f"p{p}-{i}-b", None)]
                q.enqueue_many(jobs)
                out.extend(j.id for j in jobs)
            else:
                q.enqueue(Job(f"p{p}-{i}", {"p": p, "i": i}))
                out.append(f"p{p}-{i}")

    return body


def _consumer(q: DurableQueue, run: Run, c: int) -> Callable[[], None]:
    def body() -> None:
        run.start.wait()
        out = run.completed[c]
        for n in range(SPIN_LIMIT):
            job = q.dispatch(c)
            if job is None:
                if run.producers_done.is_set() and q.counts()["pending"] == 0:
                    return
                continue
            if job.attempt == 1 and n % 5 == 0:
                q.fail(job.id, job.attempt)  # backoff 0: ready again at once
            elif q.complete(job.id, job.attempt):
                out.append(job.id)
        raise AssertionError(f"consumer {c} still had work after {SPIN_LIMIT} iterations")

    return body


def _observer(q: DurableQueue, run: Run) -> None:
    """Reads, syncs, ticks and one snapshot while the others work (one snapshot prunes nothing,
    so the whole log stays on disk for the independent decode)."""
    run.start.wait()
    for i in range(400):
        q.counts()
        q.pending_ids()
        q.in_flight_ids()
        q.jobs_info() if i % 50 == 0 else None
        q.next_deadline()
        q.tick()
        q.sync() if i % 20 == 0 else q.flush()
        if i == 100:
            q.snapshot()
        q.expire()  # task_timeout is long: nothing expires, but it scans the in-flight set


def _drive(q: DurableQueue, observe: bool) -> Run:
    run = Run(observe)
    producers = [
        threading.Thread(target=_guarded(run, f"producer {p}", _producer(q, run, p)))
        for p in range(PRODUCERS)
    ]
    consumers = [
        threading.Thread(target=_guarded(run, f"consumer {c}", _consumer(q, run, c)))
        for c in range(CONSUMERS)
    ]
    others = [threading.Thread(target=_guarded(run, "observer", lambda: _observer(q, run)))]
    others = others if observe else []
    for t in [*producers, *consumers, *others]:
        t.start()
    for t in producers:
        t.join()
    run.producers_done.set()
    for t in [*consumers, *others]:
        t.join()
    return run


def _check_log(data_dir: str, enqueued: list[str], completed: list[str]) -> None:
    """Decode the WAL independently: consecutive seqs from 1, one ENQUEUE per acknowledged
    enqueue, one ACK per completion that returned True, nothing else enqueued or acked."""
    records = list(iter_records(data_dir))
    seqs = [r.seq for r in records]
    assert seqs == list(range(1, len(seqs) + 1)), "the log's seqs are not 1, 2, 3, ..."
    enq = collections.Counter(r.job_id for r in records if r.type == ENQUEUE)
    acks = collections.Counter(r.job_id for r in records if r.type == ACK)
    twice = sorted(i for i, n in enq.items() if n > 1)
    assert not twice, f"jobs enqueued more than once in the log: {twice[:5]}"
    assert set(enq) == set(enqueued), "log's ENQUEUEs differ from the acknowledged enqueues"
    twice = sorted(i for i, n in acks.items() if n > 1)
    assert not twice, f"jobs acked more than once in the log: {twice[:5]}"
    assert set(acks) == set(completed), "log's ACKs differ from the completions that returned"


def _run_and_check(data_dir: str, fsync: str, observe: bool) -> None:
    q = DurableQueue.open(data_dir, fsync=fsync, task_timeout=3600.0, batch_size=16)
    run = _drive(q, observe)
    assert not run.errors, f"a thread raised: {run.errors[0][0]}: {run.errors[0][1]!r}"
    enqueued = [i for ids in run.enqueued for i in ids]
    completed = [i for ids in run.completed for i in ids]
    assert len(enqueued) == len(set(enqueued)) == PRODUCERS * (PER_PRODUCER + PER_PRODUCER // 25)
    assert len(completed) == len(set(completed)) == len(enqueued), "a job completed twice or never"
    assert q.counts() == {"pending": 0, "in_flight": 0, "completed": len(enqueued), "dead": 0}
    q.close()

    with DurableQueue.open(data_dir, fsync=fsync) as again:  # recovery refuses a seq gap
        assert len(again) == len(enqueued)
        assert again.counts()["completed"] == len(completed)
        not_done = [i for i in completed if again.job(i).state.value != "completed"]
        assert not not_done, f"completed jobs not completed after reopening: {not_done[:5]}"
    _check_log(data_dir, enqueued, completed)


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
def test_eight_producers_and_four_consumers_leave_a_log_without_a_seq_gap(
    tmp_path: Any, fsync: str
) -> None:
    _run_and_check(str(tmp_path / "q"), fsync, observe=False)


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
def test_reads_syncs_and_snapshots_from_another_thread_interleave_nothing(
    tmp_path: Any, fsync: str
) -> None:
    _run_and_check(str(tmp_path / "q"), fsync, observe=True)


class HeldFsync(FileSystem):
    """Counts WAL fsyncs once armed; the first one waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__(real_fsync=False)
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self.wal_fsyncs = 0

    def fsync(self, handle: FileHandle) -> None:
        if self.armed and handle.path.endswith(".wal"):
            self.wal_fsyncs += 1
            if not self.entered.is_set():
                self.entered.set()
                assert self.release.wait(60), "the test never released the held fsync"
        super().fsync(handle)


def _wait_for(cond: Callable[[], bool], what: str) -> None:
    for _ in range(60_000):  # bounded: a minute at most
        if cond():
            return
        time.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def test_under_always_other_threads_append_during_an_fsync_and_share_the_next(
    tmp_path: Any,
) -> None:
    fs = HeldFsync()
    q = DurableQueue.open(str(tmp_path / "q"), fsync="always", fs=fs, durability="modeled")
    fs.armed = True
    seqs: dict[str, int] = {}

    def enqueue(job_id: str) -> None:
        seqs[job_id] = q.enqueue(Job(job_id, None))
        assert q.is_durable(seqs[job_id]), f"{job_id} returned before its record was fsynced"

    first = threading.Thread(target=enqueue, args=("a",))
    others = [threading.Thread(target=enqueue, args=(i,)) for i in ("b", "c")]
    first.start()
    try:
        assert fs.entered.wait(60), "the first enqueue never reached its fsync"
        mutex = q._committer.mutex
        assert mutex.acquire(blocking=False), "the mutex is held across the fsync"
        mutex.release()
        for t in others:
            t.start()
        _wait_for(lambda: q.last_seq == 3, "b and c appended while a's fsync runs")
        assert q.durable_seq == 0 and "a" not in seqs, "a was answered before its fsync returned"
    finally:
        fs.release.set()
        for t in [first, *others]:
            if t.ident is not None:
                t.join()
    assert sorted(seqs.values()) == [1, 2, 3] and q.durable_seq == 3
    assert fs.wal_fsyncs == 2, "b and c did not share one fsync"
    q.close()
