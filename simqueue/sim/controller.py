"""The controller of the original plan, as event handlers on the kernel, for one life of the queue.

The original plan's controller has four loops: dispatch, result, timeout and snapshot. Here each
is a handler the kernel calls at the right simulated instant:

* ``_arrive``    a job reaches the queue: ENQUEUE appended (acknowledged once durable)
* ``_dispatch``  one ready job to one idle worker: DISPATCH appended, the attempt starts
* ``_finish``    a worker reports: ACK, or RETRY / DEAD after a failure
* ``_deadline``  an attempt still running (or hung) at its deadline times out; worker reclaimed
* ``_late``      a cancelled attempt's result turns up after its deadline: fenced as STALE
* ``_sync``      the group-commit timer: one fsync makes a batch durable, its callers acknowledged
* ``_snapshot``  the periodic snapshot

(Results from before a crash are fenced by :mod:`simqueue.sim.orphans`; ``run_until`` handles
the common cases of these handlers in line, :mod:`simqueue.sim.hotloop`.) All durable state lives
in the :class:`~simqueue.core.queue.DurableQueue`; a :class:`Controller` keeps only what the
controller process would hold in memory (which workers are busy, which clients wait for an ack).
A crash throws the queue and its controller away together; recovery builds a new one on the
reopened queue. Every fsync costs the disk profile's latency in virtual time
(:mod:`simqueue.sim.disk_wait`); a client is acknowledged when its record's fsync returns.
"""

from __future__ import annotations

import heapq
import math
import os
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from simqueue.core.clock import VirtualClock
from simqueue.core.errors import SimQueueError
from simqueue.core.fencing import make_token
from simqueue.core.jobs import DEAD as DEAD_STATE
from simqueue.core.jobs import PENDING as PENDING_STATE
from simqueue.core.jobs import JobState
from simqueue.core.queue import DurableQueue
from simqueue.core.storage import FileSystem
from simqueue.sim.acklog import Acks
from simqueue.sim.config import Config
from simqueue.sim.disk_wait import DiskWait, Held
from simqueue.sim.kernel import Kernel
from simqueue.sim.trace import (
    ARRIVE,
    COMPLETE,
    DEAD,
    DISPATCH,
    ENQUEUED,
    FAIL,
    RETRY,
    SNAPSHOT,
    STALE,
    SYNC,
    TIMEOUT,
)
from simqueue.sim.tracelog import Trace
from simqueue.sim.workers import WorkModel


class World(Protocol):
    """The simulated world a controller runs in, which outlives its crashes (the engine)."""

    cfg: Config
    clock: VirtualClock
    kernel: Kernel
    fs: FileSystem
    model: WorkModel
    trace: Trace
    acks: Acks
    jobs_arrived: int
    fenced: int
    next_gap: Callable[[], float] | None
    disk_wait: DiskWait


def _no_arrival_process() -> float:
    raise SimQueueError("this configuration has no arrival process")


class Controller:
    """Dispatch / result / timeout / snapshot handlers around one open durable queue."""

    def __init__(self, world: World, q: DurableQueue) -> None:
        config = world.cfg
        self.q = q
        self.cfg = config
        self.world = world
        self.clock = world.clock
        self.kernel = world.kernel
        self.fs = world.fs
        self.model = world.model
        self.trace = world.trace
        #: Clients waiting for an acknowledgement: (ENQUEUE seq, job id, arrived at).
        self._unacked: deque[tuple[int, str, float]] = deque()
        self._acks = world.acks
        self._ack_seen = q.written_seq if q.fsync_policy == "never" else q.durable_seq
        self._disk = world.disk_wait
        self._disk.seen(self.fs.stats)
        #: Tokens of this life are ``_token_base + attempt`` (core/fencing.py).
        self._token_base = make_token(q.epoch, 0)
        self._busy_until = 0.0
        self._held = Held()
        self._dispatch_scheduled = False
        self._sync_scheduled = False
        # Idle workers, lowest number first. A worker is busy from its DISPATCH until the one
        # event that ends the attempt for it (_finish or _deadline, never both) hands it back.
        self._idle: list[int] = []
        self._ack_on_write = config.fsync == "never"
        self._group_commit = config.fsync == "batch"
        self._latency = self._disk.charges and config.fsync != "never"
        self._plain_group_commit = self._group_commit and not self._latency
        # Handlers scheduled for every attempt, bound once (``self._finish`` would build a new
        # bound-method object at each use).
        self._on_finish = self._finish
        self._on_deadline = self._deadline
        self._on_late = self._late
        self._on_sync = self._sync
        self._first_outcomes = self.model.first_outcomes  # drawn at arrival, taken at dispatch
        self._next_gap = world.next_gap or _no_arrival_process
        #: Arrival ``n`` is ``job-<n + _id_shift>``: shifted past ids the user enqueued.
        self._id_shift = 0

    @property
    def unacknowledged(self) -> int:
        """Enqueued jobs whose clients still wait for an acknowledgement."""
        return len(self._unacked)

    def start(self) -> None:
        """Start workers and timers on the freshly opened (or recovered) queue; an arrival
        already drawn (while the queue was down) keeps its time."""
        self._idle = list(range(self.cfg.workers))
        now = self.clock.now()
        if self.world.next_gap is not None:
            pending = self.kernel.source_time
            self.kernel.set_source(
                pending if pending != math.inf else now + self._next_gap(), self._arrive
            )
        interval = self.cfg.snapshot_interval
        if interval is not None:
            self.kernel.schedule_daemon(now + interval, self._snapshot, interval)
        ready_at = self.q.next_ready_at()
        if ready_at is not None:
            self.kernel.schedule(ready_at, self._ready)
        self._want_dispatch()

    # ------------------------------------------------------------------ bookkeeping
    def _emit(
        self,
        kind: str,
        job_id: str | None,
        attempt: int | None,
        worker: int | None,
        seq: int | None,
        detail: Any = None,
    ) -> None:
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
        """Acknowledgements wait for the disk: each new fsync's latency is charged."""
        stats, disk = self.fs.stats, self._disk
        if stats.fsyncs == disk.files and stats.dir_fsyncs == disk.dirs:
            return  # no new fsync: the short way, after most events
        now = self.clock._now
        if self.q.fsync_policy == "always":  # the controller itself waits for each fsync
            done = self._busy_until = disk.charge(stats, max(self._busy_until, now))
        else:  # a committer fsyncs in the background; fsyncs queue up on the disk
            done = disk.charge(stats, now)
        if ack > self._ack_seen:
            self._ack_seen = ack
            self.kernel.schedule(done, self._acknowledge, ack, self._group_commit)

    def _acknowledge(self, upto: int, group_commit: bool) -> None:
        append = self.trace.append
        now = self.clock._now
        durable = self.q.writer.durable_seq
        if group_commit:
            append((now, SYNC, None, None, None, upto, durable, None))
        unacked = self._unacked
        add = self._acks.add
        while unacked and unacked[0][0] <= upto:
            seq, job_id, arrived = unacked.popleft()
            append((now, ENQUEUED, job_id, 0, None, seq, durable, None))
            add(job_id, arrived, now)

    def _deferred(self, action: Callable[..., None], *args: Any) -> bool:
        """Under fsync="always" the controller is busy until its fsync returns: an event that
        comes meanwhile, or while earlier ones still wait, waits its turn (first come, first
        served: a later event never overtakes an earlier one)."""
        held = self._held
        if not held.holds(self.clock._now, self._busy_until):
            return False
        held.events.append((action, args))
        self._arm_drain()
        return True

    def _drain(self) -> None:
        self._held.run(lambda: self.clock._now >= self._busy_until)
        self._arm_drain()

    def _arm_drain(self) -> None:
        if (held := self._held).events and not held.armed:
            held.armed = True
            self.kernel.schedule(self._busy_until, self._drain)

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

    def _admit(self, job_id: str | None = None, arrived: float | None = None) -> None:
        """ENQUEUE a new job now (its first attempt's outcome drawn first) and dispatch.
        ``job_id``/``arrived``: a client that waited through an outage, with its own id if it
        had one."""
        q = self.q
        if job_id is None:
            world = self.world
            world.jobs_arrived += 1
            job_id = f"job-{world.jobs_arrived + self._id_shift}"
            if job_id in q._jobs:  # a user enqueued it: the fast path below checks no duplicates
                job_id = self._free_arrival_id()
        if job_id not in self._first_outcomes:
            self.model.draw_first(job_id)
        seq = q.enqueue_new_id_unlocked(job_id, job_id.encode())
        self._unacked.append((seq, job_id, self.clock._now if arrived is None else arrived))
        self.trace.append(
            (self.clock._now, ARRIVE, job_id, 0, None, seq, q.writer.durable_seq, None)
        )
        self._want_dispatch()

    def _free_arrival_id(self) -> str:
        """The next ``job-<n>`` no job has, shifting every later arrival's number past it (a
        bounded search: one step per job that has one of those ids)."""
        jobs = self.q._jobs
        n = self.world.jobs_arrived
        while f"job-{n + self._id_shift}" in jobs:
            self._id_shift += 1
        return f"job-{n + self._id_shift}"

    # ------------------------------------------------------------------ dispatch
    def dispatch_soon(self) -> None:
        """Dispatch as the next event (``Simulation.enqueue``: each DISPATCH a step)."""
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            self.kernel.schedule(self.clock._now, self._dispatch)

    def _dispatch(self) -> None:
        """Deferred dispatch (the controller was busy waiting for an fsync)."""
        self._dispatch_scheduled = False
        self._want_dispatch()

    def _dispatch_one(self) -> bool:
        """One ready job to the lowest-numbered idle worker: DISPATCH logged, attempt started."""
        idle = self._idle
        q = self.q
        out = q.dispatch_raw_unlocked(idle[0])
        if out is None:
            return False
        worker = heapq.heappop(idle)
        job_id, attempt, deadline = out
        w = q.writer
        now = self.clock._now
        token = self._token_base + attempt
        self.trace.append(
            (now, DISPATCH, job_id, attempt, worker, w.next_seq - 1, w.durable_seq, token)
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
            state = q.fail_unlocked(job_id, attempt)
            self._ended(job_id, attempt, state, "failed")
        elif q.complete_unlocked(job_id, attempt):
            w = q.writer
            seq = w.next_seq - 1
            self.trace.append(
                (self.clock._now, COMPLETE, job_id, attempt, worker, seq, w.durable_seq, None)
            )
        else:
            self._emit(STALE, job_id, attempt, worker, None, "attempt no longer current")
        self._want_dispatch()

    def _ended(self, job_id: str, attempt: int, state: JobState | None, reason: str) -> None:
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
        state = self.q.timeout_attempt_unlocked(job_id, attempt)
        if state is not None:
            self._emit(TIMEOUT, job_id, attempt, worker, None)
            self._ended(job_id, attempt, state, "timeout")
        self._want_dispatch()

    def _late(self, job_id: str, attempt: int, fails: bool) -> None:
        """A result after its attempt's deadline (held behind it under ``always``): stale."""
        if self._busy_until and self._deferred(self._late, job_id, attempt, fails):
            return
        q = self.q
        rec = q._jobs.get(job_id)
        if rec is None:  # finished since, and forgotten by the retention window
            self._emit(STALE, job_id, attempt, None, None, "job finished and was forgotten")
            return
        ok = q.fail_unlocked(job_id, attempt) if fails else q.complete_unlocked(job_id, attempt)
        if ok not in (None, False):
            raise SimQueueError(f"job {job_id}: attempt {attempt} ended after its deadline")
        why = f"job is {rec.state.value}, current attempt {rec.attempt}"
        self._emit(STALE, job_id, attempt, None, None, why)

    # ------------------------------------------------------------------ timers
    def _sync(self) -> None:
        self._sync_scheduled = False
        self.q.sync_unlocked()  # this timer *is* the flush interval expiring
        self._after_io()

    def _snapshot(self, interval: float) -> None:
        if self._busy_until and self._deferred(self._snapshot, interval):
            return
        path = self.q.snapshot()
        self._emit(SNAPSHOT, None, None, None, self.q.last_seq, os.path.basename(path))
        self._after_io()
        self.kernel.schedule_daemon(self.clock._now + interval, self._snapshot, interval)
