"""The durable queue: the job state machine kept in memory, every change written ahead to the WAL.

Story of one job, from the caller down to the disk:

1. ``enqueue`` validates the job, appends an ENQUEUE record (id, payload, timeout) to the WAL
   buffer, applies it (the job is PENDING) and commits under the fsync policy
   (:mod:`simqueue.core.commit`). The caller is *acknowledged* once the record is durable under
   that policy (see :attr:`~simqueue.core.durable.DurableTable.durable_seq`).
2. ``dispatch`` picks the job that became ready first, logs DISPATCH (attempt, worker,
   deadline), applies it (IN_FLIGHT) and hands it out.
3. ``complete`` logs ACK; ``fail`` / ``expire`` log RETRY (with the time it is ready again) or,
   after ``max_retry + 1`` attempts, DEAD (:mod:`simqueue.core.retry`). A result for an attempt
   that is no longer current is *stale*: counted, never applied.
4. ``snapshot`` writes the whole state at one sequence number atomically, so recovery only has
   to replay the tail of the log (:mod:`simqueue.core.checkpoint`).
5. ``open`` on an existing directory *is* recovery (:mod:`simqueue.core.recovery`).

Write-ahead: a record is appended before its change is applied to the job table
(:mod:`simqueue.core.table`), and nothing reads the change before the append. The semantics are
in docs/semantics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from simqueue.core import checks
from simqueue.core.clock import Clock
from simqueue.core.durable import DurableTable, operation
from simqueue.core.errors import DuplicateJobError, IllegalTransitionError, UnknownJobError
from simqueue.core.fencing import make_token, open_epoch
from simqueue.core.jobs import (
    IN_FLIGHT,
    Job,
    JobRecord,
    JobState,
    decode_payload,
    encode_payload,
    validate_job_fields,
)
from simqueue.core.options import (
    DEFAULT_SEGMENT_BYTES,
    DURABILITY_MODES,
    FSYNC_POLICIES,
    QueueOptions,
)
from simqueue.core.recovery import RecoveryReport
from simqueue.core.retry import RetryRule
from simqueue.core.storage import FileSystem
from simqueue.core.wal import ACK, DISPATCH, ENQUEUE, NO_TIMEOUT

#: What an ENQUEUE record needs: id, id bytes, payload bytes, timeout.
Encoded = tuple[str, bytes, bytes, float | None]


class DurableQueue(DurableTable):
    """A durable FIFO job queue over a data directory. Create with :meth:`open`.

    The operations that change jobs are here; opening, committing, snapshots, the log's
    positions and closing are :class:`DurableTable`'s, the read API (``counts``,
    ``pending_ids``, ``job``, ...) the job table's.

    Safe to share between threads: every public operation runs under one re-entrant mutex
    (:func:`~simqueue.core.durable.operation`), which costs one uncontended lock per call;
    under ``always`` the fsync happens after the mutex is released and is shared by the
    records other threads appended meanwhile (group commit). The ``*_unlocked`` forms skip the
    mutex: for a single-threaded caller that owns the queue (the simulation). One data
    directory is open in one queue at a time (a second open raises DataDirLockedError)."""

    def __init__(self, data_dir: str, options: QueueOptions, fs: FileSystem, clock: Clock) -> None:
        super().__init__(data_dir, options, fs, clock)
        self._retry = RetryRule(options.max_retry, options.backoff)
        self._lock.epoch = open_epoch(self)
        if self.recovery is not None:
            self.recovery.epoch = self._lock.epoch

    @property
    def epoch(self) -> int:
        """This life's fencing epoch, durably above every earlier life's (core/fencing.py)."""
        return self._lock.epoch

    # ------------------------------------------------------------------ enqueueing
    @operation
    def enqueue(self, job: Job) -> int:
        """Add one job; returns its ENQUEUE record's seq. Durable as the fsync policy says:
        acknowledged once ``durable_seq >= seq`` (immediately under ``always``)."""
        self._check_open()
        return self._enqueue_encoded([self._encode_new(job)])

    @operation
    def enqueue_many(self, jobs: Iterable[Job]) -> int:
        """Add jobs all-or-nothing: every job is checked before any is logged. Returns the seq
        of the last ENQUEUE record (one fsync covers them all under ``always``)."""
        jobs = list(jobs)
        self._check_open()
        seen: set[str] = set()
        encoded = []
        for job in jobs:
            encoded.append(self._encode_new(job, seen))
            seen.add(job.id)
        return self._enqueue_encoded(encoded)

    @operation
    def enqueue_ids(self, ids: Iterable[str]) -> int:
        """Fast path for simulations: jobs with no payload and the default timeout."""
        ids = list(ids)
        self._check_open()
        encoded: list[Encoded] = []
        for job_id in ids:
            if job_id in self._jobs:
                raise DuplicateJobError(job_id)
            validate_job_fields(job_id, None, None)
            encoded.append((job_id, job_id.encode(), b"", None))
        return self._enqueue_encoded(encoded)

    @operation
    def enqueue_new_id(self, job_id: str, id_bytes: bytes) -> int:
        """The simulation's fast path for one job it made up itself: a fresh, valid id, no
        payload, the default timeout. Returns the ENQUEUE record's seq."""
        return self.enqueue_new_id_unlocked(job_id, id_bytes)

    def enqueue_new_id_unlocked(self, job_id: str, id_bytes: bytes) -> int:
        """:meth:`enqueue_new_id` without the mutex: for a single-threaded caller that owns the
        queue (the simulation)."""
        if self._stopped is not None or self._closed:
            self._check_open()
        now = self.clock.now()
        seq = self.writer.append(ENQUEUE, id_bytes, now, 0, -1, NO_TIMEOUT, 0, b"")
        self._on_enqueue(job_id, b"", None, now, seq, id_bytes)
        c = self._committer
        if seq >= c.due_seq or now >= c.due_time:
            c.commit(now)
        return seq

    def _encode_new(self, job: Any, seen: set[str] | frozenset[str] = frozenset()) -> Encoded:
        """Check that ``job`` is a Job with an id unknown here and not in ``seen``; return what
        its ENQUEUE record needs."""
        if not isinstance(job, Job):
            raise ValueError(f"enqueue takes simqueue.Job objects, got {type(job).__name__}")
        if job.id in self._jobs or job.id in seen:
            raise DuplicateJobError(job.id)
        return (job.id, job.id.encode(), encode_payload(job.id, job.payload), job.timeout)

    def _enqueue_encoded(self, encoded: Sequence[Encoded]) -> int:
        now = self.clock.now()
        append = self.writer.append
        seq = self.writer.next_seq - 1
        on_enqueue = self._on_enqueue
        for job_id, id_b, payload, timeout in encoded:
            if timeout is None:
                seq = append(ENQUEUE, id_b, now, 0, -1, NO_TIMEOUT, 0, payload)
            else:
                timeout = float(timeout)
                seq = append(ENQUEUE, id_b, now, 0, -1, timeout, 0, payload)
            on_enqueue(job_id, payload, timeout, now, seq, id_b)
        self._committer.commit(now)
        return seq

    def sync_unlocked(self) -> int:
        """:meth:`sync` without the mutex and the group committer's hand-over: for a
        single-threaded caller that owns the queue (the simulation's flush timer)."""
        self._check_open()
        self._committer.sync()
        return self.writer.durable_seq

    # ------------------------------------------------------------------ dispatching
    @operation
    def dispatch(self, worker: int) -> Job | None:
        """Hand the next ready job to ``worker`` (logged first); None if nothing is ready."""
        out = self.dispatch_raw_unlocked(worker)
        if out is None:
            return None
        rec = self._in_flight[out[0]]  # just dispatched: in the small in-flight map
        return Job._stored(
            rec.id,
            decode_payload(rec.payload_raw),
            rec.timeout,
            rec.attempt,
            rec.deadline,
            make_token(self.epoch, rec.attempt),
        )

    def token_of(self, job_id: str) -> int | None:
        """The fencing token of ``job_id``'s attempt in flight now (None: not in flight). A
        result carrying any other token is fenced."""
        with self._committer.mutex:
            rec = self._in_flight.get(job_id)
            return None if rec is None else make_token(self.epoch, rec.attempt)

    @operation
    def dispatch_raw(self, worker: int) -> tuple[str, int, float] | None:
        """Like :meth:`dispatch`, returning ``(job_id, attempt, deadline)`` without decoding
        the payload (the simulation's fast path)."""
        return self.dispatch_raw_unlocked(worker)

    def dispatch_raw_unlocked(self, worker: int) -> tuple[str, int, float] | None:
        """:meth:`dispatch_raw` without the mutex: for a single-threaded caller that owns the
        queue (the simulation)."""
        if self._stopped is not None or self._closed:
            self._check_open()
        now = self.clock.now()
        delayed = self._delayed
        if delayed and delayed[0][0] <= now:  # a backed-off job may be due: order them
            rec = self._next_ready(now)
            if rec is None:
                return None
        elif self._ready:
            rec = next(iter(self._ready.values()))
        else:
            return None
        attempt = rec.attempt + 1
        deadline = now + (rec.timeout if rec.timeout is not None else self.task_timeout)
        seq = self.writer.append(DISPATCH, rec.id_bytes, now, attempt, worker, deadline)
        self._on_dispatch(rec, now, attempt, worker, deadline)
        c = self._committer
        if seq >= c.due_seq or now >= c.due_time:
            c.commit(now)
        return rec.id, attempt, deadline

    # ------------------------------------------------------------------ results
    def _current(self, job_id: str, attempt: int) -> JobRecord | None:
        """The job if ``attempt`` is its current in-flight attempt; None (stale) otherwise.
        Under a retention window an unknown id is stale too: its job may have finished and been
        forgotten while this attempt's result was on its way (a worker that overran its
        deadline while a retry finished)."""
        rec = self._jobs.get(job_id)
        if rec is None:
            if self._retention is not None:
                return None
            raise UnknownJobError(job_id)
        if attempt > rec.attempt or attempt < 1:
            raise IllegalTransitionError(
                f"job {job_id!r} has had {rec.attempt} attempt(s); there is no attempt {attempt}"
            )
        if rec.state is not IN_FLIGHT or attempt != rec.attempt:
            return None
        return rec

    @operation
    def complete(self, job_id: str, attempt: int) -> bool:
        """Record success of ``attempt``. False (and counted) if that attempt is stale."""
        return self.complete_unlocked(job_id, attempt)

    def complete_unlocked(self, job_id: str, attempt: int) -> bool:
        """:meth:`complete` without the mutex: for a single-threaded caller that owns the queue
        (the simulation)."""
        if self._stopped is not None or self._closed:
            self._check_open()
        # The small in-flight map, not the map of every job ever seen: it stays in the cache.
        rec = self._in_flight.get(job_id)
        if rec is None or rec.attempt != attempt:
            rec = self._current(job_id, attempt)  # raises for unknown ids or future attempts
            if rec is None:
                self.stale_results += 1
                return False
        now = self.clock.now()
        seq = self.writer.append(ACK, rec.id_bytes, now, attempt)
        self._on_ack(rec, now)
        c = self._committer
        if seq >= c.due_seq or now >= c.due_time:
            c.commit(now)
        return True

    @operation
    def fail(self, job_id: str, attempt: int, reason: str = "failed") -> JobState | None:
        """Record failure of ``attempt``: PENDING again (after backoff) or DEAD once it was the
        last allowed attempt. Returns the new state, or None (counted) if the attempt is stale."""
        return self.fail_unlocked(job_id, attempt, reason)

    def fail_unlocked(self, job_id: str, attempt: int, reason: str = "failed") -> JobState | None:
        """:meth:`fail` without the mutex: for a single-threaded caller that owns the queue
        (the simulation)."""
        self._check_open()
        checks.choice("reason", reason, ("failed", "timeout"))
        rec = self._current(job_id, attempt)
        if rec is None:
            self.stale_results += 1
            return None
        now = self.clock.now()
        state = self._retry.end_attempt(self, self.writer, rec, reason, now)
        self._committer.commit(now)
        return state

    @operation
    def timeout_attempt(self, job_id: str, attempt: int) -> JobState | None:
        """Time out one attempt if it is still current (the simulation's deadline timer).
        Returns the new state, or None if the attempt already ended (not a stale result)."""
        return self.timeout_attempt_unlocked(job_id, attempt)

    def timeout_attempt_unlocked(self, job_id: str, attempt: int) -> JobState | None:
        """:meth:`timeout_attempt` without the mutex: for a single-threaded caller that owns
        the queue (the simulation)."""
        if self._stopped is not None or self._closed:
            self._check_open()
        rec = self._in_flight.get(job_id)
        if rec is None or rec.attempt != attempt:
            return None
        now = self.clock.now()
        state = self._retry.end_attempt(self, self.writer, rec, "timeout", now)
        c = self._committer
        if self.writer.next_seq > c.due_seq or now >= c.due_time:
            c.commit(now)
        return state

    @operation
    def expire(self) -> list[str]:
        """Time out every in-flight attempt whose deadline has passed, earliest deadline first;
        returns their ids. (A scan of the in-flight set, which is bounded by the workers.)"""
        self._check_open()
        now = self.clock.now()
        # Equal deadlines stay in dispatch order, the order of ``_in_flight`` (sorted is stable).
        due = sorted(
            (r for r in self._in_flight.values() if r.deadline <= now), key=lambda r: r.deadline
        )
        for rec in due:
            self._retry.end_attempt(self, self.writer, rec, "timeout", now)
        if due:
            self._committer.commit(now)
        return [r.id for r in due]


__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "DURABILITY_MODES",
    "FSYNC_POLICIES",
    "DurableQueue",
    "QueueOptions",
    "RecoveryReport",
]
