"""The open queue as the server's threads share it: one :class:`DurableQueue` behind one lock.

Every change to the queue and the server's bookkeeping holds :attr:`SharedQueue.lock`, which
is never held across a write of the log or an fsync: the queue's operations run inside
:meth:`DurableQueue.acks_deferred`, so they append and return, and the thread that needs its
records durable (an enqueuer before it answers, a worker under ``always`` before it runs the
attempt, a durable read) waits after releasing the lock, in the queue's group commit
(:meth:`DurableQueue.wait_acknowledged`): the first waiter fsyncs everything appended so far,
those arriving meanwhile share the next fsync, and each is answered as soon as the fsync
covering its record returns. An idle worker sleeps on a lock of its own
(:meth:`SharedQueue.park`) until new work wakes it; the ``batch`` timer
(:func:`~simqueue.service.loops.commit_loop`) waits on the condition ``commit``. After anything
that appends, the holder calls :meth:`SharedQueue.after`.
"""

from __future__ import annotations

import threading
import time
from _thread import LockType, allocate_lock
from collections.abc import Callable
from typing import Any, TypeVar

from simqueue.core.errors import QueueStoppedError, SimQueueError
from simqueue.core.jobs import DEAD, Job
from simqueue.core.queue import DurableQueue
from simqueue.service.follow import CommitWatch
from simqueue.service.metrics import Metrics
from simqueue.service.work import Outcome

T = TypeVar("T")


class NotAccepting(Exception):
    """The queue takes no new jobs: the server is stopping, or stopped before they were durable."""


class SharedQueue:
    """The queue, its lock and conditions, and the bookkeeping the threads share.

    Every method (and every attribute write) is for a caller that holds :attr:`lock`, except
    :meth:`acknowledge`, :meth:`read_at` and :meth:`durable_through`, which take it themselves
    as they need.
    """

    def __init__(self, q: DurableQueue, metrics: Metrics) -> None:
        self.q = q
        self.metrics = metrics
        self.lock = threading.Lock()
        #: Idle workers, each asleep on a lock of its own until released (:meth:`park`).
        self.idle: list[LockType] = []
        self.commit = threading.Condition(self.lock)  # the batch timer waits here
        self.dispatching = False  # workers take jobs and POST /jobs accepts them
        self.committing = False  # the batch timer runs
        self.commit_idle = False  # the batch timer waits for a first unsynced record
        self.busy = 0  # workers running an attempt
        #: Workers taken off the idle list that have not yet taken the lock again. While one is
        #: on its way an enqueue wakes no other: the woken worker, once it has dispatched, wakes
        #: the next if jobs are still ready (:func:`simqueue.service.loops.worker_loop`). Woken
        #: one per job instead, most woke to find their job taken by a worker that was already
        #: running (it never blocks between no-op jobs, and the woken thread waits for Python's
        #: lock): about three wasted wake-ups in four jobs at 16 clients.
        self.waking = 0
        #: Idle workers taken for the HTTP loop's new jobs, woken as it is about to commit
        #: (:mod:`simqueue.service.writes` says why); the loop's thread only.
        self.to_wake: list[LockType] = []
        #: The ends of the queue's commits, which workers under ``always`` wait on (the server
        #: gives it the HTTP loop's ``last_answer`` and makes its ``ended`` a commit listener).
        self.commits = CommitWatch(q)
        self.enqueued_at: dict[str, float] = {
            rec.id: rec.enqueued_at
            for rec in q.iter_jobs()
            if rec.state.value in ("pending", "in_flight")
        }

    def after(self) -> None:
        """After anything that appended: wake the batch timer if a group commit is now
        pending."""
        if self.commit_idle and self.q.sync_due_at is not None:
            self.commit.notify()

    def enqueue(self, jobs: list[Job]) -> tuple[int, list[LockType]]:
        """Append all of ``jobs`` or none (DuplicateJobError) without waiting for their fsync.
        Returns their last seq, for :meth:`acknowledge`, and the idle worker to wake for them
        (none while another is on its way: :attr:`waking`), for :func:`wake` once the lock is
        released. Raises :class:`NotAccepting` when not
        dispatching."""
        q = self.q
        if not self.dispatching or q.stopped:
            raise NotAccepting("the server is stopping and accepts no new jobs")
        with q.acks_deferred():
            seq = q.enqueue_many(jobs)
        now = time.time()
        for j in jobs:
            self.enqueued_at[j.id] = now
        self.after()
        return seq, self.take_idle(0 if self.waking else 1)

    def park(self, timeout: float) -> None:
        """Under the lock: an idle worker sleeps without it until woken (:meth:`take_idle`,
        :meth:`wake_all`) or ``timeout`` seconds pass, then takes it again.

        Each idle worker sleeps on a lock of its own, so an enqueue can wake one after releasing
        the server's lock: woken by a condition's ``notify``, which must hold that lock, the
        worker would at once block on it again."""
        sleeper = allocate_lock()
        sleeper.acquire()
        self.idle.append(sleeper)
        self.lock.release()
        try:
            sleeper.acquire(timeout=timeout)
        finally:
            self.lock.acquire()
            try:
                self.idle.remove(sleeper)  # timed out: nobody took it off the list
            except ValueError:  # taken by take_idle (its release may come after the timeout)
                self.waking -= 1

    def take_idle(self, n: int) -> list[LockType]:
        """Under the lock: up to ``n`` idle workers, the most recently idle first, off the idle
        list, counted in :attr:`waking`; release them with :func:`wake` (after the lock, or
        under it)."""
        idle = self.idle
        if not idle or n <= 0:
            return []
        taken = idle[-n:] if n < len(idle) else idle[:]
        del idle[len(idle) - len(taken) :]
        self.waking += len(taken)
        return taken

    def wake_pending(self) -> None:
        """Wake the workers in :attr:`to_wake` (the HTTP loop's thread, without the lock)."""
        idle, self.to_wake = self.to_wake, []
        wake(idle)

    def wake_all(self) -> None:
        """Under the lock: wake every idle worker (a stop, a fatal error)."""
        wake(self.take_idle(len(self.idle)))

    def acknowledge(self, seq: int) -> int:
        """Without the lock: return once record ``seq`` is acknowledged (durable, unless the
        policy is ``never``), leading or joining the group commit; returns the durable seq.
        Raises :class:`NotAccepting` if the queue stops or closes first."""
        q = self.q
        try:
            q.wait_acknowledged(seq)
        except QueueStoppedError:
            raise NotAccepting("the queue stopped before the jobs became durable") from None
        return q.durable_seq

    def read_at(self, read: Callable[[], T]) -> tuple[T, int]:
        """``read()`` under the lock, and the seq of the last record written before it: once
        :meth:`durable_through` that seq, what the read says survives a crash."""
        with self.lock:
            return read(), self.q.last_seq

    def durable_through(self, seq: int) -> bool:
        """Without the lock: wait for the fsync that makes record ``seq`` durable (started at
        once under ``batch`` too); whether it is: False under ``fsync="never"`` (nothing waits
        for a sync there) or if the queue stopped first."""
        q = self.q
        if q.durable_seq >= seq:
            return True
        if q.fsync_policy == "never":
            return False
        try:
            q.wait_acknowledged(seq)
        except SimQueueError:
            return False
        return True

    def report(self, job: Job, outcome: Outcome) -> None:
        """Apply one attempt's result (fenced and counted as stale if the attempt is not the
        job's current one any more)."""
        q = self.q
        if outcome == "ok":
            if q.complete(job.id, job.attempt):
                self.finished(job.id, completed=True)
            else:
                self.metrics.stale.inc()
            return
        state = q.fail(job.id, job.attempt, outcome)
        if state is None:
            self.metrics.stale.inc()
            return
        (self.metrics.timeouts if outcome == "timeout" else self.metrics.failed).inc()
        if state is DEAD:
            self.finished(job.id, completed=False)
        else:
            wake(self.take_idle(1))

    def expire(self) -> None:
        """Time out every attempt past its deadline (RETRY or DEAD logged)."""
        with self.q.acks_deferred():
            expired = self.q.expire()
        for job_id in expired:
            self.metrics.timeouts.inc()
            # Gone from the table already: it went DEAD and a window of 0 forgot it at once.
            if job_id not in self.q or self.q.state_of(job_id) is DEAD:
                self.finished(job_id, completed=False)
        if expired:
            wake(self.take_idle(len(expired)))
            self.after()

    def finished(self, job_id: str, completed: bool) -> None:
        """Count a job that reached COMPLETED or DEAD, with its latency if it completed."""
        t0 = self.enqueued_at.pop(job_id, None)
        if completed:
            self.metrics.completed.inc()
            if t0 is not None:
                self.metrics.latency.observe(max(0.0, time.time() - t0))
        else:
            self.metrics.dead.inc()

    def status(self, workers: int) -> dict[str, Any]:
        """The queue's part of ``GET /status``: counts, sequence numbers, attempt statistics."""
        q = self.q
        return {
            "counts": q.counts(),
            "jobs": len(q),
            "workers": {"total": workers, "busy": self.busy},
            "seq": {"last": q.last_seq, "durable": q.durable_seq},
            "fsyncs": q.fs.stats.fsyncs,
            "dispatches": q.dispatches,
            "failures": q.failures,
            "timeouts": q.timeouts,
            "interruptions": q.interruptions,
            "stale_results": q.stale_results,
            "snapshots": q.snapshots_taken,
        }

    def gauges(self) -> dict[str, Any]:
        """What ``GET /metrics`` reads from the queue at scrape time (zeros once it closed)."""
        q = self.q
        if q.stopped:
            return {"pending": 0, "in_flight": 0, "fsyncs": 0, "durable_seq": 0}
        c = q.counts()
        return {
            "pending": c["pending"],
            "in_flight": c["in_flight"],
            "fsyncs": q.fs.stats.fsyncs,
            "durable_seq": q.durable_seq,
        }


def wake(sleepers: list[LockType]) -> None:
    """Wake the idle workers :meth:`SharedQueue.take_idle` took."""
    for sleeper in sleepers:
        sleeper.release()


__all__ = ["NotAccepting", "SharedQueue", "wake"]
