"""The bodies of the server's threads; each works on the :class:`SharedQueue` under its lock.

* a **worker** reports the result of its last attempt (ACK, or RETRY/DEAD) and takes the next
  ready job (DISPATCH logged first) in one critical section, then runs the attempt outside the
  lock: a no-op job costs one lock round trip.
* the **timeout loop** times out attempts whose deadline passed. A worker that later reports on
  such an attempt is *stale*: fenced, counted, never applied.
* the **snapshot loop** writes a snapshot every ``snapshot_interval`` seconds.
* the **committer** (group commit, ``fsync="batch"``) sleeps until the oldest unsynced record is
  ``flush_interval`` old, fsyncs once, and wakes every enqueuer whose records that made durable.
"""

from __future__ import annotations

import logging
import threading
import time

from simqueue.core.jobs import Job
from simqueue.service.shared import SharedQueue
from simqueue.service.work import Outcome, Released, Work

logger = logging.getLogger(__name__)

#: Longest wait of a loop before it looks again (a stop or a new deadline needs no wake-up).
_POLL = 0.25


def worker_loop(shared: SharedQueue, w: int, work: Work, stop_requested: threading.Event) -> None:
    """Worker ``w``: dispatch, run, report, until the server stops dispatching."""
    result: tuple[Job, Outcome] | None = None
    while True:
        with shared.lock:
            if shared.q.stopped:  # closed under a handler that outlived the grace period
                return
            if result is not None:
                shared.busy -= 1
                shared.report(*result)
                result = None
            job = _next_job(shared, w, stop_requested)
            if job is None:
                shared.after()
                return
            shared.busy += 1
            shared.metrics.dispatched.inc()
            attempt = work.prepare(job)
            shared.after()
        try:
            result = (job, attempt())
        except Released:
            with shared.lock:
                shared.busy -= 1
            return


def _next_job(shared: SharedQueue, w: int, stop_requested: threading.Event) -> Job | None:
    """Under the lock: the next ready job (DISPATCH logged), waiting while there is none; None
    once the server stops dispatching."""
    while shared.dispatching and not stop_requested.is_set():
        job = shared.q.dispatch(w)
        if job is not None:
            return job
        shared.after()
        ready_at = shared.q.next_ready_at()
        wait = 1.0 if ready_at is None else min(1.0, ready_at - time.time())
        if wait > 0:
            shared.work.wait(wait)
    return None


def timeout_loop(shared: SharedQueue, halt: threading.Event) -> None:
    """Expire attempts at their deadlines, waking a little after the next one."""
    while not halt.is_set():
        with shared.lock:
            if shared.q.stopped:
                return
            shared.expire()
            nxt = shared.q.next_deadline()
        wait = _POLL if nxt is None else min(_POLL, max(0.002, nxt - time.time()))
        halt.wait(wait)


def snapshot_loop(shared: SharedQueue, halt: threading.Event, interval: float) -> None:
    """A snapshot every ``interval`` seconds until ``halt``."""
    while not halt.wait(interval):
        with shared.lock:
            if shared.q.stopped:
                return
            path = shared.q.snapshot()
            shared.metrics.snapshots.inc()
            shared.after()
        logger.debug("snapshot written: %s", path)


def commit_loop(shared: SharedQueue) -> None:
    """Group commit: one fsync per ``flush_interval`` for everything written meanwhile."""
    q = shared.q
    with shared.lock:
        while shared.committing and not q.stopped:
            due = q.sync_due_at
            if due is None:
                shared.commit_idle = True
                shared.commit.wait(1.0)
                shared.commit_idle = False
                continue
            delay = due - time.time()
            if delay > 0:
                shared.commit.wait(delay)
                continue
            q.sync()
            shared.after()


def drain(workers: list[threading.Thread], grace: float, abort: threading.Event) -> None:
    """Give running attempts ``grace`` seconds (or until ``abort``: a second signal) to finish,
    then set ``abort`` so simulated attempts give up; a real handler cannot be interrupted."""
    end = time.monotonic() + grace
    while any(t.is_alive() for t in workers) and time.monotonic() < end and not abort.is_set():
        for t in workers:
            t.join(min(0.05, max(0.0, end - time.monotonic())))
    if any(t.is_alive() for t in workers):
        abort.set()
        for t in workers:
            t.join(0.5)


__all__ = ["commit_loop", "drain", "snapshot_loop", "timeout_loop", "worker_loop"]
