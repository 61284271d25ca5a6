"""Trace events: one line per thing that happened, readable on its own.

The simulation stores events as plain tuples (cheap to append a million of) and turns them into
:class:`TraceEvent` objects only when someone looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simqueue.core.fencing import token_parts

ARRIVE = "ARRIVE"  # a job reached the queue; its ENQUEUE record is appended
ENQUEUED = "ENQUEUED"  # the ENQUEUE record is durable under the fsync policy: acknowledged
DISPATCH = "DISPATCH"
COMPLETE = "COMPLETE"
FAIL = "FAIL"
TIMEOUT = "TIMEOUT"
RETRY = "RETRY"
DEAD = "DEAD"
STALE = "STALE"  # a result for an attempt that is no longer current: ignored
SYNC = "SYNC"  # a group commit: one fsync made many records durable
SNAPSHOT = "SNAPSHOT"
CRASH = "CRASH"
RECOVER = "RECOVER"
FENCED = "FENCED"  # a result carrying a token from before a crash: refused, counted
WAITING = "WAITING"  # a client found the queue down and waits for it (clients="retry")
REJECTED = "REJECTED"  # a client found the queue down and gave up (clients="reject")

KINDS = (
    ARRIVE,
    ENQUEUED,
    DISPATCH,
    COMPLETE,
    FAIL,
    TIMEOUT,
    RETRY,
    DEAD,
    STALE,
    SYNC,
    SNAPSHOT,
    CRASH,
    RECOVER,
    FENCED,
    WAITING,
    REJECTED,
)

#: time, kind, job_id, attempt, worker, seq, durable_seq, detail
TraceTuple = tuple[float, str, str | None, int | None, int | None, int | None, int, Any]
FIELDS = ("time", "kind", "job_id", "attempt", "worker", "seq", "durable_seq", "detail")


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One event of a simulation run."""

    time: float
    kind: str
    job_id: str | None
    attempt: int | None
    worker: int | None
    seq: int | None
    durable_seq: int
    detail: Any = None

    @classmethod
    def from_tuple(cls, t: TraceTuple) -> TraceEvent:
        return cls(*t)

    def describe(self) -> str:
        """One readable line, e.g.
        ``t=0.013s DISPATCH job-7 attempt 1 (epoch 1) -> worker 3 (WAL seq 15; durable up to
        seq 14)``: the attempt and its epoch make the attempt's fencing token."""
        k = self.kind
        head = f"t={self.time:.3f}s {k}"
        wal = f"(WAL seq {self.seq}; durable up to seq {self.durable_seq})"
        job = f"{self.job_id} attempt {self.attempt}"
        if k == ARRIVE:
            return f"{head} {self.job_id}: ENQUEUE appended {wal}"
        if k == ENQUEUED:
            return f"{head} {self.job_id} acknowledged: its ENQUEUE (seq {self.seq}) is durable"
        if k == DISPATCH:
            epoch = (
                f" (epoch {token_parts(self.detail)[0]})" if isinstance(self.detail, int) else ""
            )
            return f"{head} {job}{epoch} -> worker {self.worker} {wal}"
        if k == COMPLETE:
            return f"{head} {job} on worker {self.worker}: ACK appended {wal}"
        if k == FAIL:
            return f"{head} {job} on worker {self.worker} reported failure"
        if k == TIMEOUT:
            return f"{head} {job} on worker {self.worker} passed its deadline; worker reclaimed"
        if k == RETRY:
            return f"{head} {self.job_id} pending again, ready at t={self.detail:.3f}s {wal}"
        if k == DEAD:
            return f"{head} {self.job_id} after attempt {self.attempt} ({self.detail}) {wal}"
        if k == STALE:
            return f"{head} result of {job} ignored: {self.detail}"
        if k == SYNC:
            return f"{head} group commit: one fsync, durable up to seq {self.durable_seq}"
        if k == SNAPSHOT:
            return f"{head} snapshot at seq {self.seq} -> {self.detail}"
        if k in (CRASH, RECOVER, WAITING, REJECTED):
            return f"{head} {self.detail}"
        if k == FENCED:
            return f"{head} result for {self.job_id} fenced: {self.detail}"
        return f"{head} {self.job_id or ''} {wal}"

    def __str__(self) -> str:
        return self.describe()
