"""The controller of the original plan, as event handlers on the kernel.

The Go design ran four loops: dispatch, result, timeout and snapshot. Here each is a handler the
kernel calls at the right simulated instant:

* ``_arrive``    a job reaches the queue: ENQUEUE appended (acknowledged once durable)
* ``_dispatch``  one ready job to one idle worker: DISPATCH appended, the attempt starts
* ``_finish``    a worker reports: ACK, or RETRY / DEAD after a failure
* ``_deadline``  an attempt still running (or hung) at its deadline times out; worker reclaimed
* ``_late``      a cancelled attempt's result turns up after its deadline: fenced as STALE
* ``_sync``      the group-commit timer: one fsync makes a batch durable, its callers acknowledged
* ``_snapshot``  the periodic snapshot

All state lives in the :class:`~simqueue.core.queue.DurableQueue`; the engine keeps only what the
simulated world would (which workers are busy, which clients are waiting for an ack). A crash
throws the queue object away and clears the kernel; recovery opens the same files again.
"""

from __future__ import annotations

import heapq
import os
import random
from collections import deque
from typing import Any

from simqueue.core.clock import VirtualClock
from simqueue.core.jobs import DEAD as DEAD_STATE
from simqueue.core.jobs import PENDING as PENDING_STATE
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.core.storage import FileSystem
from simqueue.sim.config import Config
from simqueue.sim.kernel import Kernel
from simqueue.sim.trace import (
    ARRIVE,
    COMPLETE,
    CRASH,
    DEAD,
    DISPATCH,
    ENQUEUED,
    FAIL,
    RECOVER,
    RETRY,
    SNAPSHOT,
    STALE,
    SYNC,
    TIMEOUT,
    TraceTuple,
)
from simqueue.sim.workers import WorkModel

CRASH_KINDS = ("process", "power")


class Engine:
    """Dispatch / result / timeout / snapshot handlers around one durable queue."""

    def __init__(self, config: Config, data_dir: str) -> None:
        self.cfg = config
        self.data_dir = data_dir
        self.clock = VirtualClock()
        self.kernel = Kernel(self.clock)
        self.fs = FileSystem(real_fsync=config.durability == "real", track_power_loss=True)
        self.model = WorkModel(config)
        self.arrival_rng = random.Random(f"{config.seed}:arrivals")
        self.crash_rng = random.Random(f"{config.seed}:crash")
        self.trace: list[TraceTuple] = []
        self.recoveries: list[RecoveryReport] = []
        self.q: DurableQueue | None = None
        self.jobs_arrived = 0
        self._unacked: deque[tuple[int, str]] = deque()
        self._ack_seen = 0
        self._fsyncs_seen = 0
        self._busy_until = 0.0
        self._disk_free = 0.0
        self._dispatch_scheduled = False
        self._sync_scheduled = False
        # Idle workers, lowest number first. A worker is busy from its DISPATCH until the one
        # event that ends the attempt for it (_finish or _deadline, never both) hands it back.
        self._idle: list[int] = []
        self._ack_on_write = config.fsync == "never"
        self._group_commit = config.fsync == "batch"
        self._latency = config.fsync_latency > 0 and config.fsync != "never"
        self._plain_group_commit = self._group_commit and not self._latency
        # Handlers scheduled for every attempt, bound once (``self._finish`` would build a new
        # bound-method object at each use).
        self._on_finish = self._finish
        self._on_deadline = self._deadline
        self._on_late = self._late
        self._on_sync = self._sync
        self._first_outcomes = self.model.first_outcomes  # drawn at arrival, taken at dispatch
        self._next_gap = (
            config.arrival.sampler(self.arrival_rng) if config.arrival is not None else None
        )
        self._open_queue()
        self._start_world()

    # ------------------------------------------------------------------ lifecycle
    def _open_queue(self) -> DurableQueue:
        self.q = DurableQueue.open(
            self.data_dir, clock=self.clock, fs=self.fs, **self.cfg.queue_options()
        )
        self._ack_seen = self._ack_point()
        self._fsyncs_seen = self.fs.stats.fsyncs
        return self.q

    def _start_world(self) -> None:
        """(Re)start workers and timers after open or recovery."""
        self._idle = list(range(self.cfg.workers))
        self._dispatch_scheduled = False
        self._sync_scheduled = False
        now = self.clock.now()
        if self._next_gap is not None:
            self.kernel.set_source(now + self._next_gap(), self._arrive)
        if self.cfg.snapshot_interval is not None:
            self.kernel.schedule_daemon(now + self.cfg.snapshot_interval, self._snapshot)
        ready_at = self.q.next_ready_at()
        if ready_at is not None:
            self.kernel.schedule(ready_at, self._ready)
        self._want_dispatch()

    # ------------------------------------------------------------------ bookkeeping
    def _ack_point(self) -> int:
        q = self.q
        return q.written_seq if q.fsync_policy == "never" else q.durable_seq

    def _emit(
        self, kind: str, job_id: Any, attempt: Any, worker: Any, seq: Any, detail: Any = None
    ):
        self.trace.append(
            (self.clock._now, kind, job_id, attempt, worker, seq, self.q.writer.durable_seq, detail)
        )

    def _after_io(self) -> None:
        """Turn fsyncs that just happened into acknowledgements (and charged time)."""
        q = self.q
        if self._plain_group_commit:  # the default, after every event: the short way
            ack = q.writer.durable_seq
            if ack > self._ack_seen:
                self._ack_seen = ack
                self._acknowledge(ack, True)
            if not self._sync_scheduled and q._unsynced_since is not None:
                self._sync_scheduled = True
                self.kernel.schedule(q._unsynced_since + q.flush_interval, self._on_sync)
            return
        w = q.writer
        ack = w.written_seq if self._ack_on_write else w.durable_seq
        if self._latency:
            self._charge_fsyncs(ack)
        elif ack > self._ack_seen:
            self._ack_seen = ack
            self._acknowledge(ack, self._group_commit)
        if self._group_commit and not self._sync_scheduled and q._unsynced_since is not None:
            self._sync_scheduled = True
            self.kernel.schedule(q._unsynced_since + q.flush_interval, self._on_sync)

    def _charge_fsyncs(self, ack: int) -> None:
        """With a modeled fsync latency, acknowledgements wait for the disk."""
        fsyncs = self.fs.stats.fsyncs
        new_fsyncs = fsyncs - self._fsyncs_seen
        self._fsyncs_seen = fsyncs
        if not new_fsyncs:
            return
        now = self.clock._now
        latency = self.cfg.fsync_latency
        if self.q.fsync_policy == "always":  # the controller itself waits for each fsync
            self._busy_until = max(self._busy_until, now) + new_fsyncs * latency
            done = self._busy_until
        else:  # a committer fsyncs in the background; fsyncs queue up on the disk
            self._disk_free = max(self._disk_free, now) + new_fsyncs * latency
            done = self._disk_free
        if ack > self._ack_seen:
            self._ack_seen = ack
            self.kernel.schedule(done, self._acknowledge, ack, self._group_commit)

    def _acknowledge(self, upto: int, group_commit: bool) -> None:
        if self.q is None:
            return
        append = self.trace.append
        now = self.clock._now
        durable = self.q.writer.durable_seq
        if group_commit:
            append((now, SYNC, None, None, None, upto, durable, None))
        unacked = self._unacked
        while unacked and unacked[0][0] <= upto:
            seq, job_id = unacked.popleft()
            append((now, ENQUEUED, job_id, 0, None, seq, durable, None))

    def _deferred(self, action: Any, *args: Any) -> bool:
        """Under fsync="always" with a modeled fsync latency the controller is busy until its
        fsync returns: push the event back to then."""
        if self.clock._now < self._busy_until:
            self.kernel.schedule(self._busy_until, action, *args)
            return True
        return False

    def _want_dispatch(self) -> None:
        """Give ready jobs to idle workers, right now, in the handler that freed them; then,
        once per handler, turn new fsyncs into acknowledgements and arm the group-commit timer
        (:meth:`_after_io`)."""
        q = self.q
        idle = self._idle
        if idle and q._n_pending:
            if self._busy_until and self.clock._now < self._busy_until:
                if not self._dispatch_scheduled:
                    self._dispatch_scheduled = True
                    self.kernel.schedule(self._busy_until, self._dispatch)
            else:
                while idle and q._n_pending and self._dispatch_one():
                    pass
        self._after_io()

    # ------------------------------------------------------------------ arrivals
    def _arrive(self) -> None:
        """A job of the arrival process reaches the queue; the next arrival is scheduled."""
        self.kernel.source_time = self.clock._now + self._next_gap()
        if self._busy_until and self._deferred(self._admit):
            return
        self._admit()

    def _admit(self) -> None:
        """ENQUEUE a new job now (its first attempt's outcome drawn first) and dispatch."""
        self.jobs_arrived += 1
        job_id = f"job-{self.jobs_arrived}"
        self.model.draw_first(job_id)
        q = self.q
        seq = q.enqueue_new_id(job_id, job_id.encode())
        self._unacked.append((seq, job_id))
        self.trace.append(
            (self.clock._now, ARRIVE, job_id, 0, None, seq, q.writer.durable_seq, None)
        )
        self._want_dispatch()

    def admit_jobs(self, jobs: list[Any]) -> None:
        """Enqueue explicit jobs now (``Simulation.enqueue``), in order."""
        from simqueue.core.jobs import Job

        jobs = [j if isinstance(j, Job) else Job(str(j)) for j in jobs]
        for j in jobs:
            self.model.draw_first(j.id)
        last = self.q.enqueue_many(jobs)
        first = last - len(jobs) + 1
        for i, j in enumerate(jobs):
            self._unacked.append((first + i, j.id))
            self._emit(ARRIVE, j.id, 0, None, first + i)
        self.jobs_arrived += len(jobs)
        self._after_io()
        # Dispatch as the next event rather than inside this call, so a notebook that
        # enqueues and then steps sees each DISPATCH as a step of its own.
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self.kernel.schedule(self.clock._now, self._dispatch)

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        """Deferred dispatch (the controller was busy waiting for an fsync)."""
        self._dispatch_scheduled = False
        self._want_dispatch()

    def _dispatch_one(self) -> bool:
        """One ready job to the lowest-numbered idle worker: DISPATCH logged, attempt started."""
        idle = self._idle
        q = self.q
        out = q.dispatch_raw(idle[0])
        if out is None:
            return False
        worker = heapq.heappop(idle)
        job_id, attempt, deadline = out
        w = q.writer
        now = self.clock._now
        self.trace.append(
            (now, DISPATCH, job_id, attempt, worker, w.next_seq - 1, w.durable_seq, None)
        )
        first = self._first_outcomes.pop(job_id, None) if attempt == 1 else None
        service, fails, hangs = first or self.model.outcome(job_id, attempt)
        schedule = self.kernel.schedule
        if hangs:
            schedule(deadline, self._on_deadline, worker, job_id, attempt)
        elif now + service > deadline:
            schedule(deadline, self._on_deadline, worker, job_id, attempt)
            schedule(now + service, self._on_late, job_id, attempt, fails)
        else:
            schedule(now + service, self._on_finish, worker, job_id, attempt, fails)
        return True

    def _ready(self) -> None:
        """A backing-off job has become ready."""
        if self.q is None:
            return
        self._want_dispatch()
        nxt = self.q.next_ready_at()
        if nxt is not None and nxt > self.clock._now:
            self.kernel.schedule(nxt, self._ready)

    # ------------------------------------------------------------------ results
    def _finish(self, worker: int, job_id: str, attempt: int, fails: bool) -> None:
        if self._busy_until and self._deferred(self._finish, worker, job_id, attempt, fails):
            return
        heapq.heappush(self._idle, worker)
        q = self.q
        if fails:
            self._emit(FAIL, job_id, attempt, worker, None)
            state = q.fail(job_id, attempt)
            self._ended(job_id, attempt, state, "failed")
        elif q.complete(job_id, attempt):
            self.trace.append(
                (
                    self.clock._now,
                    COMPLETE,
                    job_id,
                    attempt,
                    worker,
                    q.writer.next_seq - 1,
                    q.writer.durable_seq,
                    None,
                )
            )
        else:
            self._emit(STALE, job_id, attempt, worker, None, "attempt no longer current")
        self._want_dispatch()

    def _ended(self, job_id: str, attempt: int, state: Any, reason: str) -> None:
        """Trace the queue's decision after a failed or timed-out attempt."""
        q = self.q
        if state is PENDING_STATE:
            ready_at = q._jobs[job_id].ready_at
            self._emit(RETRY, job_id, attempt, None, q.last_seq, ready_at)
            if ready_at > self.clock._now:
                self.kernel.schedule(ready_at, self._ready)
        elif state is DEAD_STATE:
            self._emit(DEAD, job_id, attempt, None, q.last_seq, reason)
        else:
            self._emit(STALE, job_id, attempt, None, None, "attempt no longer current")

    def _deadline(self, worker: int, job_id: str, attempt: int) -> None:
        if self._busy_until and self._deferred(self._deadline, worker, job_id, attempt):
            return
        heapq.heappush(self._idle, worker)
        state = self.q.timeout_attempt(job_id, attempt)
        if state is not None:
            self._emit(TIMEOUT, job_id, attempt, worker, None)
            self._ended(job_id, attempt, state, "timeout")
            self._want_dispatch()
        else:
            self._want_dispatch()

    def _late(self, job_id: str, attempt: int, fails: bool) -> None:
        """The result of an attempt that was cancelled at its deadline arrives anyway."""
        q = self.q
        ok = q.fail(job_id, attempt) if fails else q.complete(job_id, attempt)
        if ok in (None, False):
            rec = q._jobs[job_id]
            why = f"job is {rec.state.value}, current attempt {rec.attempt}"
            self._emit(STALE, job_id, attempt, None, None, why)
        else:  # pragma: no cover - deadlines fire first, so a late result is always stale
            self._after_io()

    # ------------------------------------------------------------------ timers
    def _sync(self) -> None:
        self._sync_scheduled = False
        if self.q is None:
            return
        self.q.sync()  # this timer *is* the flush interval expiring
        self._after_io()

    def _snapshot(self) -> None:
        if self._busy_until and self._deferred(self._snapshot):
            return
        path = self.q.snapshot()
        self._emit(SNAPSHOT, None, None, None, self.q.last_seq, os.path.basename(path))
        self._after_io()
        self.kernel.schedule_daemon(self.clock._now + self.cfg.snapshot_interval, self._snapshot)

    # ------------------------------------------------------------------ crash and recovery
    def crash(self, kind: str, tear: str) -> dict[str, Any]:
        """Kill the queue: user-space buffers and every scheduled event are gone; for a power
        crash the files are also cut back to what was fsynced (torn per ``tear``)."""
        q = self.q
        info = {
            "kind": kind,
            "tear": tear,
            "time": self.clock.now(),
            "written_seq": q.written_seq,
            "durable_seq": q.durable_seq,
            "last_seq": q.last_seq,
            "unacknowledged": len(self._unacked),
        }
        q.abandon()
        if kind == "power":
            report = self.fs.power_loss(self.crash_rng, tear)
            info["files_cut"] = {k: v for k, v in report.files_cut.items()}
            info["dir_ops_undone"] = list(report.dir_ops_undone)
            lost_from = q.durable_seq
        else:
            lost_from = q.written_seq
        text = (
            f"{kind} crash"
            + (f" (tear={tear})" if kind == "power" else "")
            + f": memory lost; written up to seq {q.written_seq}, durable up to seq "
            f"{q.durable_seq}; records after seq {lost_from} may be gone"
        )
        self.trace.append(
            (self.clock.now(), CRASH, None, None, None, q.last_seq, q.durable_seq, text)
        )
        self.kernel.clear()
        self._unacked.clear()
        self._idle = []
        self._busy_until = 0.0
        self._disk_free = 0.0
        self.q = None
        return info

    def recover(self) -> RecoveryReport:
        """Restart: wait ``restart_delay``, run the real recovery, charge its measured time."""
        self.clock.advance_by(self.cfg.restart_delay)
        q = self._open_queue()
        report = q.recovery
        assert report is not None
        report.downtime = self.cfg.restart_delay + report.wall_seconds
        self.clock.advance_by(report.wall_seconds)
        self.recoveries.append(report)
        self.trace.append(
            (
                self.clock.now(),
                RECOVER,
                None,
                None,
                None,
                q.last_seq,
                q.durable_seq,
                report.describe(),
            )
        )
        self._start_world()
        return report
