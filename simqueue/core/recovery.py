"""Opening a data directory *is* recovery (see docs/semantics.md):

1. take the directory's lock (before anything in it is changed);
2. delete the temp files of an interrupted snapshot; adopt the newest snapshot that checks out;
3. replay every WAL record after it (:mod:`simqueue.core.replay`), cutting a torn tail of the
   last segment durably;
4. end each attempt that was in flight at the crash as *interrupted* (:mod:`simqueue.core.retry`),
   a decision that is itself logged and synced, so recovering twice gives the same state;
5. report what was found and done (:class:`RecoveryReport`), its time measured, never assumed.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simqueue.core import snapshot as snap
from simqueue.core import wal
from simqueue.core.checkpoint import Checkpoints, remove_temp_files
from simqueue.core.clock import Clock, stopwatch
from simqueue.core.errors import CorruptSnapshotError, CorruptWALError, StorageError
from simqueue.core.options import QueueOptions
from simqueue.core.replay import replay_segment
from simqueue.core.retry import RetryRule
from simqueue.core.storage import FileSystem
from simqueue.core.table import JobTable

LOCK_NAME = "LOCK"
T = TypeVar("T")
#: Ends every attempt in flight at the crash, logged, and returns how many: (rule, table,
#: writer, now), the signature of :meth:`RetryRule.interrupt_in_flight`.
RestartPolicy = Callable[[RetryRule, JobTable, wal.WALWriter, float], int]
#: A policy used instead of the engine's, in the context that sets it only (other threads keep
#: the engine's): ``simqueue.testing.grading`` runs a learner's through real recovery with it.
RESTART_POLICY: ContextVar[RestartPolicy | None] = ContextVar("restart_policy", default=None)


@dataclass
class RecoveryReport:
    """What opening a data directory found and did. ``wall_seconds`` is measured, never assumed."""

    wall_seconds: float
    snapshot: str | None
    snapshot_last_seq: int
    records_replayed: int
    records_skipped: int
    jobs_restored: int
    jobs_interrupted: int
    tail_bytes_discarded: int
    segments: int
    next_seq: int
    snapshots_skipped: list[str] = field(default_factory=list)
    torn_segment: str | None = None
    # Only with ``open(..., salvage=True)``: where the last segment was cut although valid
    # records followed the first bad one, and how many bytes (records included) went with it.
    salvage_offset: int | None = None
    salvaged_bytes: int = 0
    #: Jobs the adopted snapshot held, and WAL bytes read: what a recovery cost model charges.
    snapshot_jobs: int = 0
    wal_bytes_read: int = 0
    #: The fencing epoch the recovered queue took (core/fencing.py).
    epoch: int | None = None
    #: Filled in by the simulation: the modeled recovery time in virtual seconds (never the
    #: measured ``wall_seconds``), and the restart delay plus it.
    virtual_seconds: float | None = None
    downtime: float | None = None

    def describe(self) -> str:
        src = os.path.basename(self.snapshot) if self.snapshot else "no snapshot"
        # A simulation's trace shows the modeled time only: the measured one differs run to run.
        took = f"{self.wall_seconds * 1000:.1f} ms"
        if self.virtual_seconds is not None:
            took = f"{self.virtual_seconds * 1000:.1f} ms (modeled)"
        parts = [
            f"recovered in {took} from {src}",
            f"replayed {self.records_replayed} WAL records",
            f"{self.jobs_interrupted} in-flight job(s) interrupted",
        ]
        if self.tail_bytes_discarded:
            parts.append(f"cut {self.tail_bytes_discarded} torn tail bytes")
        if self.snapshots_skipped:
            parts.append(f"skipped {len(self.snapshots_skipped)} unreadable snapshot(s)")
        if self.salvage_offset is not None:
            parts.append(
                f"SALVAGED: cut {os.path.basename(self.torn_segment or '')} at byte offset "
                f"{self.salvage_offset}, discarding {self.salvaged_bytes} bytes that held valid "
                "records after a bad one"
            )
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DirectoryLock:
    """The data directory's LOCK file, held (flock) from open until close or abandon: one life
    of the queue, whose fencing ``epoch`` (:mod:`simqueue.core.fencing`) it keeps."""

    __slots__ = ("_fs", "_fd", "epoch")

    def __init__(self, fs: FileSystem, data_dir: str) -> None:
        self._fs = fs
        self.epoch = 0
        try:
            self._fd = fs.lock(os.path.join(data_dir, LOCK_NAME), data_dir)
        except OSError as exc:
            # A read-only directory fails here first: a StorageError naming the directory, not
            # a bare PermissionError.
            raise StorageError(f"cannot lock data directory {data_dir}: {exc}") from exc

    def release(self) -> None:
        """Let another opener in. Safe to call twice."""
        if self._fd >= 0:
            self._fs.unlock(self._fd)
            self._fd = -1


class Recovered:
    """What recovery hands the queue besides the restored job table."""

    __slots__ = ("writer", "lock", "checkpoints", "report")

    def __init__(
        self,
        writer: wal.WALWriter,
        lock: DirectoryLock,
        checkpoints: Checkpoints,
        report: RecoveryReport | None,
    ) -> None:
        self.writer = writer  # appending after the last record kept
        self.lock = lock
        self.checkpoints = checkpoints
        self.report = report  # None: the directory was new


class _LogTally:
    """What replaying the WAL found, segment by segment."""

    def __init__(self, last_seq: int) -> None:
        self.last_seq = last_seq
        self.kept: list[tuple[int, str]] = []
        self.replayed = 0
        self.covered = 0
        self.discarded = 0
        self.bytes_read = 0
        self.torn_segment: str | None = None
        self.salvage_offset: int | None = None
        self.salvaged = 0
        self.end: tuple[int, str, int] | None = None  # (next seq, path, offset) the log ends at


def recover(
    table: JobTable, data_dir: str, options: QueueOptions, fs: FileSystem, clock: Clock
) -> Recovered:
    """Create ``data_dir`` or restore the queue stored there into ``table`` (empty).

    Whatever stops recovery leaves nothing open: no lock, no segment descriptor. An OS error of a
    read, truncate or fsync is a :class:`StorageError` naming the directory."""
    wal_dir = os.path.join(data_dir, "wal")
    snap_dir = os.path.join(data_dir, "snapshots")
    try:
        fs.makedirs(wal_dir)
        fs.makedirs(snap_dir)
    except OSError as exc:
        raise StorageError(f"cannot create data directory {data_dir}: {exc}") from exc
    lock = DirectoryLock(fs, data_dir)
    try:
        return _recover_locked(table, lock, wal_dir, snap_dir, options, fs, clock)
    except BaseException as exc:
        lock.release()
        if isinstance(exc, OSError):
            raise StorageError(f"recovery of {data_dir} failed: {exc}") from exc
        raise


def with_gc_paused(build: Callable[[], T]) -> T:
    """``build()`` with the cyclic GC paused. Recovery allocates about one long-lived object per
    record and frees almost none: the GC would only scan them again and again (a sixth of a big
    replay). Nothing is allocated between resuming it and returning, so its first collection
    comes after the queue is open."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return build()
    finally:
        if was_enabled:
            gc.enable()


def _recover_locked(
    table: JobTable,
    lock: DirectoryLock,
    wal_dir: str,
    snap_dir: str,
    options: QueueOptions,
    fs: FileSystem,
    clock: Clock,
) -> Recovered:
    t0 = stopwatch()
    fresh = not fs.listdir(wal_dir) and not fs.listdir(snap_dir)
    remove_temp_files(fs, snap_dir)
    state, skipped = snap.load_newest(fs, snap_dir)
    if state is not None:
        table._adopt_snapshot(state)
    snapshot_jobs = len(table)
    checkpoints = Checkpoints.found(fs, snap_dir, state)
    last_snap_seq = state.last_seq if state is not None else 0
    segments = wal.list_segments(fs, wal_dir)
    _check_log_reaches_snapshot(segments, state, skipped, snap_dir)
    tally = _replay_log(table, fs, wal_dir, segments, last_snap_seq, options.salvage)
    if not options.salvage:
        _check_log_reaches_past_snapshot(tally, state)
    rule = RetryRule(options.max_retry, options.backoff)
    writer = wal.WALWriter(fs, wal_dir, tally.last_seq + 1, options.segment_bytes, tally.kept)
    try:
        _make_entries_durable(fs, wal_dir, snap_dir)
        _start_appending(writer, tally.kept)
        policy = RESTART_POLICY.get() or RetryRule.interrupt_in_flight
        interrupted = policy(rule, table, writer, clock.now())
        writer.sync()
    except BaseException as exc:
        writer.close()
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write the WAL in {wal_dir}: {exc}") from exc
        raise
    if fresh:
        return Recovered(writer, lock, checkpoints, None)
    report = RecoveryReport(
        wall_seconds=stopwatch() - t0,
        snapshot=state.path if state else None,
        snapshot_last_seq=last_snap_seq,
        records_replayed=tally.replayed,
        records_skipped=tally.covered,
        jobs_restored=len(table),
        jobs_interrupted=interrupted,
        tail_bytes_discarded=tally.discarded,
        segments=len(tally.kept),
        next_seq=tally.last_seq + 1,
        snapshots_skipped=skipped,
        torn_segment=tally.torn_segment,
        salvage_offset=tally.salvage_offset,
        salvaged_bytes=tally.salvaged,
        snapshot_jobs=snapshot_jobs,
        wal_bytes_read=tally.bytes_read,
    )
    return Recovered(writer, lock, checkpoints, report)


def _check_log_reaches_snapshot(
    segments: list[tuple[int, str]],
    state: snap.SnapshotState | None,
    skipped: list[str],
    snap_dir: str,
) -> None:
    """The log must continue where the adopted snapshot ends, and a directory whose snapshots
    are all unreadable needs a log to recover from."""
    last_snap_seq = state.last_seq if state is not None else 0
    if segments and segments[0][0] > last_snap_seq + 1:
        if state is not None:
            where = (
                f"snapshot {os.path.basename(state.path)} covers only through seq {state.last_seq}"
            )
        else:
            where = "no snapshot is readable" if skipped else "there is no snapshot"
        raise CorruptWALError(
            segments[0][1],
            0,
            f"log starts at seq {segments[0][0]} but {where}: "
            f"records {last_snap_seq + 1}..{segments[0][0] - 1} are missing"
            + (f" ({'; '.join(skipped)})" if skipped else ""),
        )
    if not segments and skipped:
        raise CorruptSnapshotError(snap_dir, "; ".join(skipped))


def _replay_log(
    table: JobTable,
    fs: FileSystem,
    wal_dir: str,
    segments: list[tuple[int, str]],
    last_snap_seq: int,
    salvage: bool,
) -> _LogTally:
    """Replay every segment in order; a segment whose header never became durable ends the log
    (it is removed: nothing in it was ever synced)."""
    tally = _LogTally(last_seq=last_snap_seq)
    expect: int | None = None
    for i, (first_seq, path) in enumerate(segments):
        is_last = i == len(segments) - 1
        data = fs.read_bytes(path)
        tally.bytes_read += len(data)
        scan = wal.SegmentScan(path, data, expect)
        if not scan.check_header():
            wal.classify_bad_header(scan, is_last)
            fs.remove(path)
            fs.fsync_dir(wal_dir)
            tally.discarded += len(data)
            tally.torn_segment = path
            break
        if expect is not None and scan.first_seq != expect:
            raise CorruptWALError(
                path, 0, f"segment starts at seq {scan.first_seq}, expected {expect}"
            )
        tally.kept.append((first_seq, path))
        n_replayed, n_covered = replay_segment(table, scan, last_snap_seq)
        tally.replayed += n_replayed
        tally.covered += n_covered
        _settle_segment_end(fs, scan, is_last, salvage, tally)
        if scan.last_seq:
            tally.last_seq = max(tally.last_seq, scan.last_seq)
        expect = scan.expect_seq
        tally.end = (expect if expect is not None else first_seq, path, scan.end)
    return tally


def _check_log_reaches_past_snapshot(tally: _LogTally, state: snap.SnapshotState | None) -> None:
    """A snapshot is written after the log is synced through its seq and rolled to a new
    segment, so a log reaches past the newest snapshot: one that ends before it lost its newest
    segment(s), and with them whatever they held after the snapshot. (A snapshot with no log
    at all is a state to start from: the log goes on at the seq after it.)"""
    if state is None or tally.end is None:
        return
    name = os.path.basename(state.path)
    next_seq, path, offset = tally.end
    if next_seq <= state.last_seq:
        raise CorruptWALError(
            path,
            offset,
            f"the log ends at seq {next_seq - 1} but snapshot {name} covers through seq "
            f"{state.last_seq}: the newest segment(s) are missing",
        )


def _settle_segment_end(
    fs: FileSystem, scan: wal.SegmentScan, is_last: bool, salvage: bool, tally: _LogTally
) -> None:
    """Cut a replayed segment after its last good record, or make its bytes durable."""
    size = len(scan.data)
    if scan.bad is not None:
        try:
            verdict = wal.classify_bad(scan, is_last)
        except CorruptWALError:
            if not (salvage and is_last):
                raise
            # Asked for explicitly: cut at the first bad record although valid ones follow
            # (see ``DurableQueue.open``), and report it; the records after are not applied.
            tally.salvage_offset, tally.salvaged = scan.bad[0], size - scan.end
            verdict = "salvaged"
        if verdict != "unused":  # a preallocated segment's zeros hid nothing: cut only
            tally.discarded += size - scan.end
            tally.torn_segment = scan.path
        fs.truncate_durably(scan.path, scan.end)
    elif is_last:
        # A killed process may have handed these bytes to the OS without an fsync. They are
        # replayed now and new records will follow them in a new segment, so they must be
        # durable first: only the last segment may ever be torn by a power cut.
        handle = fs.open_append(scan.path)
        try:
            fs.fsync(handle)
        finally:
            fs.close(handle)


def _make_entries_durable(fs: FileSystem, wal_dir: str, snap_dir: str) -> None:
    """Fsync the directories whose entries recovery relies on, before anything is appended.

    A process killed inside a segment roll can leave a new segment whose directory entry never
    became durable; recovery reuses such a segment as the empty last one, and what is then
    acknowledged into it would vanish with the entry at a power cut. The same holds for the
    adopted snapshot's entry, for ``wal/`` and ``snapshots/`` in the data directory, and for the
    data directory's own entry in its parent (a process killed right after creating it)."""
    data_dir = os.path.dirname(os.path.abspath(wal_dir))
    fs.fsync_dir(wal_dir)
    fs.fsync_dir(snap_dir)
    fs.fsync_dir(data_dir)
    fs.fsync_dir(os.path.dirname(data_dir))


def _start_appending(writer: wal.WALWriter, kept: list[tuple[int, str]]) -> None:
    """Append into the newest segment if it holds no records yet, else into a new one."""
    if kept and kept[-1][0] == writer.next_seq:
        writer.continue_segment(kept[-1][1])
    else:
        writer.open_new_segment()


__all__ = [
    "RESTART_POLICY",
    "DirectoryLock",
    "Recovered",
    "RecoveryReport",
    "RestartPolicy",
    "recover",
    "with_gc_paused",
]
