"""Replay: the records of one WAL segment applied to a :class:`~simqueue.core.table.JobTable`.

Every record is checked against the state machine (:data:`simqueue.core.jobs.TRANSITIONS`) and
the attempt numbering rule; a record either rule refuses is corruption of its segment at its
byte offset, never skipped. A record is applied through the same ``_on_*`` effect the live
operation uses, so replaying the log rebuilds exactly the state the live queue had.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from simqueue.core import wal
from simqueue.core.errors import (
    CorruptWALError,
    DuplicateJobError,
    IllegalTransitionError,
    SimQueueError,
    UnknownJobError,
)
from simqueue.core.jobs import next_state
from simqueue.core.table import JobTable
from simqueue.core.wal import ACK, DISPATCH, ENQUEUE, REASON_NAMES, RETRY

#: Records decoded per call of :func:`wal.decode_plain`: big enough that the call costs nothing
#: per record, small enough that a batch of tuples stays in the cache.
REPLAY_BATCH = 4096
#: WAL record type -> the state machine's event name.
_EVENTS = {DISPATCH: "dispatch", ACK: "ack", RETRY: "retry", wal.DEAD: "dead"}

#: A record's fields, in :meth:`wal.SegmentScan.records` order without the offset.
Fields = tuple[int, int, float, int, int, float, int, str, bytes]
#: Applies one record to a table: :func:`apply_record`'s signature.
RecordHandler = Callable[[JobTable, int, int, float, int, int, float, int, str, bytes], None]
#: A handler that applies every replayed record instead of the engine's fast reader and
#: :func:`apply_record`, in the context that sets it only (other threads keep the engine's):
#: ``simqueue.testing.grading`` runs a learner's replay handler through real recovery with it.
RECORD_HANDLER: ContextVar[RecordHandler | None] = ContextVar("record_handler", default=None)


def replay_segment(table: JobTable, scan: wal.SegmentScan, last_snap_seq: int) -> tuple[int, int]:
    """Apply one segment's records after ``last_snap_seq``; returns (replayed, covered).

    Two readers. :func:`wal.decode_plain` (the WAL codec, in C when built) decodes the records
    that need no judgement (whole, checksum right, the expected seq, a known type, a UTF-8 id) a
    batch at a time; at the first record that is anything else it stops, and the rest of the
    segment goes to :meth:`wal.SegmentScan.records`, the one place that decides what a bad record
    is and says so. Either way a record is applied the same way."""
    if RECORD_HANDLER.get() is None:
        replayed, covered, off, expect = _replay_plain(table, scan, last_snap_seq)
        scan.resume_at(off, expect)
    else:  # a substituted handler sees every record
        replayed = covered = 0
    for record in scan.records():  # the record's fields, then its offset
        if record[1] <= last_snap_seq:
            covered += 1
            continue
        _replay_record(table, scan.path, record[9], record[:9])
        replayed += 1
    return replayed, covered


def _replay_plain(
    table: JobTable, scan: wal.SegmentScan, last_snap_seq: int
) -> tuple[int, int, int, int]:
    """The fast reader: returns (replayed, covered, offset, seq) where it stopped.

    The three transitions nearly every record is are recognised with the small maps that hold
    exactly the jobs each can apply to (every job in ``_ready`` is PENDING, every job in
    ``_in_flight`` is IN_FLIGHT); anything else is judged by :func:`apply_record`."""
    data = scan.data
    off = scan.end
    expect = scan.expect_seq if scan.expect_seq is not None else scan.first_seq
    decode_plain = wal.decode_plain
    batch_size = REPLAY_BATCH
    path = scan.path
    jobs = table._jobs
    ready_get = table._ready.get
    in_flight_get = table._in_flight.get
    on_enqueue = table._on_enqueue
    on_dispatch = table._on_dispatch
    on_ack = table._on_ack
    replayed = covered = 0
    while True:
        batch, off, expect = decode_plain(data, off, expect, batch_size)
        decoded = len(batch)
        if batch and batch[0][1] <= last_snap_seq:
            # The records the snapshot covers come first (seqs run without gaps): skip them.
            skip = min(len(batch), last_snap_seq - batch[0][1] + 1)
            covered += skip
            del batch[:skip]
        replayed += len(batch)
        for rtype, seq, t, attempt, worker, extra, reason, job_id, payload, roff in batch:
            if rtype == DISPATCH:
                rec = ready_get(job_id)
                if rec is not None and attempt == rec.attempt + 1:
                    on_dispatch(rec, t, attempt, worker, extra)
                    continue
            elif rtype == ACK:
                rec = in_flight_get(job_id)
                if rec is not None and attempt == rec.attempt:
                    on_ack(rec, t)
                    continue
            elif rtype == ENQUEUE and job_id not in jobs:
                on_enqueue(job_id, payload, None if extra != extra else extra, t, seq)
                continue
            fields = (rtype, seq, t, attempt, worker, extra, reason, job_id, payload)
            _replay_record(table, path, roff, fields)
        if decoded < batch_size:
            return replayed, covered, off, expect


def _replay_record(table: JobTable, path: str, off: int, fields: Fields) -> None:
    """Apply one record through the state machine; a record it refuses is corruption of
    ``path`` at byte ``off``."""
    try:
        (RECORD_HANDLER.get() or apply_record)(table, *fields)
    except SimQueueError as exc:
        raise CorruptWALError(path, off, f"record seq {fields[1]}: {exc}") from None


def apply_record(
    table: JobTable,
    rtype: int,
    seq: int,
    t: float,
    attempt: int,
    worker: int,
    extra: float,
    reason: int,
    job_id: str,
    payload: bytes,
) -> None:
    """Check one record against the state machine and apply it. The live operations check the
    same conditions themselves and call the same effects."""
    if rtype == ENQUEUE:
        if job_id in table._jobs:
            raise DuplicateJobError(job_id)
        table._on_enqueue(job_id, payload, None if extra != extra else extra, t, seq)
        return
    rec = table._jobs.get(job_id)
    if rec is None:
        raise UnknownJobError(job_id)
    # The state machine decides which events a state allows; the attempt numbering rule is the
    # only other check: a DISPATCH starts the next attempt, every other record is about the
    # current one.
    next_state(job_id, rec.state, _EVENTS[rtype])
    expected = rec.attempt + 1 if rtype == DISPATCH else rec.attempt
    if attempt != expected:
        raise IllegalTransitionError(
            f"job {job_id!r}: record for attempt {attempt}, but the job is "
            f"{rec.state.value} after {rec.attempt} attempt(s)"
        )
    if rtype == DISPATCH:
        table._on_dispatch(rec, t, attempt, worker, extra)
    elif rtype == ACK:
        table._on_ack(rec, t)
    elif rtype == RETRY:
        table._on_retry(rec, t, seq, extra, REASON_NAMES.get(reason, "failed"))
    else:
        table._on_dead(rec, t, REASON_NAMES.get(reason, "failed"))


__all__ = ["RECORD_HANDLER", "REPLAY_BATCH", "RecordHandler", "apply_record", "replay_segment"]
