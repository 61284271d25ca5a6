"""The event loop of :meth:`Simulation.run_until`, with what every job goes through handled in
line: its arrival, its dispatch, its success, and the group commit that acknowledges it.

A job of the reference model (``benchmarks/bench_simulation.py``) is an arrival, a dispatch and
a success; through the controller's handlers (:mod:`simqueue.sim.controller`) each goes down
through the queue's operation, the WAL writer, the table's effect and the commit policy, some
forty Python calls a job. Here the same steps run in one place: the record framed into the
writer's buffer, the table's maps and counters changed, the group-commit window checked, the
trace appended. Everything else (failures, timeouts, late results, retries coming due,
snapshots, crashes, restarts) and every uncommon case (a queue under ``always`` or ``never``,
whose controller times its own fsyncs; a snapshot capture in progress; an id a user took) goes
to the controller's handlers, as :meth:`Simulation.step` sends every event. A retention window
retires finished jobs here as the table's ACK does.

Each in-line step mirrors the handler it replaces, statement for statement:

=====================  ================================================================
here                   the handler and the queue operations it replaces
=====================  ================================================================
an arrival             ``Controller._arrive`` and ``_admit``, ``WorkModel.draw_first``,
                       ``DurableQueue.enqueue_new_id_unlocked``, ``JobTable._on_enqueue``
a success              ``Controller._finish``, ``DurableQueue.complete_unlocked``,
                       ``JobTable._on_ack``
``dispatch_ready``     ``Controller._want_dispatch`` and ``_dispatch_one``,
                       ``DurableQueue.dispatch_raw_unlocked``, ``JobTable._on_dispatch``,
                       ``Kernel.schedule``
``settle``             ``Controller._after_io`` and ``_charge_fsyncs`` under ``batch``
a count window         ``Retention.finished``
the flush timer        ``Controller._sync``
=====================  ================================================================

``tests/sim/test_hot_loop.py`` holds the two to one another: a run through this loop and the
same run stepped event by event through the handlers leave the same trace, acknowledgements,
samples and files, byte for byte, over failures, hangs, retries, crashes, snapshots, retention
and every fsync policy. It is one long function with everything it touches bound to local
names because that is what makes it fast (``python -m benchmarks.bench_simulation``).
"""

from __future__ import annotations

import heapq
import math
import sys
from collections import deque
from typing import TYPE_CHECKING, Protocol

from simqueue.core.jobs import COMPLETED, IN_FLIGHT, JobRecord
from simqueue.core.wal import ACK, DISPATCH, ENQUEUE, NO_TIMEOUT, WALWriter
from simqueue.sim.trace import ARRIVE, COMPLETE
from simqueue.sim.trace import DISPATCH as DISPATCH_EVENT

if TYPE_CHECKING:
    from simqueue.sim.engine import Engine


class Sampler(Protocol):
    """What the loop samples the state with (the :class:`~simqueue.sim.simulation.Simulation`)."""

    _next_sample: float

    def _sample_until(self, t: float) -> None: ...


def run_until(engine: Engine, t: float, sampler: Sampler) -> None:
    """Run every event up to simulated time ``t``, recording the state samples that fall due
    (``sampler._sample_until``) before the first event at or after each sample time."""
    while not _run_life(engine, t, sampler):
        pass  # a crash or a recovery changed the controller: bind the new one
    if t >= sampler._next_sample:
        sampler._sample_until(t)
    engine.clock._now = t


# hot loop: one function, so that all it touches is a local name (benchmarks/bench_simulation.py)
def _run_life(engine: Engine, t: float, sampler: Sampler) -> bool:
    """Events up to ``t`` while the controller stays the same; True once ``t`` is reached."""
    kernel = engine.kernel
    heap = kernel._heap
    clock = kernel.clock
    pop = heapq.heappop
    push = heapq.heappush
    ctrl = engine._live
    next_sample = sampler._next_sample
    if ctrl is None or not ctrl._group_commit:  # down, or ``always`` / ``never``: no hot path
        while (time := kernel.peek()) <= t:
            if time >= sampler._next_sample:
                sampler._sample_until(time)
            kernel.step()
            if engine._live is not ctrl:
                return False
        return True

    q = ctrl.q
    w = q.writer
    c = q._committer
    buf = w._buf
    # Looked up where the writer looks it up, so whatever the writer frames with (the C codec,
    # the pure-Python one, a benchmark's stand-in) frames these records too.
    frame = vars(sys.modules[WALWriter.__module__])["frame_into"]
    jobs = q._jobs
    ready = q._ready
    delayed = q._delayed
    in_flight = q._in_flight
    next_ready = q._next_ready
    task_timeout = q.task_timeout
    retention = q._retention
    # A count window (the simulation's default) is kept here as ``Retention.finished`` keeps
    # it: the job joins the window and, once the window is full, the oldest leaves the table.
    # A window in seconds goes through ``finished`` itself.
    by_count = retention is not None and retention.seconds == math.inf
    window = retention._kept if retention is not None else deque()
    window_count = retention.count if retention is not None and retention.count is not None else 0
    idle = ctrl._idle
    unacked_append = ctrl._unacked.append
    trace_append = ctrl.trace.append
    first = ctrl._first_outcomes
    world = ctrl.world
    model = ctrl.model
    outcome = model.outcome
    sample_service = model._sample_service
    fate = model.failure_rng.random
    failure_rate = model.failure_rate
    hang_rate = model.hang_rate
    next_gap = ctrl._next_gap
    token_base = ctrl._token_base
    finish = ctrl._on_finish
    on_deadline = ctrl._on_deadline
    on_late = ctrl._on_late
    on_sync = ctrl._on_sync
    acknowledge = ctrl._acknowledge
    flush_interval = q.flush_interval
    counter = kernel._counter
    stats = ctrl.fs.stats
    disk = ctrl._disk
    latency = ctrl._latency

    def dispatch_ready(now: float) -> None:
        """Ready jobs to the lowest idle workers (DISPATCH framed, attempt scheduled), then
        the commit's acknowledgements and timer through the controller if there are any."""
        while idle and q._n_pending:
            if delayed and delayed[0][0] <= now:  # a backed-off job may be due: order them
                rec = next_ready(now)
                if rec is None:
                    break
            elif ready:
                rec = next(iter(ready.values()))
            else:
                break  # every pending job is backing off
            worker = idle[0]
            attempt = rec.attempt + 1
            deadline = now + (rec.timeout if rec.timeout is not None else task_timeout)
            seq = w.next_seq
            frame(buf, DISPATCH, seq, now, attempt, worker, deadline, 0, rec.id_bytes, b"")
            w.next_seq = seq + 1
            job_id = rec.id
            ready.pop(job_id, None)  # one taken from the delayed heap is not in it
            q._n_pending -= 1
            rec.state = IN_FLIGHT
            rec.attempt = attempt
            rec.worker = worker
            rec.deadline = deadline
            if rec.first_dispatch_at is None:
                rec.first_dispatch_at = now
            in_flight[job_id] = rec
            q.dispatches += 1
            if seq >= c.due_seq or now >= c.due_time:
                c.commit(now)
            pop(idle)
            token = token_base + attempt
            trace_append((now, DISPATCH_EVENT, job_id, attempt, worker, seq, w.durable_seq, token))
            drawn = first.pop(job_id, None) if attempt == 1 else None
            service, fails, hangs = drawn or outcome(job_id, attempt)
            done = now + service
            if hangs or done > deadline:
                push(heap, (deadline, next(counter), on_deadline, (worker, job_id, attempt), False))
                kernel._work += 1
                if hangs:
                    continue
                push(heap, (done, next(counter), on_late, (job_id, attempt, fails), False))
            else:
                push(heap, (done, next(counter), finish, (worker, job_id, attempt, fails), False))
            kernel._work += 1
        settle(now)

    def settle(now: float) -> None:
        """``Controller._after_io`` under ``batch``: new fsyncs charged on the modeled disk
        and their acknowledgements scheduled for when it is done (at once on a disk that
        takes no time), then the group-commit timer armed if a window is open."""
        if latency:
            if stats.fsyncs != disk.files or stats.dir_fsyncs != disk.dirs:
                done = disk.charge(stats, now)
                ack = w.durable_seq
                if ack > ctrl._ack_seen:
                    ctrl._ack_seen = ack
                    push(
                        heap,
                        (
                            done if done > now else now,
                            next(counter),
                            acknowledge,
                            (ack, True),
                            False,
                        ),
                    )
                    kernel._work += 1
        elif w.durable_seq > ctrl._ack_seen:
            ctrl._ack_seen = ack = w.durable_seq
            acknowledge(ack, True)
        since = c.unsynced_since
        if since is not None and not ctrl._sync_scheduled:
            ctrl._sync_scheduled = True
            due = since + flush_interval
            push(heap, (due if due > now else now, next(counter), on_sync, (), False))
            kernel._work += 1

    while True:
        source_time = kernel.source_time
        if heap and heap[0][0] < source_time:
            time = heap[0][0]
            if time > t:
                return True
            _, _, action, args, daemon = pop(heap)
            if not daemon:
                kernel._work -= 1
            if time >= next_sample:
                sampler._sample_until(time)
                next_sample = sampler._next_sample
            clock._now = time
            if action is finish:  # an attempt reports: a success is ACKed here
                worker, job_id, attempt, fails = args
                rec = in_flight.get(job_id)
                if (
                    fails
                    or rec is None
                    or rec.attempt != attempt
                    or q._capture is not None
                    or q._stopped is not None
                    or q._closed
                ):
                    ctrl._finish(worker, job_id, attempt, fails)
                else:
                    push(idle, worker)
                    seq = w.next_seq
                    frame(buf, ACK, seq, time, attempt, -1, 0.0, 0, rec.id_bytes, b"")
                    w.next_seq = seq + 1
                    del in_flight[job_id]
                    rec.state = COMPLETED
                    rec.finished_at = time
                    q._n_completed += 1
                    q._finished_since_snapshot.append(rec)
                    if by_count:
                        window.append(rec)
                        if len(window) > window_count:
                            gone = window.popleft()
                            retention.retired += 1  # type: ignore[union-attr]  # by_count
                            if jobs.get(gone.id) is gone:
                                del jobs[gone.id]
                    elif retention is not None:
                        retention.finished(rec, time, jobs)
                    if seq >= c.due_seq or time >= c.due_time:
                        c.commit(time)
                    trace_append(
                        (time, COMPLETE, job_id, attempt, worker, seq, w.durable_seq, None)
                    )
                    dispatch_ready(time)
                    continue
            elif action is on_sync:  # the group-commit timer: one fsync for the window
                ctrl._sync_scheduled = False
                q.sync_unlocked()
                settle(time)
            else:
                action(*args)
        elif source_time <= t:  # an arrival: its ENQUEUE is framed here
            time = source_time
            if time >= next_sample:
                sampler._sample_until(time)
                next_sample = sampler._next_sample
            clock._now = time
            kernel.source_time = time + next_gap()
            job_id = f"job-{world.jobs_arrived + 1 + ctrl._id_shift}"
            if (
                job_id in jobs
                or job_id in first
                or q._capture is not None
                or q._stopped is not None
                or q._closed
            ):
                ctrl._admit()
            else:
                world.jobs_arrived += 1
                first[job_id] = (sample_service(), fate() < failure_rate, fate() < hang_rate)
                id_bytes = job_id.encode()
                seq = w.next_seq
                frame(buf, ENQUEUE, seq, time, 0, -1, NO_TIMEOUT, 0, id_bytes, b"")
                w.next_seq = seq + 1
                rec = JobRecord(job_id, b"", None, time, seq, id_bytes)
                jobs[job_id] = rec
                q._n_pending += 1
                ready[job_id] = rec
                if seq >= c.due_seq or time >= c.due_time:
                    c.commit(time)
                unacked_append((seq, job_id, time))
                trace_append((time, ARRIVE, job_id, 0, None, seq, w.durable_seq, None))
                dispatch_ready(time)
                continue
        else:
            return True
        if engine._live is not ctrl:
            return False
