"""Commit policies: when the records an operation appended reach the OS and the disk.

* ``always`` (:class:`CommitAlways`): every operation is fsynced before it returns.
* ``batch`` (:class:`GroupCommit`): group commit, one fsync once ``batch_size`` records are
  waiting or the oldest has waited ``flush_interval`` seconds, whichever comes first.
* ``never`` (:class:`CommitNever`): every operation reaches the OS (survives ``kill -9``), none
  is fsynced.

The queue's hot operations call :meth:`CommitPolicy.commit` only when it has something to do:
once their record's seq reaches ``due_seq`` or their clock reading reaches ``due_time``. Under
``always`` and ``never`` both are always reached (``0`` and infinity), so every operation
commits; a group commit moves them to the end of its open window. An I/O error stops the queue
(fail-stop): the policy raises what the queue's ``stop`` callback returns.

Threads: the policy holds the queue's mutex (:attr:`CommitPolicy.mutex`); every public operation
of the queue runs under it (:meth:`CommitPolicy.enter` / :meth:`CommitPolicy.leave`). Under
``always`` a public operation does not hold it across its fsync: its commit only notes the seq
it needs durable, and after releasing the mutex it waits in :meth:`CommitAlways.wait_durable`
for an fsync that covers that seq, which many threads' records may share (group commit). One
thread at a time writes and fsyncs (``sync_lock``, always taken before the mutex); the others
append meanwhile. Anything that rolls or closes the current segment also holds ``sync_lock``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import ClassVar

from simqueue.core.errors import StorageError
from simqueue.core.options import QueueOptions
from simqueue.core.wal import WALWriter

#: Raises QueueStoppedError if the queue is stopped or closed (the queue's check).
CheckOpen = Callable[[], None]

#: The queue's fail-stop: records the OS error (the queue accepts no more work) and returns the
#: StorageError to raise, given the error and what failed.
Stop = Callable[[OSError, str], StorageError]


class CommitPolicy:
    """One queue's commit policy over its WAL writer. Subclasses decide :meth:`commit`."""

    __slots__ = ("writer", "due_seq", "due_time", "unsynced_since", "_stop", "mutex", "sync_lock")
    name: ClassVar[str]
    #: Whether a public operation waits for its fsync after the mutex (:meth:`enter`,
    #: :meth:`leave`, :meth:`wait_durable`); if not, they are never called.
    defers: ClassVar[bool] = False

    def __init__(self, writer: WALWriter, stop: Stop) -> None:
        self.writer = writer
        self._stop = stop
        self.due_seq = 0
        self.due_time = math.inf
        #: When the oldest record not yet fsynced was committed (group commit only), else None.
        self.unsynced_since: float | None = None
        #: The queue's one mutex, held by every public operation of the queue (appending,
        #: applying and committing included), so one thread at a time changes the log and the
        #: table. Kept here, not on the queue, so the queue stays under 30 instance attributes.
        self.mutex = threading.RLock()
        #: Held by whoever writes and fsyncs outside the mutex, and by whatever rolls or closes
        #: the current segment; taken before the mutex, never while holding it.
        self.sync_lock = threading.Lock()

    def enter(self) -> None:
        """A public operation has taken the mutex."""

    def leave(self) -> int:
        """A public operation is about to release the mutex: the seq it must wait for with
        :meth:`wait_durable` once released (0: none)."""
        return 0

    def wait_durable(self, seq: int) -> None:
        """Outside the mutex: return once ``seq`` is acknowledged (nothing to do here)."""

    def commit(self, now: float) -> None:
        """After an operation appended its records (``now``: its clock reading)."""
        raise NotImplementedError

    def sync(self, what: str = "WAL fsync") -> None:
        """Write and fsync everything appended so far."""
        try:
            self.writer.sync()
        except OSError as exc:
            raise self._stop(exc, what) from exc
        self.synced()

    def flush(self) -> None:
        """Hand buffered records to the OS without fsync."""
        try:
            self.writer.flush()
        except OSError as exc:
            raise self._stop(exc, "WAL write") from exc

    def synced(self) -> None:
        """Everything appended is durable (a sync or a snapshot made it so)."""
        self.unsynced_since = None

    @property
    def sync_due_at(self) -> float | None:
        """When the pending group commit falls due (None: nothing waits for one)."""
        return None

    def acknowledged_seq(self) -> int:
        """Records with seq up to this count as acknowledged under this policy."""
        return self.writer.durable_seq


class CommitAlways(CommitPolicy):
    """``always``. Inside a public operation (``_depth > 0``) a commit is deferred to
    :meth:`wait_durable`; a caller of the queue's unlocked forms (one thread owning the queue)
    fsyncs in :meth:`commit` itself."""

    __slots__ = ("_depth", "_want", "_check_open")
    name = "always"
    defers = True

    def __init__(self, writer: WALWriter, stop: Stop, check_open: CheckOpen) -> None:
        super().__init__(writer, stop)
        self._depth = 0  # nesting of public operations holding the mutex
        self._want = 0  # the seq the outermost one must see durable before it returns
        self._check_open = check_open

    def commit(self, now: float) -> None:
        if self._depth:
            self._want = self.writer.next_seq - 1
            return
        try:
            self.writer.sync()
        except OSError as exc:
            raise self._stop(exc, "WAL write") from exc

    def sync(self, what: str = "WAL fsync") -> None:
        if self._depth:
            self._want = self.writer.next_seq - 1
            return
        super().sync(what)

    def enter(self) -> None:
        self._depth += 1

    def leave(self) -> int:
        self._depth -= 1
        if self._depth:
            return 0
        want, self._want = self._want, 0
        return want if want > self.writer.durable_seq else 0

    def wait_durable(self, seq: int) -> None:
        """Group commit: one thread at a time writes the buffer (its records and everyone
        else's) and fsyncs it outside the mutex; whoever finds its seq covered returns."""
        w = self.writer
        with self.sync_lock:
            if w.durable_seq >= seq:
                return  # an fsync that started after our append covered it
            with self.mutex:
                self._check_open()
                try:
                    handle, upto = w.write_for_fsync()
                except OSError as exc:
                    raise self._stop(exc, "WAL write") from exc
            try:
                w.fs.fsync(handle)
            except OSError as exc:
                with self.mutex:
                    raise self._stop(exc, "WAL write") from exc
            with self.mutex:
                try:
                    w.fsynced(handle, upto)
                except OSError as exc:
                    raise self._stop(exc, "WAL write") from exc


class CommitNever(CommitPolicy):
    __slots__ = ()
    name = "never"

    def commit(self, now: float) -> None:
        try:
            self.writer.flush()
        except OSError as exc:
            raise self._stop(exc, "WAL write") from exc

    def acknowledged_seq(self) -> int:
        return self.writer.written_seq


class GroupCommit(CommitPolicy):
    """``batch``: whoever calls :meth:`DurableQueue.tick` or :meth:`DurableQueue.sync` between
    operations makes the ``flush_interval`` timer exact."""

    __slots__ = ("batch_size", "flush_interval")
    name = "batch"

    def __init__(
        self, writer: WALWriter, stop: Stop, batch_size: int, flush_interval: float
    ) -> None:
        super().__init__(writer, stop)
        self.batch_size = batch_size
        self.flush_interval = flush_interval

    def commit(self, now: float) -> None:
        """Fsync if the window is full or has timed out; otherwise leave its end in
        ``due_seq`` / ``due_time``."""
        w = self.writer
        waiting = w.next_seq - 1 - w.durable_seq
        if not waiting:
            self.synced()
            return
        since = self.unsynced_since
        if since is None:
            since = self.unsynced_since = now
        if waiting < self.batch_size and now < since + self.flush_interval:
            self.due_seq = w.durable_seq + self.batch_size
            self.due_time = since + self.flush_interval
            return
        self.sync("WAL write")

    def synced(self) -> None:
        """The next record opens a new window."""
        self.unsynced_since = None
        self.due_seq = self.writer.durable_seq + 1
        self.due_time = math.inf

    @property
    def sync_due_at(self) -> float | None:
        since = self.unsynced_since
        return None if since is None else since + self.flush_interval


def commit_policy(
    options: QueueOptions, writer: WALWriter, stop: Stop, check_open: CheckOpen
) -> CommitPolicy:
    """The policy ``options.fsync`` names."""
    if options.fsync == "batch":
        return GroupCommit(writer, stop, options.batch_size, options.flush_interval)
    if options.fsync == "always":
        return CommitAlways(writer, stop, check_open)
    return CommitNever(writer, stop)


__all__ = ["CommitAlways", "CommitNever", "CommitPolicy", "GroupCommit", "commit_policy"]
