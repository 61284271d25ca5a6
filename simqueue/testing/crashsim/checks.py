"""The invariant checker: one recovered queue against the promises made and the log model.

The invariants are those of ``docs/semantics.md`` ("Invariants after any crash and recovery"),
as ``docs/reliability.md`` lists them: no acknowledged record lost, no COMPLETED without an ACK
in the recovered log, no durably ACKed job left to run again, attempts never below a durable
DISPATCH, DEAD final, FIFO order by readiness, the state equal to the recovered prefix of the log
with in-flight attempts ended as interrupted, sequence numbers contiguous on disk and never
reused for different records, no fencing token handed out twice (every recovery takes an epoch
above the one the crashed run handed its tokens out under, so an attempt number a power cut
took back is never handed out again with the same token), and the same state after a second
recovery (for the ``recovery`` workload, a recovery that crashed and ran again must end exactly
where an uninterrupted one does). Each violation is a sentence.
"""

from __future__ import annotations

import os
import random
import traceback
from dataclasses import dataclass
from typing import Any, NamedTuple

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.errors import CorruptSnapshotError, CorruptWALError
from simqueue.core.fencing import EPOCH_NAME, EPOCH_TMP_NAME, parse_epoch
from simqueue.core.queue import DurableQueue
from simqueue.core.storage import FileSystem
from simqueue.testing.crashsim.disk import DATA_DIR
from simqueue.testing.crashsim.model import JobRow, LogRec, State, model_state, observe
from simqueue.testing.crashsim.recording import Trace


@dataclass
class Expect:
    """What one recovery is held to."""

    log: dict[int, LogRec]
    acked: int  # every record with seq <= this was promised
    written_max: int  # no record beyond this had been written
    now: float
    max_retry: int
    backoff: float
    reference: State | None = None
    epoch: int = 0  # the epoch the crashed run handed its tokens out under (0: none)
    retain: int | None = None  # the run's retention window (retain_finished), if any

    @classmethod
    def at(cls, trace: Trace, k: int, acked: int, reference: State | None) -> Expect:
        """What a recovery from a crash after operation ``k`` of ``trace`` is held to."""
        return cls(
            trace.log,
            acked,
            trace.written_upto[k],
            trace.time_at(k),
            trace.params.get("max_retry", 3),
            trace.params.get("backoff", 0.0),
            reference,
            epoch_in_use(trace, k),
            trace.params.get("retain_finished"),
        )


def epoch_in_use(trace: Trace, k: int) -> int:
    """The fencing epoch durable after the first ``k`` operations of ``trace`` (written to the
    temp file, renamed to ``EPOCH``, the directory fsynced): a queue hands out tokens only
    under an epoch that got this far."""
    durable = max(
        (parse_epoch(b) or 0 for p, b in trace.initial_files.items() if _is_epoch(p) and b),
        default=0,
    )
    written = renamed = 0
    for op in trace.ops[:k]:
        if op.kind == "write" and op.path.endswith(EPOCH_TMP_NAME):
            written = parse_epoch(op.data) or 0
        elif op.kind == "rename" and op.path.endswith(EPOCH_TMP_NAME) and _is_epoch(op.path2):
            renamed = written
        elif op.kind == "fsync_dir" and renamed:
            durable, renamed = max(durable, renamed), 0
    return durable


def _is_epoch(path: str) -> bool:
    return os.path.basename(path) == EPOCH_NAME


def check_recovery(q: DurableQueue, exp: Expect) -> tuple[list[str], State]:
    """Every invariant a freshly recovered ``q`` must meet, as sentences, and what it holds."""
    k = q.recovery.next_seq - 1 if q.recovery is not None else 0
    got = observe(q)
    out = _promised_range(k, exp)
    try:
        model: tuple[State, int] | str = model_state(
            exp.log, k, exp.now, exp.max_retry, exp.backoff, exp.retain
        )
    except KeyError as exc:
        model = str(exc.args[0])
    out += _acknowledged_records(got, exp, model, k)
    out += _completed_without_ack(got, exp, k)
    out += _against_the_model(q, got, model, k)
    if exp.reference is not None and got != exp.reference:
        out.append(
            "a recovery that crashed and ran again ended elsewhere than one that did not crash"
        )
    if q.durable_seq != q.last_seq:
        out.append(f"recovered state not durable: durable seq {q.durable_seq} < last {q.last_seq}")
    out += _wal_on_disk(q, exp, k)
    out += _tokens_fresh(q, exp, k)
    return out, got


def _tokens_fresh(q: DurableQueue, exp: Expect, k: int) -> list[str]:
    """No fencing token is handed out twice: the recovered queue's epoch is above the crashed
    run's. (Else every attempt a crash took back is handed out again under its old token.)"""
    if q.epoch > exp.epoch:
        return []
    lost = [
        f"{r.job_id} attempt {r.attempt}"
        for s, r in sorted(exp.log.items())
        if k < s <= exp.written_max and r.type == wal.DISPATCH
    ]
    again = f"; {', '.join(lost[:3])} will be handed out again with the same token" if lost else ""
    return [f"recovered epoch {q.epoch} is not above the crashed run's epoch {exp.epoch}{again}"]


def _promised_range(k: int, exp: Expect) -> list[str]:
    out = []
    if k < exp.acked:
        out.append(
            f"acknowledged records lost: recovered through seq {k}, seq {exp.acked} was promised"
        )
    if k > exp.written_max:
        out.append(
            f"recovered through seq {k}, but only {exp.written_max} records were ever written"
        )
    return out


def _acknowledged_records(
    got: State, exp: Expect, model: tuple[State, int] | str, k: int
) -> list[str]:
    """Every acknowledged record still has its effect: the job is there and did not go back.
    Under a retention window, a record about a job the model of the log has forgotten, or
    about an earlier job of an id enqueued anew since, promises nothing about the queue now."""
    out = []
    jobs: dict[str, JobRow] = {j[0]: j for j in got[0]}
    kept = None if exp.retain is None or isinstance(model, str) else {j[0] for j in model[0][0]}
    newest = {r.job_id: s for s, r in sorted(exp.log.items()) if s <= k and r.type == wal.ENQUEUE}
    for seq in range(1, exp.acked + 1):
        r = exp.log.get(seq)
        if r is None:
            continue
        if kept is not None and (r.job_id not in kept or seq < newest.get(r.job_id, 0)):
            continue
        out += _acknowledged_record(r, seq, jobs.get(r.job_id))
    return out


def _acknowledged_record(r: LogRec, seq: int, j: JobRow | None) -> list[str]:
    if j is None:
        if r.type == wal.ENQUEUE:
            return [f"acknowledged job {r.job_id} (ENQUEUE seq {seq}) is missing"]
    elif r.type == wal.ACK and j[1] != "completed":
        return [f"job {r.job_id} had a durable ACK (seq {seq}) but is {j[1]}: it would run again"]
    elif r.type == wal.DEAD and j[1] != "dead":
        return [f"job {r.job_id} was durably DEAD (seq {seq}) but is {j[1]}: DEAD must be final"]
    elif r.type == wal.DISPATCH and j[2] < r.attempt:
        return [
            f"job {r.job_id}: durable attempt {r.attempt}, now attempt {j[2]}: attempts went back"
        ]
    return []


def _completed_without_ack(got: State, exp: Expect, k: int) -> list[str]:
    acks = {r.job_id for s, r in exp.log.items() if s <= k and r.type == wal.ACK}
    return [
        f"job {job_id} is COMPLETED without an ACK in the recovered log"
        for job_id, state, _, _ in got[0]
        if state == "completed" and job_id not in acks
    ]


def _against_the_model(
    q: DurableQueue, got: State, model: tuple[State, int] | str, k: int
) -> list[str]:
    """The state, FIFO order, interruptions and next seq that the log through ``k`` implies
    (``model``: :func:`model_state` of it, or the sentence saying why it cannot be applied)."""
    if isinstance(model, str):
        return [model]
    expected, interrupted = model
    out = []
    if expected[0] != got[0]:
        want = {j[0]: j[1:] for j in expected[0]}
        have = {j[0]: j[1:] for j in got[0]}
        diff = sorted(i for i in set(want) | set(have) if want.get(i) != have.get(i))
        shown = ", ".join(f"{i}: {have.get(i)} (log says {want.get(i)})" for i in diff[:3])
        out.append(f"state differs from the recovered log applied in order: {shown}")
    elif expected[1] != got[1]:
        out.append(f"FIFO order lost: pending {list(got[1])[:6]}, log says {list(expected[1])[:6]}")
    if q.recovery is not None and q.recovery.jobs_interrupted != interrupted:
        out.append(f"{q.recovery.jobs_interrupted} interruptions, the log says {interrupted}")
    if q.last_seq != k + interrupted:
        out.append(f"last seq {q.last_seq} after recovery, expected {k + interrupted}")
    return out


def _wal_on_disk(q: DurableQueue, exp: Expect, k: int) -> list[str]:
    """The WAL reads back, ends where the queue does, and holds what was written."""
    try:
        on_disk = list(wal.iter_records(q.data_dir))
    except CorruptWALError as exc:
        return [f"the WAL does not read back after recovery: {exc}"]
    out = []
    if on_disk and on_disk[-1].seq != q.last_seq:
        out.append(f"the WAL ends at seq {on_disk[-1].seq}, the queue at {q.last_seq}")
    for rec in on_disk:
        m = exp.log.get(rec.seq)
        if rec.seq <= k and (
            m is None or (m.type, m.job_id, m.attempt) != (rec.type, rec.job_id, rec.attempt)
        ):
            out.append(
                f"seq {rec.seq} on disk is {rec.type_name} {rec.job_id}, not what was written"
            )
            break
    return out


class Checked(NamedTuple):
    """One recovery's verdict: ``ok``, ``salvaged``, ``refused`` (a damaged state refused with a
    named error) or ``violation``; the violations; and the seq the log was recovered through."""

    status: str
    problems: list[str]
    seq: int = -1


def recover_and_check(
    root: str, exp: Expect, params: dict[str, Any], *, hole: bool = False
) -> tuple[str, list[str]]:
    """Recover ``root``/q, check it, cut the power again, recover again. Returns a status
    (``ok``, ``salvaged`` or ``violation``) and the violations. ``hole``: the state may have a
    hole with valid records after it (a ``reorder`` outcome), which needs ``salvage=True``."""
    got = recover_check(root, exp, params, hole=hole)
    return got.status, got.problems


def recover_check(
    root: str, exp: Expect, params: dict[str, Any], *, hole: bool = False, damaged: bool = False
) -> Checked:
    """:func:`recover_and_check`, also saying how far the log was recovered. ``damaged``: a
    file was damaged on purpose; refusing with a named corruption error is then allowed."""
    data_dir = os.path.join(root, DATA_DIR)
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    status = "ok"
    q = None
    seq = -1

    def reopen(**extra: Any) -> DurableQueue:
        return DurableQueue.open(data_dir, fs=fs, clock=VirtualClock(exp.now), **params, **extra)

    try:
        try:
            q = reopen()
        except (CorruptWALError, CorruptSnapshotError) as exc:
            refusal = _refusal(exc, hole=hole, damaged=damaged)
            if refusal is not None:
                return refusal
            status = "salvaged"
            q = reopen(salvage=True)
            if q.recovery is None or q.recovery.salvage_offset is None:
                return Checked(
                    "violation", ["salvage=True opened the directory but reported no cut"]
                )
        seq = q.recovery.next_seq - 1 if q.recovery is not None else 0
        problems, got = check_recovery(q, exp)
        first_epoch = q.epoch
        q.abandon()
        fs.power_loss(random.Random(0), "drop")
        q = reopen()
        problems += _second_recovery(q, got, first_epoch)
    except Exception as exc:  # anything else is a finding, with where it came from
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        problems = [f"recovery raised {exc!r} at {os.path.basename(tb.filename)}:{tb.lineno}"]
    finally:
        if q is not None:
            q.abandon()
    return Checked("violation" if problems else status, problems, seq)


def _refusal(exc: Exception, *, hole: bool, damaged: bool) -> Checked | None:
    """The verdict on a refused first open, or None when salvage may open it (a hole)."""
    if damaged:
        return Checked("refused", [f"{type(exc).__name__}: {exc}"])
    if hole and isinstance(exc, CorruptWALError) and "valid record follows" in exc.reason:
        return None
    return Checked("violation", [f"recovery refused a state a power cut can leave: {exc}"])


def _second_recovery(q: DurableQueue, first: State, first_epoch: int) -> list[str]:
    out = []
    if q.epoch <= first_epoch:
        out.append(
            f"a second recovery (after a power cut) took epoch {q.epoch}, not above the first's "
            f"{first_epoch}: its tokens repeat the first's"
        )
    if observe(q) != first:
        out.append("a second recovery (after a power cut) gave a different state")
    if q.recovery is not None and q.recovery.jobs_interrupted:
        out.append("the second recovery found in-flight jobs: the first did not log its decisions")
    return out
