"""The durable queue: the job state machine kept in memory, every change written ahead to the WAL.

Story of one job, from the caller down to the disk:

1. ``enqueue`` validates the job, appends an ENQUEUE record (id, payload, timeout) to the WAL
   buffer, applies it (the job is PENDING) and commits under the fsync policy. The caller is
   *acknowledged* once the record is durable under that policy (see :attr:`durable_seq`).
2. ``dispatch`` picks the job that became ready first, logs DISPATCH (attempt, worker,
   deadline), applies it (IN_FLIGHT) and hands it out.
3. ``complete`` logs ACK; ``fail`` / ``expire`` log RETRY (with the time it is ready again) or,
   after ``max_retry + 1`` attempts, DEAD. A result for an attempt that is no longer current is
   *stale*: counted, never applied.
4. ``snapshot`` writes the whole state at one sequence number atomically, so recovery only has
   to replay the tail of the log.
5. ``open`` on an existing directory *is* recovery: newest valid snapshot, replay of every record
   after it through the same ``_apply`` the live path uses, torn tail cut durably, and each job
   that was in flight at the crash ends its attempt as *interrupted*, a decision that is itself
   logged and synced so recovering twice gives the same state.

Write-ahead: a record is appended before its change is applied, and nothing reads the change
before the append. Fail-stop: if a write or fsync fails, the queue stops accepting work and
says why; it never retries its way into a false "success".
"""

from __future__ import annotations

import gc
import heapq
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from simqueue.core import snapshot as snap
from simqueue.core import wal
from simqueue.core.clock import Clock, WallClock, stopwatch
from simqueue.core.errors import (
    CorruptWALError,
    DuplicateJobError,
    IllegalTransitionError,
    QueueStoppedError,
    SimQueueError,
    StorageError,
    UnknownJobError,
)
from simqueue.core.jobs import (
    COMPLETED,
    DEAD,
    IN_FLIGHT,
    PENDING,
    Job,
    JobInfo,
    JobRecord,
    JobState,
    decode_payload,
    encode_payload,
    next_state,
    validate_job_fields,
)
from simqueue.core.storage import FileSystem
from simqueue.core.wal import ACK, DISPATCH, ENQUEUE, REASON_CODES, REASON_NAMES, RETRY

FSYNC_POLICIES = ("always", "batch", "never")
DURABILITY_MODES = ("real", "modeled")
LOCK_NAME = "LOCK"
DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024
_DEAD_TYPE = wal.DEAD
# Records decoded per call of wal.decode_plain during replay: big enough that the call costs
# nothing per record, small enough that a batch of tuples stays in the cache.
_REPLAY_BATCH = 4096
#: WAL record type -> the state machine's event name.
_EVENTS = {DISPATCH: "dispatch", ACK: "ack", RETRY: "retry", _DEAD_TYPE: "dead"}


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
    downtime: float | None = None  # filled in by the simulation: restart delay + wall_seconds

    def describe(self) -> str:
        src = os.path.basename(self.snapshot) if self.snapshot else "no snapshot"
        parts = [
            f"recovered in {self.wall_seconds * 1000:.1f} ms from {src}",
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


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        need = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {need} number; got {value!r}")


class DurableQueue:
    """A durable FIFO job queue over a data directory. Create with :meth:`open`."""

    # ------------------------------------------------------------------ opening = recovery
    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        fsync: str = "batch",
        max_retry: int = 3,
        backoff: float = 0.0,
        clock: Clock | None = None,
        task_timeout: float = 3.0,
        flush_interval: float = 0.010,
        batch_size: int = 100,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        durability: str = "real",
        fs: FileSystem | None = None,
        salvage: bool = False,
    ) -> DurableQueue:
        """Create ``data_dir`` or recover the queue stored there.

        ``fsync``: ``"always"`` (every operation fsynced before it returns), ``"batch"`` (group
        commit: one fsync per ``batch_size`` records or ``flush_interval`` seconds, whichever
        comes first) or ``"never"`` (handed to the OS only). ``durability="modeled"`` records
        fsyncs instead of performing them (for simulations; a simulated power loss honours
        them).

        ``salvage=True`` is for an operator, never a default: when the *last* segment has a bad
        record with valid records after it (what recovery otherwise refuses with
        :class:`CorruptWALError`), cut the segment at the bad record anyway and say so in
        :attr:`RecoveryReport.salvage_offset` / ``salvaged_bytes``. That is right after a power
        cut that persisted a later unsynced sector before an earlier one (everything from the
        hole on was never fsynced, so never acknowledged); it loses acknowledged records if the
        damage is a flipped bit in fsynced data. Older segments are never salvaged."""
        _check_choice("fsync", fsync, FSYNC_POLICIES)
        _check_choice("durability", durability, DURABILITY_MODES)
        if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
            raise ValueError(f"max_retry must be a non-negative integer; got {max_retry!r}")
        _check_positive("backoff", backoff, allow_zero=True)
        _check_positive("task_timeout", task_timeout)
        _check_positive("flush_interval", flush_interval, allow_zero=True)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        if not isinstance(segment_bytes, int) or segment_bytes < 4096:
            raise ValueError(f"segment_bytes must be an integer >= 4096; got {segment_bytes!r}")
        if fs is None:
            fs = FileSystem(real_fsync=durability == "real", track_power_loss=False)
        q = cls.__new__(cls)
        q._init(
            os.fspath(data_dir),
            fs,
            clock or WallClock(),
            fsync,
            max_retry,
            float(backoff),
            float(task_timeout),
            float(flush_interval),
            batch_size,
            segment_bytes,
            salvage=bool(salvage),
        )
        return q

    def _init(
        self,
        data_dir: str,
        fs: FileSystem,
        clock: Clock,
        fsync: str,
        max_retry: int,
        backoff: float,
        task_timeout: float,
        flush_interval: float,
        batch_size: int,
        segment_bytes: int,
        salvage: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.fs = fs
        self.clock = clock
        self.fsync_policy = fsync
        self._commit = {
            "always": self._commit_always,
            "never": self._commit_never,
            "batch": self._commit_batch,
        }[fsync]
        self.max_retry = max_retry
        self.backoff = backoff
        self.task_timeout = task_timeout
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.wal_dir = os.path.join(data_dir, "wal")
        self.snap_dir = os.path.join(data_dir, "snapshots")
        self._jobs: dict[str, JobRecord] = {}
        self._ready: dict[str, JobRecord] = {}  # ready now, in the order they became ready
        self._delayed: list[tuple[float, int, str]] = []
        self._in_flight: dict[str, JobRecord] = {}
        self._n_pending = 0
        self._n_completed = 0
        self._n_dead = 0
        self.stale_results = 0
        self.timeouts = 0
        self.failures = 0
        self.interruptions = 0
        self.dispatches = 0
        self.snapshots_taken = 0
        self._finished_since_snapshot: list[JobRecord] = []
        self._chunks: list[dict[str, Any]] = []
        self._snapshots: list[tuple[int, str]] = []
        self._chunks_of: dict[str, set[str]] = {}
        self._unsynced_since: float | None = None
        # The hot operations call ``_commit`` only when it has something to do (see
        # ``_commit_batch``): once the log reaches ``_commit_seq`` or the clock ``_commit_time``.
        # Under "always" and "never" every operation commits.
        self._commit_seq = 0
        self._commit_time = math.inf
        self._stopped: BaseException | None = None
        self._closed = False
        self._lock_fd = -1
        self.recovery: RecoveryReport | None = None
        try:
            self.fs.makedirs(self.wal_dir)
            self.fs.makedirs(self.snap_dir)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {data_dir}: {exc}") from exc
        try:
            self._lock_fd = self.fs.lock(os.path.join(data_dir, LOCK_NAME), data_dir)
        except OSError as exc:
            # A read-only directory fails here first; a bare PermissionError would escape the
            # StorageError contract (and the CLI reported it as a port it could not listen on).
            raise StorageError(f"cannot lock data directory {data_dir}: {exc}") from exc
        # Recovery allocates about one long-lived object per record and frees almost none:
        # the cyclic GC would only scan them again and again (a sixth of a big replay).
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._recover(segment_bytes, salvage)
        except BaseException as exc:
            # Whatever stopped recovery, leave nothing open: no lock, no segment descriptor.
            writer = getattr(self, "writer", None)
            if writer is not None:
                writer.close()
            self._release_lock()
            if isinstance(exc, OSError):  # a read, truncate or fsync of the scan step
                raise StorageError(f"recovery of {data_dir} failed: {exc}") from exc
            raise
        finally:
            if gc_was_enabled:
                gc.enable()

    def _recover(self, segment_bytes: int, salvage: bool = False) -> None:
        t0 = stopwatch()
        fs = self.fs
        fresh = not fs.listdir(self.wal_dir) and not fs.listdir(self.snap_dir)
        self._remove_temp_files()
        state, skipped = snap.load_newest(fs, self.snap_dir)
        last_snap_seq = 0
        if state is not None:
            last_snap_seq = state.last_seq
            self._adopt_snapshot(state)
        # Oldest first, and only those not newer than the one adopted: a snapshot that failed
        # to load must never count as the "previous" one that pruning keeps as the fallback.
        self._snapshots = [
            s
            for s in snap.list_snapshots(fs, self.snap_dir)[::-1]
            if state is not None and s[0] <= state.last_seq
        ]
        segments = wal.list_segments(fs, self.wal_dir)
        if segments and segments[0][0] > last_snap_seq + 1:
            where = f"snapshot {os.path.basename(state.path)}" if state else "no snapshot"
            raise CorruptWALError(
                segments[0][1],
                0,
                f"log starts at seq {segments[0][0]} but {where} covers only through seq "
                f"{last_snap_seq}: records {last_snap_seq + 1}..{segments[0][0] - 1} are missing"
                + (f" ({'; '.join(skipped)})" if skipped else ""),
            )
        if not segments and skipped:
            raise snap.CorruptSnapshotError(self.snap_dir, "; ".join(skipped))
        replayed = covered = discarded = 0
        torn_segment = None
        salvage_offset: int | None = None
        salvaged = 0
        last_seq = last_snap_seq
        expect: int | None = None
        kept: list[tuple[int, str]] = []
        for i, (first_seq, path) in enumerate(segments):
            is_last = i == len(segments) - 1
            data = fs.read_bytes(path)
            scan = wal.SegmentScan(path, data, expect)
            if not scan.check_header():
                wal.classify_bad_header(scan, is_last)
                # A segment whose creation never became durable: nothing in it was ever synced.
                fs.remove(path)
                fs.fsync_dir(self.wal_dir)
                discarded += len(data)
                torn_segment = path
                break
            if expect is not None and scan.first_seq != expect:
                raise CorruptWALError(
                    path, 0, f"segment starts at seq {scan.first_seq}, expected {expect}"
                )
            kept.append((first_seq, path))
            n_replayed, n_covered = self._replay(scan, last_snap_seq)
            replayed += n_replayed
            covered += n_covered
            if scan.bad is not None:
                try:
                    verdict = wal.classify_bad(scan, is_last)
                except CorruptWALError:
                    if not (salvage and is_last):
                        raise
                    # Asked for explicitly: cut at the first bad record although valid ones
                    # follow (see ``open``), and report it; the records after are not applied.
                    salvage_offset, salvaged = scan.bad[0], len(data) - scan.end
                    verdict = "salvaged"
                if verdict != "unused":  # a preallocated segment's zeros hid nothing: cut only
                    discarded += len(data) - scan.end
                    torn_segment = path
                fs.truncate_durably(path, scan.end)
            elif is_last:
                # A killed process may have handed these bytes to the OS without an fsync. They
                # are replayed now and new records will follow them in a new segment, so they
                # must be durable first: only the last segment may ever be torn by a power cut.
                handle = fs.open_append(path)
                try:
                    fs.fsync(handle)
                finally:
                    fs.close(handle)
            if scan.last_seq:
                last_seq = max(last_seq, scan.last_seq)
            expect = scan.expect_seq
        next_seq = last_seq + 1
        self.writer = wal.WALWriter(fs, self.wal_dir, next_seq, segment_bytes, kept)
        try:
            if kept and kept[-1][0] == next_seq:
                # The newest segment holds no records yet: keep appending to it.
                self.writer.segments.pop()
                path = kept[-1][1]
                self.writer._handle = fs.open_append(path)
                self.writer.segments.append((next_seq, path))
            else:
                self.writer.open_new_segment()
            interrupted = self._interrupt_in_flight()
            self.writer.sync()
        except OSError as exc:
            raise StorageError(f"cannot write the WAL in {self.wal_dir}: {exc}") from exc
        self.recovery = (
            None
            if fresh
            else RecoveryReport(
                wall_seconds=stopwatch() - t0,
                snapshot=state.path if state else None,
                snapshot_last_seq=last_snap_seq,
                records_replayed=replayed,
                records_skipped=covered,
                jobs_restored=len(self._jobs),
                jobs_interrupted=interrupted,
                tail_bytes_discarded=discarded,
                segments=len(kept),
                next_seq=next_seq,
                snapshots_skipped=skipped,
                torn_segment=torn_segment,
                salvage_offset=salvage_offset,
                salvaged_bytes=salvaged,
            )
        )

    def _replay(self, scan: wal.SegmentScan, last_snap_seq: int) -> tuple[int, int]:
        """Apply one segment's records after ``last_snap_seq``; returns (replayed, covered).

        Two readers. :func:`wal.decode_plain` (the WAL codec, in C when built) decodes the
        records that need no judgement (whole, checksum right, the expected seq, a known type,
        a UTF-8 id) a batch at a time; at the first record that is anything else it stops, and
        the rest of the segment goes to :meth:`wal.SegmentScan.records`, the one place that
        decides what a bad record is and says so. Either way a record is applied the same way
        (:meth:`_replay_record`, or the three common transitions recognised inline)."""
        data = scan.data
        off = scan.end
        expect = scan.expect_seq if scan.expect_seq is not None else scan.first_seq
        decode_plain = wal.decode_plain
        batch_size = _REPLAY_BATCH
        path = scan.path
        jobs = self._jobs
        ready_get = self._ready.get
        in_flight_get = self._in_flight.get
        on_enqueue = self._on_enqueue
        on_dispatch = self._on_dispatch
        on_ack = self._on_ack
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
                # The three transitions nearly every record is, recognised with the small maps
                # that hold exactly the jobs each can apply to (every job in ``_ready`` is
                # PENDING, every job in ``_in_flight`` is IN_FLIGHT); anything else is judged
                # by ``_apply`` against the state machine, with the live path's messages.
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
                self._replay_record(
                    path, roff, (rtype, seq, t, attempt, worker, extra, reason, job_id, payload)
                )
            if decoded < batch_size:
                break
        scan.resume_at(off, expect)
        for record in scan.records():  # the record's fields, then its offset
            if record[1] <= last_snap_seq:
                covered += 1
                continue
            self._replay_record(path, record[9], record[:9])
            replayed += 1
        return replayed, covered

    def _replay_record(self, path: str, off: int, fields: tuple) -> None:
        """Apply one record (:meth:`_apply`'s arguments) through the state machine; a record it
        refuses is corruption of ``path`` at byte ``off``."""
        try:
            self._apply(*fields)
        except SimQueueError as exc:
            raise CorruptWALError(path, off, f"record seq {fields[1]}: {exc}") from None

    def _remove_temp_files(self) -> None:
        removed = False
        for name in self.fs.listdir(self.snap_dir):
            if name.endswith(snap.TMP_SUFFIX):
                self.fs.remove(os.path.join(self.snap_dir, name))
                removed = True
        if removed:
            self.fs.fsync_dir(self.snap_dir)

    def _adopt_snapshot(self, state: snap.SnapshotState) -> None:
        jobs = self._jobs
        for rec in state.finished:
            jobs[rec.id] = rec
            if rec.state is COMPLETED:
                self._n_completed += 1
            else:
                self._n_dead += 1
        for rec in state.live:
            jobs[rec.id] = rec
            if rec.state is PENDING:
                self._add_pending(rec, state.time)
            elif rec.state is IN_FLIGHT:
                self._in_flight[rec.id] = rec
            elif rec.state is COMPLETED:  # tolerated: finished after its chunk was cut
                self._n_completed += 1
            else:
                self._n_dead += 1
        c = state.counters
        self.stale_results = c.get("stale_results", 0)
        self.timeouts = c.get("timeouts", 0)
        self.failures = c.get("failures", 0)
        self.interruptions = c.get("interruptions", 0)
        self.dispatches = c.get("dispatches", 0)
        self.snapshots_taken = c.get("snapshots", 0)
        self._chunks = list(state.chunks)

    def _interrupt_in_flight(self) -> int:
        """Jobs in flight at the crash lost their worker: each attempt ends as interrupted, and
        the decision is logged (then synced by the caller) so a second recovery agrees."""
        now = self.clock.now()
        recs = sorted(self._in_flight.values(), key=lambda r: (r.deadline, r.id))
        for rec in recs:
            self._end_attempt(rec, "interrupted", now)
        self.interruptions += len(recs)
        return len(recs)

    # ------------------------------------------------------------------ applying records
    def _add_pending(self, rec: JobRecord, as_of: float) -> None:
        """Restore a pending job: ready ones keep their order in ``_ready``, ones still backing
        off go to the delayed heap keyed by (ready time, seq), exactly as the live path does."""
        self._n_pending += 1
        if rec.ready_at > as_of:
            heapq.heappush(self._delayed, (rec.ready_at, rec.ready_seq, rec.id))
        else:
            self._ready[rec.id] = rec

    def _apply(
        self,
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
        """Check one record against the state machine and apply it. Replay comes through here;
        the live operations check the same conditions themselves and call the same ``_on_*``
        effects, so a transition means the same thing live and after a crash."""
        if rtype == ENQUEUE:
            if job_id in self._jobs:
                raise DuplicateJobError(job_id)
            self._on_enqueue(job_id, payload, None if extra != extra else extra, t, seq)
            return
        rec = self._jobs.get(job_id)
        if rec is None:
            raise UnknownJobError(job_id)
        # The state machine (jobs.TRANSITIONS) decides which events a state allows; the attempt
        # numbering rule is the only other check: a DISPATCH starts the next attempt, every other
        # record is about the current one.
        next_state(job_id, rec.state, _EVENTS[rtype])
        expected = rec.attempt + 1 if rtype == DISPATCH else rec.attempt
        if attempt != expected:
            raise IllegalTransitionError(
                f"job {job_id!r}: record for attempt {attempt}, but the job is "
                f"{rec.state.value} after {rec.attempt} attempt(s)"
            )
        if rtype == DISPATCH:
            self._on_dispatch(rec, t, attempt, worker, extra)
        elif rtype == ACK:
            self._on_ack(rec, t)
        elif rtype == RETRY:
            self._on_retry(rec, t, seq, extra, REASON_NAMES.get(reason, "failed"))
        else:
            self._on_dead(rec, t, REASON_NAMES.get(reason, "failed"))

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

    def _on_dispatch(self, rec: JobRecord, t: float, attempt: int, worker: int, deadline: float):
        # A job dispatched out of the delayed heap leaves a stale heap entry, skipped lazily.
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
        del self._in_flight[rec.id]
        rec.state = COMPLETED
        rec.finished_at = t
        self._n_completed += 1
        self._finished_since_snapshot.append(rec)

    def _on_retry(self, rec: JobRecord, t: float, seq: int, ready_at: float, reason: str) -> None:
        del self._in_flight[rec.id]
        rec.reason = reason
        rec.state = PENDING
        rec.ready_at = ready_at
        rec.ready_seq = seq
        self._n_pending += 1
        if ready_at > t:
            heapq.heappush(self._delayed, (ready_at, seq, rec.id))
        else:
            self._ready[rec.id] = rec

    def _on_dead(self, rec: JobRecord, t: float, reason: str) -> None:
        del self._in_flight[rec.id]
        rec.reason = reason
        rec.state = DEAD
        rec.finished_at = t
        self._n_dead += 1
        self._finished_since_snapshot.append(rec)

    # ------------------------------------------------------------------ committing
    def _check_open(self) -> None:
        if self._stopped is not None:
            raise QueueStoppedError(
                f"queue at {self.data_dir} stopped after a storage error and accepts no more "
                f"work: {self._stopped}"
            )
        if self._closed:
            raise QueueStoppedError(f"queue at {self.data_dir} is closed")

    def _fail_stop(self, exc: OSError, what: str) -> StorageError:
        self._stopped = exc
        return StorageError(
            f"{what} failed in {self.data_dir}: {exc}; the queue has stopped accepting work "
            "(reopen the directory to recover what is durable)"
        )

    def _commit_always(self, now: float = 0.0) -> None:
        """``always``: every operation is fsynced before it returns."""
        self._wal_io(self.writer.sync, "WAL write")

    def _commit_never(self, now: float = 0.0) -> None:
        """``never``: every operation reaches the OS (survives kill -9), none is fsynced."""
        self._wal_io(self.writer.flush, "WAL write")

    def _wal_io(self, step: Any, what: str) -> None:
        """Run one WAL I/O step; an OS error stops the queue (fail-stop) and says why."""
        try:
            step()
        except OSError as exc:
            raise self._fail_stop(exc, what) from exc

    def _commit_batch(self, now: float | None = None) -> None:
        """``batch`` (group commit): fsync once ``batch_size`` records are waiting or the oldest
        has waited ``flush_interval``; whoever calls :meth:`tick` or :meth:`sync` in between
        makes the timer exact. ``now``: the operation's own clock reading, if it has one.

        Leaves the window in ``_commit_seq`` / ``_commit_time``: the hot operations skip this
        call while their record's seq and their clock reading are both below it."""
        w = self.writer
        waiting = w.next_seq - 1 - w.durable_seq
        if not waiting:
            self._close_commit_window()
            return
        if now is None:
            now = self.clock.now()
        since = self._unsynced_since
        if since is None:
            since = self._unsynced_since = now
        if waiting < self.batch_size and now < since + self.flush_interval:
            self._commit_seq = w.durable_seq + self.batch_size
            self._commit_time = since + self.flush_interval
            return
        try:
            w.sync()
        except OSError as exc:
            raise self._fail_stop(exc, "WAL write") from exc
        self._close_commit_window()

    def _close_commit_window(self) -> None:
        """Everything appended is durable: the next record opens a new group-commit window."""
        self._unsynced_since = None
        if self.fsync_policy == "batch":
            self._commit_seq = self.writer.durable_seq + 1
            self._commit_time = math.inf

    def sync(self) -> int:
        """Write and fsync everything appended so far (a group commit). Returns durable_seq."""
        self._check_open()
        try:
            self.writer.sync()
        except OSError as exc:
            raise self._fail_stop(exc, "WAL fsync") from exc
        self._close_commit_window()
        return self.writer.durable_seq

    def flush(self) -> int:
        """Hand buffered records to the OS without fsync. Returns written_seq."""
        self._check_open()
        try:
            self.writer.flush()
        except OSError as exc:
            raise self._fail_stop(exc, "WAL write") from exc
        return self.writer.written_seq

    def tick(self) -> bool:
        """For a ``batch`` queue: group-commit now if the flush interval has passed. Returns
        whether an fsync happened. Servers call this from a timer."""
        self._check_open()
        if self._unsynced_since is None or self.writer.durable_seq == self.writer.next_seq - 1:
            return False
        if self.clock.now() >= self._unsynced_since + self.flush_interval:  # same as sync_due_at
            self.sync()
            return True
        return False

    @property
    def sync_due_at(self) -> float | None:
        """When a ``batch`` queue's pending group commit falls due (None: nothing unsynced)."""
        if self._unsynced_since is None:
            return None
        return self._unsynced_since + self.flush_interval

    # ------------------------------------------------------------------ public operations
    def enqueue(self, job: Job) -> int:
        """Add one job; returns its ENQUEUE record's seq. Durable as the fsync policy says:
        acknowledged once ``durable_seq >= seq`` (immediately under ``always``)."""
        self._check_open()
        return self._enqueue_encoded([self._encode_new(job)])

    def enqueue_many(self, jobs: Iterable[Job]) -> int:
        """Add jobs all-or-nothing: every job is checked before any is logged. Returns the seq
        of the last ENQUEUE record (one fsync covers them all under ``always``)."""
        self._check_open()
        seen: set[str] = set()
        encoded = []
        for job in list(jobs):
            encoded.append(self._encode_new(job, seen))
            seen.add(job.id)
        return self._enqueue_encoded(encoded)

    def _encode_new(
        self, job: Any, seen: set[str] | frozenset[str] = frozenset()
    ) -> tuple[str, bytes, bytes, float | None]:
        """Check that ``job`` is a Job with an id unknown here and not in ``seen``; return what
        its ENQUEUE record needs (id, id bytes, payload bytes, timeout)."""
        if not isinstance(job, Job):
            raise ValueError(f"enqueue takes simqueue.Job objects, got {type(job).__name__}")
        if job.id in self._jobs or job.id in seen:
            raise DuplicateJobError(job.id)
        return (job.id, job.id.encode(), encode_payload(job.id, job.payload), job.timeout)

    def enqueue_new_id(self, job_id: str, id_bytes: bytes) -> int:
        """The simulation's fast path for one job it made up itself: a fresh, valid id, no
        payload, the default timeout. Returns the ENQUEUE record's seq."""
        if self._stopped is not None or self._closed:
            self._check_open()
        now = self.clock.now()
        seq = self.writer.append(ENQUEUE, id_bytes, now, 0, -1, wal.NO_TIMEOUT, 0, b"")
        self._on_enqueue(job_id, b"", None, now, seq, id_bytes)
        if seq >= self._commit_seq or now >= self._commit_time:
            self._commit(now)
        return seq

    def _enqueue_encoded(self, encoded: list[tuple[str, bytes, bytes, float | None]]) -> int:
        now = self.clock.now()
        append = self.writer.append
        seq = self.writer.next_seq - 1
        on_enqueue = self._on_enqueue
        for job_id, id_b, payload, timeout in encoded:
            if timeout is None:
                seq = append(ENQUEUE, id_b, now, 0, -1, wal.NO_TIMEOUT, 0, payload)
            else:
                timeout = float(timeout)
                seq = append(ENQUEUE, id_b, now, 0, -1, timeout, 0, payload)
            on_enqueue(job_id, payload, timeout, now, seq, id_b)
        self._commit(now)
        return seq

    def enqueue_ids(self, ids: Iterable[str]) -> int:
        """Fast path for simulations: jobs with no payload and the default timeout."""
        self._check_open()
        encoded = []
        for job_id in ids:
            if job_id in self._jobs:
                raise DuplicateJobError(job_id)
            validate_job_fields(job_id, None, None)
            encoded.append((job_id, job_id.encode(), b"", None))
        return self._enqueue_encoded(encoded)

    def _next_ready(self, now: float) -> JobRecord | None:
        """The pending job that became ready first (FIFO by readiness), or None: the head of
        ``_ready`` (a plain dict, in the order jobs became ready) or a due backed-off job from the
        delayed heap, whichever became ready first. The caller dispatches what it returns."""
        delayed = self._delayed
        jobs = self._jobs
        while delayed:
            ready_at, rseq, job_id = delayed[0]
            rec = jobs[job_id]
            if rec.state is not PENDING or rec.ready_seq != rseq:
                heapq.heappop(delayed)  # stale entry: dispatched or re-queued since
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

    def next_ready_at(self) -> float | None:
        """When the next delayed (backing-off) job becomes ready, or None."""
        delayed = self._delayed
        while delayed:
            ready_at, rseq, job_id = delayed[0]
            rec = self._jobs[job_id]
            if rec.state is PENDING and rec.ready_seq == rseq:
                return ready_at
            heapq.heappop(delayed)
        return None

    def dispatch(self, worker: int) -> Job | None:
        """Hand the next ready job to ``worker`` (logged first); None if nothing is ready."""
        out = self.dispatch_raw(worker)
        if out is None:
            return None
        rec = self._in_flight[out[0]]  # just dispatched: in the small in-flight map
        return Job._stored(
            rec.id, decode_payload(rec.payload_raw), rec.timeout, rec.attempt, rec.deadline
        )

    def dispatch_raw(self, worker: int) -> tuple[str, int, float] | None:
        """Like :meth:`dispatch`, returning ``(job_id, attempt, deadline)`` without decoding
        the payload (the simulation's fast path)."""
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
        if seq >= self._commit_seq or now >= self._commit_time:
            self._commit(now)
        return rec.id, attempt, deadline

    def _current(self, job_id: str, attempt: int) -> JobRecord | None:
        """The job if ``attempt`` is its current in-flight attempt; None (stale) otherwise."""
        rec = self._jobs.get(job_id)
        if rec is None:
            raise UnknownJobError(job_id)
        if attempt > rec.attempt or attempt < 1:
            raise IllegalTransitionError(
                f"job {job_id!r} has had {rec.attempt} attempt(s); there is no attempt {attempt}"
            )
        if rec.state is not IN_FLIGHT or attempt != rec.attempt:
            return None
        return rec

    def complete(self, job_id: str, attempt: int) -> bool:
        """Record success of ``attempt``. False (and counted) if that attempt is stale."""
        if self._stopped is not None or self._closed:
            self._check_open()
        # The small in-flight map, not the map of every job ever seen: it stays in the cache.
        rec = self._in_flight.get(job_id)
        if rec is None or rec.attempt != attempt:
            rec = self._current(job_id, attempt)  # raises for unknown jobs or future attempts
            if rec is None:
                self.stale_results += 1
                return False
        now = self.clock.now()
        seq = self.writer.append(ACK, rec.id_bytes, now, attempt)
        self._on_ack(rec, now)
        if seq >= self._commit_seq or now >= self._commit_time:
            self._commit(now)
        return True

    def fail(self, job_id: str, attempt: int, reason: str = "failed") -> JobState | None:
        """Record failure of ``attempt``: PENDING again (after backoff) or DEAD once it was the
        last allowed attempt. Returns the new state, or None (counted) if the attempt is stale."""
        self._check_open()
        if reason not in ("failed", "timeout"):
            raise ValueError(f"reason must be 'failed' or 'timeout'; got {reason!r}")
        rec = self._current(job_id, attempt)
        if rec is None:
            self.stale_results += 1
            return None
        if reason == "timeout":
            self.timeouts += 1
        else:
            self.failures += 1
        state = self._end_attempt(rec, reason, self.clock.now())
        self._commit()
        return state

    def _end_attempt(self, rec: JobRecord, reason: str, now: float) -> JobState:
        attempt = rec.attempt
        code = REASON_CODES[reason]
        if attempt >= self.max_retry + 1:
            self.writer.append(_DEAD_TYPE, rec.id_bytes, now, attempt, -1, 0.0, code)
            self._on_dead(rec, now, reason)
            return DEAD
        ready_at = now + self.backoff * 2 ** (attempt - 1)
        seq = self.writer.append(RETRY, rec.id_bytes, now, attempt, -1, ready_at, code)
        self._on_retry(rec, now, seq, ready_at, reason)
        return PENDING

    def timeout_attempt(self, job_id: str, attempt: int) -> JobState | None:
        """Time out one attempt if it is still current (the simulation's deadline timer).
        Returns the new state, or None if the attempt already ended (not a stale result)."""
        if self._stopped is not None or self._closed:
            self._check_open()
        rec = self._in_flight.get(job_id)
        if rec is None or rec.attempt != attempt:
            return None
        self.timeouts += 1
        now = self.clock.now()
        state = self._end_attempt(rec, "timeout", now)
        if self.writer.next_seq > self._commit_seq or now >= self._commit_time:
            self._commit(now)
        return state

    def expire(self) -> list[str]:
        """Time out every in-flight attempt whose deadline has passed, earliest deadline first;
        returns their ids. (A scan of the in-flight set, which is bounded by the workers.)"""
        self._check_open()
        now = self.clock.now()
        # Earliest deadline first; equal deadlines in dispatch order, which is the order of
        # ``_in_flight`` (sorted() is stable).
        due = sorted(
            (r for r in self._in_flight.values() if r.deadline <= now), key=lambda r: r.deadline
        )
        for rec in due:
            self.timeouts += 1
            self._end_attempt(rec, "timeout", now)
        if due:
            self._commit()
        return [r.id for r in due]

    def next_deadline(self) -> float | None:
        """The earliest deadline among in-flight attempts, or None."""
        return min((r.deadline for r in self._in_flight.values()), default=None)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> str:
        """Write the whole state durably at the current seq; prune what it makes redundant.

        Order: WAL synced and rolled to a fresh segment; finished-jobs chunk and snapshot
        written (temp, fsync, rename, directory fsync); only then snapshots older than the
        previous one, chunks nobody lists and WAL segments wholly covered by the *previous*
        snapshot are deleted, so an unreadable newest snapshot can still fall back."""
        self._check_open()
        w = self.writer
        try:
            w.sync()
            if w.segments and w.segments[-1][0] != w.next_seq:
                w.roll()
            last_seq = w.next_seq - 1
            live = [self._jobs[i] for i in self.pending_ids()] + sorted(
                self._in_flight.values(), key=lambda r: (r.deadline, r.id)
            )
            path, chunks = snap.write_snapshot(
                self.fs,
                self.snap_dir,
                last_seq,
                self.clock.now(),
                live,
                self._finished_since_snapshot,
                self._chunks,
                self._counters(),
            )
            self._chunks = chunks
            self._chunks_of[path] = {m["name"] for m in chunks}
            self._finished_since_snapshot = []
            self._snapshots = [s for s in self._snapshots if s[1] != path] + [(last_seq, path)]
            self.snapshots_taken += 1
            self._prune()
        except OSError as exc:
            raise self._fail_stop(exc, "snapshot") from exc
        self._close_commit_window()
        return path

    def _counters(self) -> dict[str, int]:
        return {
            "stale_results": self.stale_results,
            "timeouts": self.timeouts,
            "failures": self.failures,
            "interruptions": self.interruptions,
            "dispatches": self.dispatches,
            "snapshots": self.snapshots_taken + 1,
        }

    def _prune(self) -> None:
        fs = self.fs
        keep = self._snapshots[-2:]
        removed = False
        for _, path in self._snapshots[:-2]:
            if fs.exists(path):
                fs.remove(path)
                removed = True
        self._snapshots = keep
        referenced = {m["name"] for m in self._chunks}
        names = self._chunks_of  # snapshot path -> the chunks it lists, remembered when written
        self._chunks_of = {p: names[p] for _, p in keep if p in names}
        if len(keep) == 2:
            previous = keep[0][1]
            if previous not in names:  # written before this process started: read it once
                try:
                    self._chunks_of[previous] = snap.snapshot_chunk_names(fs, previous)
                except snap.CorruptSnapshotError:
                    self._chunks_of[previous] = set()
            referenced |= self._chunks_of[previous]
        for name in fs.listdir(self.snap_dir):
            if (
                name.startswith(snap.CHUNK_PREFIX)
                and name.endswith(snap.CHUNK_SUFFIX)
                and name not in referenced
            ):
                fs.remove(os.path.join(self.snap_dir, name))
                removed = True
        if removed:
            fs.fsync_dir(self.snap_dir)
        if len(keep) == 2:
            self.writer.delete_segments_through(keep[0][0])

    # ------------------------------------------------------------------ reading
    def state_of(self, job_id: str) -> JobState:
        rec = self._jobs.get(job_id)
        if rec is None:
            raise UnknownJobError(job_id)
        return rec.state

    def job(self, job_id: str) -> JobInfo:
        """A read-only record of one job: state, attempt, payload, timestamps."""
        rec = self._jobs.get(job_id)
        if rec is None:
            raise UnknownJobError(job_id)
        return rec.info()

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

    def pending_ids(self) -> list[str]:
        """Pending job ids in the order they will be dispatched (ready first, then backing off
        by the time they become ready)."""
        delayed = sorted(
            e
            for e in self._delayed
            if self._jobs[e[2]].state is PENDING and self._jobs[e[2]].ready_seq == e[1]
        )
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

    def in_flight_ids(self) -> list[str]:
        return list(self._in_flight)

    def iter_jobs(self) -> Iterator[JobRecord]:
        """Internal records of every job (read-only by convention), for the simulation."""
        return iter(self._jobs.values())

    def jobs_info(self) -> list[JobInfo]:
        return [r.info() for r in self._jobs.values()]

    @property
    def next_seq(self) -> int:
        return self.writer.next_seq

    @property
    def last_seq(self) -> int:
        return self.writer.next_seq - 1

    @property
    def durable_seq(self) -> int:
        """Every record with seq <= this survives a power cut (under ``durability="real"``)."""
        return self.writer.durable_seq

    @property
    def written_seq(self) -> int:
        """Every record with seq <= this has reached the OS and survives a process crash."""
        return self.writer.written_seq

    def is_durable(self, seq: int) -> bool:
        return seq <= self.writer.durable_seq

    def is_acknowledged(self, seq: int) -> bool:
        """Whether a record counts as acknowledged under this queue's fsync policy."""
        if self.fsync_policy == "never":
            return seq <= self.writer.written_seq
        return seq <= self.writer.durable_seq

    @property
    def wal_bytes(self) -> int:
        """Bytes in the WAL segments still on disk (plus what is buffered)."""
        return self.writer.bytes_on_disk()

    @property
    def stopped(self) -> bool:
        return self._stopped is not None or self._closed

    # ------------------------------------------------------------------ shutting down
    def close(self) -> None:
        """Sync and release the directory. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._stopped is None:
                self.writer.sync()
        except OSError as exc:
            self._stopped = exc
            raise StorageError(f"final WAL sync failed in {self.data_dir}: {exc}") from exc
        finally:
            self.writer.close(release=self._stopped is None)
            self._closed = True
            self._release_lock()

    def abandon(self) -> None:
        """What ``kill -9`` does to this process: user-space WAL buffer lost, files closed,
        lock released. The object is unusable afterwards."""
        if self._closed:
            return
        self.writer.abandon()
        self._closed = True
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            self.fs.unlock(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> DurableQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            try:
                self.close()
            except SimQueueError:
                pass

    def __repr__(self) -> str:
        c = self.counts()
        return (
            f"DurableQueue({self.data_dir!r}, fsync={self.fsync_policy!r}, "
            f"pending={c['pending']}, in_flight={c['in_flight']}, completed={c['completed']}, "
            f"dead={c['dead']}, seq={self.last_seq}, durable={self.durable_seq})"
        )


__all__ = ["DurableQueue", "RecoveryReport", "FSYNC_POLICIES"]
