"""How an attempt that did not succeed ends: a retry after exponential backoff, or DEAD once the
job has had ``max_retry + 1`` attempts. One rule for failures, timeouts and the attempts a crash
interrupted (see docs/semantics.md)."""

from __future__ import annotations

from simqueue.core.jobs import DEAD, PENDING, JobRecord, JobState
from simqueue.core.table import JobTable
from simqueue.core.wal import DEAD as DEAD_RECORD
from simqueue.core.wal import REASON_CODES, RETRY, WALWriter


class RetryRule:
    """``max_retry`` retries after the first attempt; the retry after attempt ``n`` is ready
    ``backoff * 2 ** (n - 1)`` seconds after it ended."""

    __slots__ = ("max_retry", "backoff")

    def __init__(self, max_retry: int, backoff: float) -> None:
        self.max_retry = max_retry
        self.backoff = backoff

    def end_attempt(
        self, table: JobTable, writer: WALWriter, rec: JobRecord, reason: str, now: float
    ) -> JobState:
        """End ``rec``'s current attempt for ``reason`` (``failed``, ``timeout`` or
        ``interrupted``): its RETRY or DEAD record is appended, then applied. Returns the new
        state. The caller commits."""
        attempt = rec.attempt
        code = REASON_CODES[reason]
        if attempt >= self.max_retry + 1:
            writer.append(DEAD_RECORD, rec.id_bytes, now, attempt, -1, 0.0, code)
            table._on_dead(rec, now, reason)
            return DEAD
        ready_at = now + self.backoff * 2 ** (attempt - 1)
        seq = writer.append(RETRY, rec.id_bytes, now, attempt, -1, ready_at, code)
        table._on_retry(rec, now, seq, ready_at, reason)
        return PENDING

    def interrupt_in_flight(self, table: JobTable, writer: WALWriter, now: float) -> int:
        """Jobs in flight at a crash lost their worker: each attempt ends as interrupted,
        earliest deadline first, and the decision is logged (the caller syncs it) so a second
        recovery agrees. Returns how many."""
        recs = sorted(table._in_flight.values(), key=lambda r: (r.deadline, r.id))
        for rec in recs:
            self.end_attempt(table, writer, rec, "interrupted", now)
        return len(recs)


__all__ = ["RetryRule"]
