"""A job table kept in a data directory: what a :class:`~simqueue.core.queue.DurableQueue` is
besides its operations.

:class:`DurableTable` is built by recovering the directory into its (empty) job table
(:func:`simqueue.core.recovery.recover`); it then owns what recovery hands back: the WAL
writer, the commit policy over it (:mod:`simqueue.core.commit`), the snapshots
(:mod:`simqueue.core.checkpoint`) and the directory's lock. Its life has three states: accepting
work; *stopped* by a storage error (fail-stop: it accepts no more work and says why, so it never
retries its way into a false "success"); *closed* (synced, lock released) or abandoned.

Threads: every public operation appends and applies under the commit policy's one mutex and
waits for its fsync after it (:func:`operation`; docs/semantics.md, "Threads").
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Concatenate, ParamSpec, Self, TypeVar

from simqueue.core.capture import LiveCapture
from simqueue.core.clock import Clock, WallClock
from simqueue.core.commit import commit_policy
from simqueue.core.errors import QueueStoppedError, SimQueueError, StorageError
from simqueue.core.guarded import locked_read
from simqueue.core.jobs import JobRecord
from simqueue.core.options import DEFAULT_SEGMENT_BYTES, QueueOptions
from simqueue.core.recovery import RecoveryReport, recover, with_gc_paused
from simqueue.core.storage import FileSystem
from simqueue.core.table import JobTable

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T", bound="DurableTable")


def operation(fn: Callable[Concatenate[T, P], R]) -> Callable[Concatenate[T, P], R]:
    """Make ``fn`` a public operation: it runs under the queue's mutex, and under ``always`` (under
    ``batch`` when it closes a window) it returns once an fsync covers the records it appended,
    an fsync it waits for *after* releasing the mutex
    (:meth:`~simqueue.core.commit.CommitPolicy.wait_durable`), so other threads' records may
    join it."""

    @functools.wraps(fn)
    def run(self: T, /, *args: P.args, **kwargs: P.kwargs) -> R:
        c = self._committer
        if not c.defers:
            with c.mutex:
                return fn(self, *args, **kwargs)
        with c.mutex:
            c.enter()
            try:
                out = fn(self, *args, **kwargs)
            finally:
                seq = c.leave()
        if seq:
            c.wait_durable(seq)
        return out

    return run


class DurableTable(JobTable):
    """A job table over an open data directory: its log, snapshots, lock and lifecycle.
    Create with :meth:`open`, which checks the options once (:class:`QueueOptions`).

    Safe to share between threads: every public operation and every read that walks the
    table holds one re-entrant mutex. One data directory is open in one queue at a time (the
    directory's lock file refuses a second)."""

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
        retain_finished: int | None = None,
        retain_seconds: float | None = None,
    ) -> Self:
        """Create ``data_dir`` or recover the queue stored there. The options are
        :class:`QueueOptions`'s; ``durability="modeled"`` records fsyncs instead of performing
        them (for simulations; a simulated power loss honours them).

        ``salvage=True`` is for an operator, never a default: when the *last* segment has a bad
        record with valid records after it (what recovery otherwise refuses with
        :class:`CorruptWALError`), cut the segment at the bad record anyway and say so in
        :attr:`RecoveryReport.salvage_offset` / ``salvaged_bytes``. That is right after a power
        cut that persisted a later unsynced sector before an earlier one (everything from the
        hole on was never fsynced, so never acknowledged); it loses acknowledged records if the
        damage is a flipped bit in fsynced data. Older segments are never salvaged."""
        options = QueueOptions(
            fsync=fsync,
            max_retry=max_retry,
            backoff=backoff,
            task_timeout=task_timeout,
            flush_interval=flush_interval,
            batch_size=batch_size,
            segment_bytes=segment_bytes,
            durability=durability,
            salvage=salvage,
            retain_finished=retain_finished,
            retain_seconds=retain_seconds,
        )
        if fs is None:
            fs = FileSystem(real_fsync=options.durability == "real", track_power_loss=False)
        clock = clock or WallClock()
        return with_gc_paused(lambda: cls(os.fspath(data_dir), options, fs, clock))

    def __init__(self, data_dir: str, options: QueueOptions, fs: FileSystem, clock: Clock) -> None:
        super().__init__(options.retention())
        recovered = recover(self, data_dir, options, fs, clock)
        # Under 30 instance attributes in all (the job table's included): CPython 3.11 shares the
        # keys of at most 30, and those are read fastest (benchmarks/bench_simulation.py).
        self.data_dir = data_dir
        self.fs = fs
        self.clock = clock
        self.options = options
        self.task_timeout = options.task_timeout
        self.writer = recovered.writer
        #: What recovery found and did; None for a directory that was new.
        self.recovery: RecoveryReport | None = recovered.report
        self._lock = recovered.lock
        self._checkpoints = recovered.checkpoints
        self._stopped: OSError | None = None  # the storage error that stopped the queue
        self._closed = False
        self._committer = commit_policy(options, self.writer, self._fail_stop, self._check_open)

    @property
    def fsync_policy(self) -> str:
        return self.options.fsync

    @property
    def max_retry(self) -> int:
        return self.options.max_retry

    @property
    def backoff(self) -> float:
        return self.options.backoff

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def flush_interval(self) -> float:
        return self.options.flush_interval

    @property
    def wal_dir(self) -> str:
        return self.writer.wal_dir

    @property
    def snap_dir(self) -> str:
        return self._checkpoints.snap_dir

    def _check_open(self) -> None:
        if self._stopped is not None:
            msg = f"stopped after a storage error and accepts no more work: {self._stopped}"
            raise QueueStoppedError(f"queue at {self.data_dir} {msg}")
        if self._closed:
            raise QueueStoppedError(f"queue at {self.data_dir} is closed")

    def _fail_stop(self, exc: OSError, what: str) -> StorageError:
        self._stopped = exc
        return StorageError(
            f"{what} failed in {self.data_dir}: {exc}; the queue has stopped accepting work "
            "(reopen the directory to recover what is durable)"
        )

    # ------------------------------------------------------------------ committing
    def sync(self) -> int:
        """Write and fsync everything appended so far (a group commit). Returns durable_seq."""
        c = self._committer
        if c.defers:
            self._sync()
            return self.writer.durable_seq
        with c.mutex:  # the short form of ``_sync`` (the simulation's flush timer calls this)
            self._check_open()
            c.sync()
            return self.writer.durable_seq

    @operation
    def _sync(self) -> None:
        self._check_open()
        self._committer.sync()

    def flush(self) -> int:
        """Hand buffered records to the OS without fsync. Returns written_seq."""
        c = self._committer
        with c.sync_lock, c.mutex:  # a flush may roll the segment
            self._check_open()
            c.flush()
            return self.writer.written_seq

    def tick(self) -> bool:
        """Group-commit a ``batch`` queue if its flush interval has passed (a server's timer)."""
        with self._committer.mutex:
            self._check_open()
            due, w = self._committer.sync_due_at, self.writer
            if due is None or w.durable_seq == w.next_seq - 1 or self.clock.now() < due:
                return False
        self.sync()
        return True

    @property
    def sync_due_at(self) -> float | None:
        """When a ``batch`` queue's pending group commit falls due (None: nothing unsynced)."""
        return self._committer.sync_due_at

    @property
    def _unsynced_since(self) -> float | None:  # the oldest record a group commit awaits
        return self._committer.unsynced_since

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> str:
        """Write the whole state durably at the current seq; prune what it makes redundant.

        Order: WAL synced and rolled to a fresh segment; finished-jobs chunk and snapshot
        written (temp, fsync, rename, directory fsync); only then snapshots older than the
        previous one, chunks nobody lists and WAL segments wholly covered by the *previous*
        snapshot are deleted, so an unreadable newest snapshot can still fall back. Operations
        wait only for the capture of the live jobs (milliseconds), one slice of their encoding
        at a time and the pruning, never for the files (:mod:`simqueue.core.capture`)."""
        with self._checkpoints.writing:
            cap = self._capture_live()
            try:
                live = cap.encode(self._committer.mutex)
            finally:
                with self._committer.mutex:
                    self._capture = None
            try:
                path = self._checkpoints.write(
                    cap.last_seq, cap.time, (live, len(cap)), cap.finished, cap.counters, cap.window
                )
            except OSError as exc:
                raise self._fail_stop(exc, "snapshot") from exc
            c = self._committer
            with c.sync_lock, c.mutex:  # pruning deletes WAL segments
                self._check_open()
                self.snapshots_taken += 1
                try:
                    self._checkpoints.prune(self.writer)
                except OSError as exc:
                    raise self._fail_stop(exc, "snapshot") from exc
            return path

    def _capture_live(self) -> LiveCapture:
        """Sync and roll the WAL, then capture what the snapshot stores, under the mutex."""
        c = self._committer
        with c.sync_lock, c.mutex:  # a snapshot rolls the segment
            self._check_open()
            w = self.writer
            try:
                w.sync()
                if w.segments and w.segments[-1][0] != w.next_seq:
                    w.roll()
            except OSError as exc:
                raise self._fail_stop(exc, "snapshot") from exc
            c.synced()
            finished, window = self._take_finished()
            self._capture = LiveCapture(
                w.next_seq - 1, self._live_records(), finished, self._counters(),
                self.clock.now(), window,
            )  # fmt: skip
            return self._capture

    # ------------------------------------------------------------------ the log's positions
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

    def is_acknowledged(self, seq: int) -> bool:
        """Whether a record counts as acknowledged under this queue's fsync policy."""
        with self._committer.mutex:
            return seq <= self._committer.acknowledged_seq()

    def wait_acknowledged(self, seq: int) -> None:
        """Return once record ``seq`` is acknowledged under the fsync policy: under ``always``
        and ``batch`` lead the group commit at once, or join it (docs/semantics.md, "Threads").
        Call it holding no lock an operation needs; QueueStoppedError if the queue stops first."""
        self._committer.wait_acknowledged(seq)

    def try_acknowledge(self, seq: int) -> bool:
        """:meth:`wait_acknowledged`, but False at once while another thread's fsync runs."""
        return self._committer.try_acknowledge(seq)

    def on_commit(self, listener: Callable[[], None] | None) -> None:
        """Call ``listener`` (from whichever thread led it) after every group commit's fsync."""
        self._committer.on_commit = listener

    def acks_deferred(self) -> AbstractContextManager[None]:
        """Inside, this thread's operations return without waiting for their fsync; wait with
        :meth:`wait_acknowledged` after releasing your own locks (what the server does)."""
        return self._committer.acks_deferred()

    @property
    def wal_bytes(self) -> int:
        """Bytes in the WAL segments still on disk (plus what is buffered)."""
        with self._committer.mutex:
            return self.writer.bytes_on_disk()

    @property
    def stopped(self) -> bool:
        return self._stopped is not None or self._closed

    # ------------------------------------------------------------------ reading (locked)
    counts = locked_read(JobTable.counts)
    pending_ids = locked_read(JobTable.pending_ids)
    in_flight_ids = locked_read(JobTable.in_flight_ids)
    job = locked_read(JobTable.job)
    jobs_info = locked_read(JobTable.jobs_info)
    next_deadline = locked_read(JobTable.next_deadline)
    next_ready_at = locked_read(JobTable.next_ready_at)

    def iter_jobs(self) -> Iterator[JobRecord]:
        """Internal records of every job (read-only by convention), as of the call."""
        with self._committer.mutex:
            return iter(list(self._jobs.values()))

    # ------------------------------------------------------------------ shutting down
    def close(self) -> None:
        """Sync and release the directory. Safe to call twice."""
        c = self._committer
        with self._checkpoints.writing, c.sync_lock, c.mutex:  # not during a snapshot or fsync
            self._close()

    def _close(self) -> None:
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
            self._lock.release()

    def abandon(self) -> None:
        """What ``kill -9`` does to this process: user-space WAL buffer lost, files closed,
        lock released. The object is unusable afterwards."""
        c = self._committer
        with c.sync_lock, c.mutex:
            if self._closed:
                return
            self.writer.abandon()
            self._closed = True
            self._lock.release()

    def __enter__(self) -> Self:
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
            f"{type(self).__name__}({self.data_dir!r}, fsync={self.fsync_policy!r}, "
            f"pending={c['pending']}, in_flight={c['in_flight']}, completed={c['completed']}, "
            f"dead={c['dead']}, seq={self.last_seq}, durable={self.durable_seq})"
        )


__all__ = ["DurableTable"]
