"""The bodies of the server's threads; each works on the :class:`SharedQueue` under its lock,
and none holds the lock across a write of the log or an fsync (its operations run inside
:meth:`DurableQueue.acks_deferred`; under ``always`` it waits for its records after releasing the
lock, in the queue's group commit).

* a **worker** reports the result of its last attempt (ACK, or RETRY/DEAD) and takes the next ready
  job (DISPATCH logged first) in one critical section; under ``always`` it waits for the fsync
  covering both (the HTTP loop's next one while the loop is busy, :mod:`simqueue.service.follow`),
  then runs the attempt outside the lock: a no-op job costs one lock round trip and a share of one
  fsync. A worker that dispatches while more jobs are ready wakes the next idle worker, unless one
  is already on its way (``SharedQueue.waking``): an enqueue wakes one worker, and a burst of jobs
  wakes the others one after another.
* the **timeout loop** times out attempts whose deadline passed. A worker that later reports on
  such an attempt is *stale*: fenced, counted, never applied.
* the **snapshot loop** writes a snapshot every ``snapshot_interval`` seconds, without the
  server's lock (the queue's own locks order it with appends and the group commit).
* the **batch timer** (``fsync="batch"``) fsyncs the records nobody waits for (the workers'
  DISPATCH and ACK) once the oldest is ``flush_interval`` old or ``batch_size`` wait; an enqueue
  never waits for it: it starts or joins the group commit itself.
"""

from __future__ import annotations

import logging
import threading
import time

from simqueue.core.jobs import Job
from simqueue.service.shared import SharedQueue, wake
from simqueue.service.work import Outcome, Released, Work

logger = logging.getLogger(__name__)

#: Longest wait of a loop before it looks again (a stop or a new deadline needs no wake-up).
_POLL = 0.25


def worker_loop(shared: SharedQueue, w: int, work: Work, stop_requested: threading.Event) -> None:
    """Worker ``w``: dispatch, run, report, until the server stops dispatching."""
    q = shared.q
    always = q.fsync_policy == "always"
    result: tuple[Job, Outcome] | None = None
    while True:
        with shared.lock, q.acks_deferred():
            if q.stopped:  # closed under a handler that outlived the grace period
                return
            if result is not None:
                shared.busy -= 1
                shared.report(*result)
                result = None
            job = _next_job(shared, w, stop_requested)
            if job is not None:
                shared.busy += 1
                shared.metrics.dispatched.inc()
                attempt = work.prepare(job)
            shared.after()
            seq = q.last_seq
        if always:  # the ACK and DISPATCH are durable before the next attempt runs
            shared.commits.wait_durable(seq)
        if job is None:
            return
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
            if shared.q.ready_now and not shared.waking:
                wake(shared.take_idle(1))  # the next worker, for the next ready job
            return job
        shared.after()
        ready_at = shared.q.next_ready_at()
        wait = 1.0 if ready_at is None else min(1.0, ready_at - time.time())
        if wait > 0:
            shared.park(wait)
    return None


def timeout_loop(shared: SharedQueue, halt: threading.Event) -> None:
    """Expire attempts at their deadlines, waking a little after the next one."""
    q = shared.q
    always = q.fsync_policy == "always"
    while not halt.is_set():
        with shared.lock:
            if q.stopped:
                return
            shared.expire()
            nxt = q.next_deadline()
            seq = q.last_seq
        if always:
            q.wait_acknowledged(seq)
        wait = _POLL if nxt is None else min(_POLL, max(0.002, nxt - time.time()))
        halt.wait(wait)


def snapshot_loop(shared: SharedQueue, halt: threading.Event, interval: float) -> None:
    """A snapshot every ``interval`` seconds until ``halt``."""
    while not halt.wait(interval):
        if shared.q.stopped:
            return
        # Not under the server's lock: the queue's own locks keep it consistent, and requests
        # and workers go on while its files are written and fsynced.
        path = shared.q.snapshot()
        shared.metrics.snapshots.inc()
        logger.debug("snapshot written: %s", path)


def commit_loop(shared: SharedQueue) -> None:
    """The ``batch`` timer: a group commit once the pending one falls due (``flush_interval``
    after its oldest record, or at once when ``batch_size`` records wait), run outside the lock
    and shared with any enqueue waiting for its acknowledgement."""
    q = shared.q
    while True:
        with shared.lock:
            if not shared.committing or q.stopped:
                return
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
