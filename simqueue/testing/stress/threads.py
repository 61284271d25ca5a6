"""Many threads on one :class:`~simqueue.core.queue.DurableQueue`: producers enqueue one job per
call, consumers dispatch and complete (or fail) them, a snapshot thread snapshots, all at once.
Every acknowledgement is remembered (an ``enqueue`` that returned, once its record is acknowledged
under the fsync policy: ``DurableQueue.wait_acknowledged``; likewise a ``complete`` that returned
True) and, with ``ack_path``, also written to a file the moment it is received (one
``os.write`` per line on an ``O_APPEND`` descriptor: it survives ``kill -9`` of this process).
:func:`check_acks` holds the decoded files (:mod:`simqueue.testing.stress.decode`) to them."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simqueue.core.jobs import DEAD, Job
from simqueue.core.queue import DurableQueue
from simqueue.testing.stress.decode import Decoded


@dataclass
class ThreadRun:
    """What the threads were told: enqueue seqs, completed attempts, and what went wrong."""

    enqueued: dict[str, int] = field(default_factory=dict)  # id -> seq enqueue returned
    completed: dict[str, int] = field(default_factory=dict)  # id -> attempt completed
    dead: dict[str, int] = field(default_factory=dict)  # id -> attempt that made it DEAD
    failed: int = 0
    snapshots: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Acks:
    """The acknowledgement file (or none)."""

    def __init__(self, path: str | None) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self.fd = None if path is None else os.open(path, flags, 0o600)

    def write(self, line: str) -> None:
        if self.fd is not None:
            os.write(self.fd, line.encode() + b"\n")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


def run_threads(
    q: DurableQueue,
    *,
    producers: int = 8,
    consumers: int = 4,
    jobs_per_producer: int = 100,
    snapshots: int = 3,
    fail_rate: float = 0.1,
    seed: int = 0,
    ack_path: str | None = None,
    prefix: str = "",
    time_limit: float = 300.0,
) -> ThreadRun:
    """Run the threads on ``q`` until every job is finished (a consumer gives up, as an error,
    after ``time_limit`` seconds); what they were told."""
    run, acks = ThreadRun(), _Acks(ack_path)
    total = producers * jobs_per_producer
    threads = [
        threading.Thread(
            target=_guard, args=(run, _produce, q, f"{prefix}p{p}", jobs_per_producer, run, acks)
        )
        for p in range(producers)
    ]
    threads += [
        threading.Thread(
            target=_guard, args=(run, _consume, q, c, total, run, acks, fail_rate, seed, time_limit)
        )
        for c in range(consumers)
    ]
    if snapshots:
        threads.append(
            threading.Thread(target=_guard, args=(run, _snapshot, q, snapshots, total, run))
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acks.close()
    return run


def _guard(run: ThreadRun, fn: Callable[..., None], *args: object) -> None:
    """Run ``fn``; any exception is one line of ``run.errors`` (and ends the run's waits)."""
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - reported, and the test fails on it
        with run.lock:
            run.errors.append(f"{threading.current_thread().name}: {exc!r}")


def _produce(q: DurableQueue, name: str, n: int, run: ThreadRun, acks: _Acks) -> None:
    for i in range(n):
        job_id = f"{name}-{i}"
        seq = q.enqueue(Job(job_id, payload={"i": i}))
        q.wait_acknowledged(seq)  # under batch: lead or join the group commit
        acks.write(f"E {job_id} {seq}")
        with run.lock:
            run.enqueued[job_id] = seq


def _consume(
    q: DurableQueue,
    c: int,
    total: int,
    run: ThreadRun,
    acks: _Acks,
    fail_rate: float,
    seed: int,
    time_limit: float,
) -> None:
    """Dispatch and end attempts until every job is finished (or another thread failed)."""
    rng = random.Random(f"{seed}:consumer-{c}")
    give_up = time.monotonic() + time_limit
    while True:
        with run.lock:
            finished = len(run.completed) + len(run.dead)
            if run.errors or finished >= total:
                return
        if time.monotonic() > give_up:
            raise AssertionError(f"{finished} of {total} jobs finished after {time_limit:g} s")
        job = q.dispatch(c)
        if job is None:
            threading.Event().wait(0.0005)
            continue
        if rng.random() < fail_rate:
            state = q.fail(job.id, job.attempt)
            q.wait_acknowledged(q.last_seq)
            if state is DEAD:
                acks.write(f"D {job.id} {job.attempt}")
            with run.lock:
                run.failed += 1
                if state is DEAD:
                    run.dead[job.id] = job.attempt
        elif q.complete(job.id, job.attempt):
            q.wait_acknowledged(q.last_seq)
            acks.write(f"C {job.id} {job.attempt}")
            with run.lock:
                run.completed[job.id] = job.attempt
        else:
            raise AssertionError(f"complete({job.id!r}, {job.attempt}) was stale: no timeouts run")


def _snapshot(q: DurableQueue, n: int, total: int, run: ThreadRun) -> None:
    """``n`` snapshots spread evenly over the run's work (``total`` enqueues, then as many
    attempts ended for good), while the other threads run."""
    done = 0
    while done < n:
        with run.lock:
            if run.errors:
                return
            progress = len(run.enqueued) + len(run.completed) + len(run.dead)
        # Every threshold is below the whole work (2 * total), so all n are taken: the last ones
        # after the other threads ended, if they outran this one.
        if progress >= (done + 1) * 2 * total // (n + 1):
            q.snapshot()
            done += 1
            with run.lock:
                run.snapshots += 1
        else:
            threading.Event().wait(0.001)


def read_acks(path: str) -> ThreadRun:
    """The acknowledgements a (killed) run wrote to ``path``; a last line cut short is left
    out."""
    run = ThreadRun()
    if not os.path.exists(path):  # the run acknowledged nothing
        return run
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")[:-1]
    for line in lines:
        kind, job_id, n = line.decode().split(" ")
        {"E": run.enqueued, "C": run.completed, "D": run.dead}[kind][job_id] = int(n)
    return run


def check_acks(d: Decoded, run: ThreadRun) -> list[str]:
    """Each acknowledgement against the decoded files: every acknowledged enqueue there exactly
    once (at the seq the call returned), every acknowledged completion COMPLETED at its
    attempt with one ACK record."""
    bad = list(d.problems)
    for job_id, seq in run.enqueued.items():
        if job_id not in d.jobs:
            bad.append(f"acknowledged job {job_id} (ENQUEUE seq {seq}) is not in the files")
        elif d.enqueue_seq.get(job_id, seq) != seq:
            bad.append(
                f"job {job_id}: enqueue returned seq {seq}, the WAL holds its ENQUEUE at seq "
                f"{d.enqueue_seq[job_id]}"
            )
    ended = [(i, a, "completed") for i, a in run.completed.items()]
    ended += [(i, a, "dead") for i, a in run.dead.items()]
    for job_id, attempt, state in ended:
        got = d.jobs.get(job_id)
        if got != [state, attempt]:
            bad.append(f"job {job_id}: {state} at attempt {attempt} acknowledged; files: {got}")
        elif job_id in d.ack_seqs and len(d.ack_seqs[job_id]) != 1:
            bad.append(f"job {job_id}: ACK records at seqs {d.ack_seqs[job_id]}")
    return bad
