"""The independent model of the log the checks compare every recovery with.

Records are decoded from the bytes the workload handed the OS, from the format in
:mod:`simqueue.core.wal`'s docstring and not with its reader, so a reader bug cannot hide from the
checks. :func:`model_state` says what recovering a prefix of them must give, written from the
recovery rules of ``docs/semantics.md`` ("Recovery"), not from the queue's code.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from dataclasses import dataclass

from simqueue.core import wal
from simqueue.core.queue import DurableQueue

#: A job as the checks compare it: (id, state, attempt, reason).
JobRow = tuple[str, str, int, str]
#: A queue's observable state: its jobs (sorted by id) and the pending ids in dispatch order.
State = tuple[tuple[JobRow, ...], tuple[str, ...]]

_FRAME = struct.Struct("<II")  # crc, size
_BODY = struct.Struct("<BQdIidBH")  # type, seq, time, attempt, worker, extra, reason, id length
_HEAD = _FRAME.size + _BODY.size  # bytes before the job id
_MIN_SIZE = _BODY.size  # the smallest size field a whole record has


@dataclass(frozen=True, slots=True)
class LogRec:
    """A WAL record as the workload wrote it."""

    seq: int
    type: int
    job_id: str
    time: float
    attempt: int
    extra: float
    reason: int


def decode_records(data: bytes) -> list[LogRec]:
    """The whole records in one write (the writer hands whole records to the OS); a segment
    header, written on its own, holds none."""
    out: list[LogRec] = []
    if data.startswith(wal.MAGIC):
        return out
    off, n = 0, len(data)
    while off + _HEAD <= n:
        crc, size = _FRAME.unpack_from(data, off)
        end = off + _FRAME.size + size
        if size < _MIN_SIZE or end > n or zlib.crc32(data[off + 4 : end]) != crc:
            break
        rtype, seq, t, attempt, _worker, extra, reason, id_len = _BODY.unpack_from(
            data, off + _FRAME.size
        )
        job_id = data[off + _HEAD : off + _HEAD + id_len].decode()
        out.append(LogRec(seq, rtype, job_id, t, attempt, extra, reason))
        off = end
    return out


def observe(q: DurableQueue) -> State:
    """What a real queue holds, in the shape :func:`model_state` predicts."""
    jobs = tuple(sorted((i.id, i.state.value, i.attempt, i.reason or "") for i in q.jobs_info()))
    return jobs, tuple(q.pending_ids())


@dataclass(slots=True)
class _ModelJob:
    state: str
    attempt: int
    ready_at: float
    ready_seq: int  # ties of ready_at go by the seq that made the job ready (FIFO)
    reason: str = ""
    deadline: float = 0.0  # of the attempt in flight


class _Window:
    """A count window of finished jobs (``retain_finished``), as the queue keeps one: each job
    that finishes joins it, and the oldest leave the model's jobs once more than ``count`` are
    in it (unless their id was enqueued anew since)."""

    def __init__(self, count: int | None) -> None:
        self.count = count
        self.kept: deque[tuple[str, _ModelJob]] = deque()

    def finished(self, job_id: str, j: _ModelJob, jobs: dict[str, _ModelJob]) -> None:
        if self.count is None:
            return
        self.kept.append((job_id, j))
        while len(self.kept) > self.count:
            old_id, old = self.kept.popleft()
            if jobs.get(old_id) is old:
                del jobs[old_id]


def model_state(
    log: dict[int, LogRec],
    upto: int,
    now: float,
    max_retry: int,
    backoff: float,
    retain: int | None = None,
) -> tuple[State, int]:
    """What recovering a log that ends at ``upto`` must give: the records applied in order, then
    each attempt still in flight ended as interrupted (retry or DEAD) at ``now``, in order of
    deadline; with ``retain`` (a count window), finished jobs past it forgotten. Returns
    (state, interruptions); a log that cannot be applied raises ``KeyError`` with a sentence
    saying why."""
    window = _Window(retain)
    jobs = _apply_log(log, upto, window)
    interrupted = _interrupt_in_flight(jobs, upto, now, max_retry, backoff, window)
    rows = tuple(sorted((i, j.state, j.attempt, j.reason) for i, j in jobs.items()))
    ready = sorted((j.ready_at, j.ready_seq, i) for i, j in jobs.items() if j.state == "pending")
    return (rows, tuple(i for _, _, i in ready)), interrupted


def _apply_log(log: dict[int, LogRec], upto: int, window: _Window) -> dict[str, _ModelJob]:
    jobs: dict[str, _ModelJob] = {}
    for seq in range(1, upto + 1):
        r = log.get(seq)
        if r is None:
            raise KeyError(
                f"the recovered log runs through seq {upto}, but seq {seq} was never written"
            )
        if r.type == wal.ENQUEUE:
            if r.job_id in jobs:
                raise KeyError(f"seq {seq} enqueues {r.job_id} twice")
            jobs[r.job_id] = _ModelJob("pending", 0, r.time, seq)
            continue
        j = jobs.get(r.job_id)
        if j is None:
            raise KeyError(f"seq {seq} is about {r.job_id}, never enqueued")
        _apply_record(j, r, seq)
        if r.type in (wal.ACK, wal.DEAD):
            window.finished(r.job_id, j, jobs)
    return jobs


def _apply_record(j: _ModelJob, r: LogRec, seq: int) -> None:
    if r.type == wal.DISPATCH:
        j.state, j.attempt, j.deadline = "in_flight", r.attempt, r.extra
    elif r.type == wal.ACK:
        j.state = "completed"
    elif r.type == wal.RETRY:
        j.state, j.ready_at, j.ready_seq = "pending", r.extra, seq
        j.reason = wal.REASON_NAMES.get(r.reason, "")
    elif r.type == wal.DEAD:
        j.state, j.reason = "dead", wal.REASON_NAMES.get(r.reason, "")


def _interrupt_in_flight(
    jobs: dict[str, _ModelJob],
    upto: int,
    now: float,
    max_retry: int,
    backoff: float,
    window: _Window,
) -> int:
    """End every attempt in flight as recovery does, logging one record each after ``upto``."""
    in_flight = sorted((j.deadline, i) for i, j in jobs.items() if j.state == "in_flight")
    seq = upto
    for _, job_id in in_flight:
        seq += 1
        j = jobs[job_id]
        j.reason = "interrupted"
        if j.attempt >= max_retry + 1:
            j.state = "dead"
            window.finished(job_id, j, jobs)
        else:
            j.state, j.ready_at, j.ready_seq = "pending", now + backoff * 2 ** (j.attempt - 1), seq
    return len(in_flight)
