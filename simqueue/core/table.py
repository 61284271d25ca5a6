"""The job table: every job a queue knows and where it is, in memory.

The table applies transitions and answers questions; it never writes. Whoever changes it (the
live operations of :class:`~simqueue.core.queue.DurableQueue`, :mod:`simqueue.core.replay`,
:mod:`simqueue.core.retry`) appends the transition's WAL record first, then calls the matching
``_on_*`` effect, so a transition means the same thing live and after a crash.

Pending jobs are kept in two places: ``_ready`` (a dict, in the order jobs became ready, so its
head is the next to dispatch) and ``_delayed`` (a heap of ``(ready_at, ready_seq, id)`` for jobs
backing off). A heap entry is stale once its job was dispatched or re-queued since, or has
left the retention window (the table no longer knows its id); stale entries are skipped
lazily. ``_in_flight`` holds exactly the IN_FLIGHT jobs, in dispatch order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from simqueue.core.capture import LiveCapture
from simqueue.core.errors import UnknownJobError
from simqueue.core.jobs import COMPLETED, DEAD, IN_FLIGHT, PENDING, JobInfo, JobRecord, JobState
from simqueue.core.retention import Retention
from simqueue.core.snapshot import SnapshotState


class JobTable:
    """Jobs by id, the pending order, the in-flight set, and the counters snapshots keep.

    Every counter but ``stale_results`` and ``snapshots_taken`` is counted by the effects, so it
    follows from the snapshot and the log; a stale result writes no record, so after a crash
    only those up to the adopted snapshot are known."""

    def __init__(self, retention: Retention | None = None) -> None:
        self._jobs: dict[str, JobRecord] = {}
        #: The window of finished jobs kept (None: every job is kept).
        self._retention = retention
        self._ready: dict[str, JobRecord] = {}
        self._delayed: list[tuple[float, int, str]] = []
        self._in_flight: dict[str, JobRecord] = {}
        self._n_pending = 0
        self._n_completed = 0
        self._n_dead = 0
        #: Jobs that reached COMPLETED or DEAD since the last snapshot (its next chunk).
        self._finished_since_snapshot: list[JobRecord] = []
        self.stale_results = 0
        self.timeouts = 0
        self.failures = 0
        self.interruptions = 0
        self.dispatches = 0
        self.snapshots_taken = 0
        #: The snapshot capture being encoded, if any: every effect that changes a record
        #: lets it keep the record's row first (:mod:`simqueue.core.capture`).
        self._capture: LiveCapture | None = None

    # ------------------------------------------------------------------ effects
    def _on_enqueue(
        self,
        job_id: str,
        payload: bytes,
        timeout: float | None,
        t: float,
        seq: int,
        id_bytes: bytes | None = None,
    ) -> None:
        rec = JobRecord(job_id, payload, timeout, t, seq, id_bytes)
        self._jobs[job_id] = rec
        self._n_pending += 1
        self._ready[job_id] = rec

    def _on_dispatch(
        self, rec: JobRecord, t: float, attempt: int, worker: int, deadline: float
    ) -> None:
        # A job dispatched out of the delayed heap leaves a stale heap entry behind.
        if self._capture is not None:
            self._capture.preserve(rec)
        self._ready.pop(rec.id, None)
        self._n_pending -= 1
        rec.state = IN_FLIGHT
        rec.attempt = attempt
        rec.worker = worker
        rec.deadline = deadline
        if rec.first_dispatch_at is None:
            rec.first_dispatch_at = t
        self._in_flight[rec.id] = rec
        self.dispatches += 1

    def _on_ack(self, rec: JobRecord, t: float) -> None:
        if self._capture is not None:
            self._capture.preserve(rec)
        del self._in_flight[rec.id]
        rec.state = COMPLETED
        rec.finished_at = t
        self._n_completed += 1
        self._finished_since_snapshot.append(rec)
        if self._retention is not None:
            self._retention.finished(rec, t, self._jobs)

    def _on_retry(self, rec: JobRecord, t: float, seq: int, ready_at: float, reason: str) -> None:
        if self._capture is not None:
            self._capture.preserve(rec)
        del self._in_flight[rec.id]
        rec.reason = reason
        # The counters follow the records (RETRY and DEAD carry the reason), so replay rebuilds
        # them: the live operations count nothing themselves.
        self._count_end(reason)
        rec.state = PENDING
        rec.ready_at = ready_at
        rec.ready_seq = seq
        self._n_pending += 1
        if ready_at > t:
            heapq.heappush(self._delayed, (ready_at, seq, rec.id))
        else:
            self._ready[rec.id] = rec

    def _count_end(self, reason: str) -> None:
        """Count an attempt that did not succeed, by the reason its RETRY or DEAD record carries."""
        if reason == "timeout":
            self.timeouts += 1
        elif reason == "interrupted":
            self.interruptions += 1
        else:
            self.failures += 1

    def _on_dead(self, rec: JobRecord, t: float, reason: str) -> None:
        if self._capture is not None:
            self._capture.preserve(rec)
        del self._in_flight[rec.id]
        rec.reason = reason
        self._count_end(reason)
        rec.state = DEAD
        rec.finished_at = t
        self._n_dead += 1
        self._finished_since_snapshot.append(rec)
        if self._retention is not None:
            self._retention.finished(rec, t, self._jobs)

    # ------------------------------------------------------------------ snapshots
    def _adopt_snapshot(self, state: SnapshotState) -> None:
        """Start from what a snapshot holds (into an empty table)."""
        jobs = self._jobs
        retention = self._retention
        for rec in state.finished:  # in the order they finished
            jobs[rec.id] = rec
            self._count_finished(rec)
            if retention is not None and rec.finished_at is not None:
                retention.finished(rec, rec.finished_at, jobs)
        for rec in state.live:
            jobs[rec.id] = rec
            if rec.state is PENDING:
                self._add_pending(rec, state.time)
            elif rec.state is IN_FLIGHT:
                self._in_flight[rec.id] = rec
            else:  # tolerated: finished after its chunk was cut
                self._count_finished(rec)
        c = state.counters
        self.stale_results = c.get("stale_results", 0)
        self.timeouts = c.get("timeouts", 0)
        self.failures = c.get("failures", 0)
        self.interruptions = c.get("interruptions", 0)
        self.dispatches = c.get("dispatches", 0)
        self.snapshots_taken = c.get("snapshots", 0)
        # Jobs that left the retention window are counted by the snapshot, not by its rows.
        self._n_completed = c.get("completed", self._n_completed)
        self._n_dead = c.get("dead", self._n_dead)

    def _count_finished(self, rec: JobRecord) -> None:
        if rec.state is COMPLETED:
            self._n_completed += 1
        else:
            self._n_dead += 1

    def _add_pending(self, rec: JobRecord, as_of: float) -> None:
        """Restore a pending job: ready ones keep their order in ``_ready``, ones still backing
        off go to the delayed heap keyed by (ready time, seq), exactly as the live path does."""
        self._n_pending += 1
        if rec.ready_at > as_of:
            heapq.heappush(self._delayed, (rec.ready_at, rec.ready_seq, rec.id))
        else:
            self._ready[rec.id] = rec

    def _live_records(self) -> list[JobRecord]:
        """What a snapshot stores as live: pending in dispatch order, then in flight by
        (deadline, id). Taken under the mutex while operations wait, so the usual case (no job
        backing off) is one copy of ``_ready``."""
        in_flight = sorted(self._in_flight.values(), key=lambda r: (r.deadline, r.id))
        if not self._live_delayed():
            return list(self._ready.values()) + in_flight
        return [self._jobs[i] for i in self.pending_ids()] + in_flight

    def _live_delayed(self) -> list[tuple[float, int, str]]:
        """The delayed heap's entries that are not stale, in (ready time, seq) order."""
        return sorted(e for e in self._delayed if self._is_due_entry(e))

    def _is_due_entry(self, entry: tuple[float, int, str]) -> bool:
        """Whether a delayed-heap entry still stands for its job: the job is known (a
        retention window may have forgotten it since), pending, and pending since that seq."""
        rec = self._jobs.get(entry[2])
        return rec is not None and rec.state is PENDING and rec.ready_seq == entry[1]

    def _take_finished(self) -> tuple[list[JobRecord], tuple[int, int]]:
        """The jobs finished since the last snapshot that are still in the retention window
        (the next chunk), and the window as (jobs finished, ordinal of the oldest kept)."""
        finished, self._finished_since_snapshot = self._finished_since_snapshot, []
        total = self._n_completed + self._n_dead
        retention = self._retention
        if retention is None:
            return finished, (total, 0)
        return retention.in_window(finished, self._jobs), (total, retention.oldest_ordinal(total))

    def _counters(self) -> dict[str, int]:
        """The counters the next snapshot stores (it counts itself)."""
        return {
            "stale_results": self.stale_results,
            "timeouts": self.timeouts,
            "failures": self.failures,
            "interruptions": self.interruptions,
            "dispatches": self.dispatches,
            "snapshots": self.snapshots_taken + 1,
            "completed": self._n_completed,
            "dead": self._n_dead,
        }

    # ------------------------------------------------------------------ pending order
    def _next_ready(self, now: float) -> JobRecord | None:
        """The pending job that became ready first (FIFO by readiness), or None: the head of
        ``_ready`` or a due backed-off job from the delayed heap, whichever became ready first.
        The caller dispatches what it returns."""
        delayed = self._delayed
        jobs = self._jobs
        while delayed:
            ready_at, rseq, job_id = delayed[0]
            rec = jobs.get(job_id)
            if rec is None or rec.state is not PENDING or rec.ready_seq != rseq:
                heapq.heappop(delayed)  # stale: dispatched or re-queued since, or forgotten
                continue
            if ready_at > now:
                break
            if self._ready:
                head = next(iter(self._ready.values()))
                head_at = head.ready_at
                if head_at < ready_at or (head_at == ready_at and head.ready_seq < rseq):
                    return head
            heapq.heappop(delayed)  # the caller dispatches it now
            return rec
        if self._ready:
            return next(iter(self._ready.values()))
        return None

    @property
    def ready_now(self) -> int:
        """How many pending jobs are ready to dispatch now (backing-off ones not counted)."""
        return len(self._ready)

    def next_ready_at(self) -> float | None:
        """When the next delayed (backing-off) job becomes ready, or None."""
        delayed = self._delayed
        while delayed:
            if self._is_due_entry(delayed[0]):
                return delayed[0][0]
            heapq.heappop(delayed)
        return None

    def pending_ids(self) -> list[str]:
        """Pending job ids in the order they will be dispatched (ready first, then backing off
        by the time they become ready)."""
        delayed = self._live_delayed()
        out: list[str] = []
        ready = list(self._ready.values())
        i = j = 0
        while i < len(ready) or j < len(delayed):
            if j >= len(delayed) or (
                i < len(ready) and (ready[i].ready_at, ready[i].ready_seq) <= delayed[j][:2]
            ):
                out.append(ready[i].id)
                i += 1
            else:
                out.append(delayed[j][2])
                j += 1
        return out

    # ------------------------------------------------------------------ reading
    def state_of(self, job_id: str) -> JobState:
        rec = self._jobs.get(job_id)
        if rec is None:
            raise self._unknown(job_id)
        return rec.state

    def job(self, job_id: str) -> JobInfo:
        """A read-only record of one job: state, attempt, payload, timestamps."""
        rec = self._jobs.get(job_id)
        if rec is None:
            raise self._unknown(job_id)
        return rec.info()

    def _unknown(self, job_id: str) -> UnknownJobError:
        retention = self._retention
        if retention is None:
            return UnknownJobError(job_id)
        return UnknownJobError(job_id, f"never enqueued, or finished and forgotten: {retention}")

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._jobs

    def __len__(self) -> int:
        return len(self._jobs)

    def counts(self) -> dict[str, int]:
        return {
            "pending": self._n_pending,
            "in_flight": len(self._in_flight),
            "completed": self._n_completed,
            "dead": self._n_dead,
        }

    def in_flight_ids(self) -> list[str]:
        return list(self._in_flight)

    def iter_jobs(self) -> Iterator[JobRecord]:
        """Internal records of every job (read-only by convention), for the simulation."""
        return iter(self._jobs.values())

    def jobs_info(self) -> list[JobInfo]:
        return [r.info() for r in self._jobs.values()]

    def next_deadline(self) -> float | None:
        """The earliest deadline among in-flight attempts, or None."""
        return min((r.deadline for r in self._in_flight.values()), default=None)


__all__ = ["JobTable"]
