"""The graded exercises: for each, the step of the engine a learner rewrites, where the learner's
function is plugged into the real engine, the workloads whose crash states judge it, and the
starting stub a notebook hands out (it fails the grader, with a counterexample that says why).

Each exercise swaps one function of the engine for the learner's through a hook the engine
declares for it, a :class:`~contextvars.ContextVar` that only the grading run's context sees:

``replay``
    :data:`simqueue.core.replay.RECORD_HANDLER`: apply one WAL record to the job table. Every
    record recovery replays after the snapshot goes through the learner's function.
``restart``
    :data:`simqueue.core.recovery.RESTART_POLICY`: what becomes of the attempts that were in
    flight when the power went. Recovery calls the learner's function after the replay.
``snapshot``
    :data:`simqueue.core.snapshot.SNAPSHOT_WRITER`: put a snapshot's bytes on disk under its
    name. Every snapshot the workload takes is written by the learner's function.

The reference solutions are in ``tests/testing/test_grading.py``, not here and not in the
notebooks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from simqueue.core import recovery, replay, snapshot, wal
from simqueue.core.retry import RetryRule
from simqueue.core.storage import FileSystem
from simqueue.core.table import JobTable
from simqueue.core.wal import WALWriter

T = TypeVar("T")


class Record(NamedTuple):
    """One WAL record as the replay exercise hands it over (:mod:`simqueue.core.wal`'s format).

    ``type`` is ``wal.ENQUEUE``, ``DISPATCH``, ``ACK``, ``RETRY`` or ``DEAD``; ``extra`` is the
    timeout of an ENQUEUE (NaN: none), the deadline of a DISPATCH, the ``ready_at`` of a RETRY;
    ``reason`` is a code of ``wal.REASON_NAMES``."""

    type: int
    seq: int
    time: float
    attempt: int
    worker: int
    extra: float
    reason: int
    job_id: str
    payload: bytes


@dataclass(frozen=True)
class Exercise:
    """One graded exercise. ``plug(solution)`` is the context in which the engine runs the
    learner's ``solution``; ``while_recording``: the workload itself runs with it (the snapshot
    writer), otherwise only the recoveries after each crash do."""

    name: str
    title: str
    task: str
    workloads: tuple[str, ...]
    while_recording: bool
    plug: Callable[[Callable[..., Any]], AbstractContextManager[None]]
    stub: Callable[..., Any]

    def describe(self) -> str:
        return f"{self.name}: {self.title}\n{self.task}"


@contextmanager
def _substituted(var: ContextVar[T | None], fn: T) -> Iterator[None]:
    token = var.set(fn)
    try:
        yield
    finally:
        var.reset(token)


def _plug_replay(solution: Callable[[JobTable, Record], None]) -> AbstractContextManager[None]:
    def handler(table: JobTable, *fields: Any) -> None:
        solution(table, Record(*fields))

    return _substituted(replay.RECORD_HANDLER, handler)


def _plug_restart(
    solution: Callable[[RetryRule, JobTable, WALWriter, float], int],
) -> AbstractContextManager[None]:
    return _substituted(recovery.RESTART_POLICY, solution)


def _plug_snapshot(
    solution: Callable[[FileSystem, str, str, bytes], str],
) -> AbstractContextManager[None]:
    return _substituted(snapshot.SNAPSHOT_WRITER, solution)


# -- the starting stubs: each is a first attempt that the grader refutes ----------------------
def replay_stub(table: JobTable, rec: Record) -> None:
    """Apply ``rec`` to ``table`` through its effects (``table._on_enqueue``, ``_on_dispatch``,
    ``_on_ack``, ``_on_retry``, ``_on_dead``: the ones the live operations call). This first
    attempt applies only ENQUEUE records."""
    if rec.type == wal.ENQUEUE:
        timeout = None if rec.extra != rec.extra else rec.extra
        table._on_enqueue(rec.job_id, rec.payload, timeout, rec.time, rec.seq)


def restart_stub(rule: RetryRule, table: JobTable, writer: WALWriter, now: float) -> int:
    """End every attempt that was in flight at the crash; return how many. This first attempt
    leaves them in flight: their workers are gone, so they would never finish."""
    return 0


def snapshot_stub(fs: FileSystem, snap_dir: str, name: str, data: bytes) -> str:
    """Put ``data`` in ``snap_dir`` under ``name`` so that a power cut leaves either the whole
    snapshot or none of it; return its path. This first attempt writes a temp file and renames
    it, and fsyncs nothing."""
    path = os.path.join(snap_dir, name)
    handle = fs.create(path + snapshot.TMP_SUFFIX)
    try:
        fs.write(handle, data)
    finally:
        fs.close(handle)
    fs.rename(path + snapshot.TMP_SUFFIX, path)
    return path


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in (
        Exercise(
            "replay",
            "the replay handler: apply one WAL record to a job table",
            "Write f(table, rec) -> None. rec is a Record; look the job up in table._jobs and "
            "call the effect the record stands for: table._on_enqueue(job_id, payload, "
            "timeout, time, seq), _on_dispatch(job, time, attempt, worker, deadline), "
            "_on_ack(job, time), _on_retry(job, time, seq, ready_at, reason), "
            "_on_dead(job, time, reason) (reason names: wal.REASON_NAMES).",
            ("steady", "recovery"),
            False,
            _plug_replay,
            replay_stub,
        ),
        Exercise(
            "restart",
            "the policy for the jobs in flight at restart",
            "Write f(rule, table, writer, now) -> int. The jobs in table._in_flight lost their "
            "worker in the crash. Decide what becomes of each (rule.max_retry, rule.backoff), "
            "log the decision (writer.append(wal.RETRY or wal.DEAD, job.id_bytes, now, "
            "attempt, -1, ready_at or 0.0, wal.REASON_CODES[reason]) returns its seq), apply it "
            "(table._on_retry / table._on_dead) and return how many you ended. Recovery "
            "syncs the log after you.",
            ("recovery", "steady"),
            False,
            _plug_restart,
            restart_stub,
        ),
        Exercise(
            "snapshot",
            "a snapshot writer that a power cut cannot tear",
            "Write f(fs, snap_dir, name, data) -> path. Use fs.create(path) -> handle, "
            "fs.write(handle, data), fs.fsync(handle), fs.close(handle), fs.rename(src, dst) "
            "and fs.fsync_dir(directory). After a crash at any point the directory must hold "
            "the old snapshot or the whole new one, and once you return the new one must "
            "survive any power cut (the queue deletes the log it covers). The engine has just "
            "renamed the snapshot's finished-jobs chunks into snap_dir: their entries are "
            "yours to make durable too.",
            ("steady", "segment-roll"),
            True,
            _plug_snapshot,
            snapshot_stub,
        ),
    )
}


def exercise(name: str) -> Exercise:
    """The exercise called ``name``; an unknown name is a one-line error listing the known."""
    try:
        return EXERCISES[name]
    except KeyError:
        raise ValueError(
            f"exercise: unknown name {name!r} (known: {', '.join(EXERCISES)})"
        ) from None


__all__ = ["EXERCISES", "Exercise", "Record", "exercise"]
