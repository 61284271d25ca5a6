"""Commit policies: when the records an operation appended reach the OS and the disk.

* ``always`` (:class:`CommitAlways`): every operation returns once an fsync covering its
  records has returned.
* ``batch`` (:class:`GroupCommit`): one fsync once ``batch_size`` records are waiting or the
  oldest has waited ``flush_interval`` seconds, whichever comes first; those are upper bounds: a
  caller that waits for its acknowledgement (:meth:`CommitPolicy.wait_acknowledged`) starts the
  fsync at once if none is running, or joins the next one.
* ``never`` (:class:`CommitNever`): every operation reaches the OS (survives ``kill -9``), none
  is fsynced.

The queue's hot operations call :meth:`CommitPolicy.commit` only when it has something to do:
once their record's seq reaches ``due_seq`` or their clock reading reaches ``due_time``. Under
``always`` and ``never`` both are always reached (``0`` and infinity), so every operation
commits; a group commit moves them to the end of its open window. An I/O error stops the queue
(fail-stop): the policy raises what the queue's ``stop`` callback returns.

Threads: the policy holds the queue's mutex (:attr:`CommitPolicy.mutex`), which every public
operation of the queue runs under (:meth:`CommitPolicy.enter` / :meth:`CommitPolicy.leave`) and
none holds across an fsync under ``always`` and ``batch``: a commit inside one only notes the seq
it needs durable, and after the mutex the caller waits in :meth:`CommitPolicy.wait_durable`, the
group committer (the leader/follower scheme of PostgreSQL's WAL flush and etcd's batched
fsync; docs/semantics.md, "Threads"): the first waiter leads, taking every record appended so
far into one write and one fsync; those arriving meanwhile sleep, and when it returns it wakes
each one it covered and the first one it did not, which leads the next. One leader at a time
(``sync_lock``, always taken before the mutex, and held by whatever rolls or closes the current
segment, so it never pulls the file from under an fsync).

A caller with a lock of its own (the server's) calls operations inside
:meth:`CommitPolicy.acks_deferred`, releases its lock, then waits with
:meth:`CommitPolicy.wait_acknowledged`, or asks :meth:`CommitPolicy.try_acknowledge`, which
never sleeps behind another thread's fsync.
"""

from __future__ import annotations

import math
import threading
from _thread import LockType, allocate_lock

from simqueue.core.commitbase import CheckOpen, CommitPolicy, Stop
from simqueue.core.options import QueueOptions
from simqueue.core.wal import WALWriter


class _GroupCommitter(CommitPolicy):
    """A policy whose public operations fsync after releasing the mutex, sharing each fsync
    with every thread that appended meanwhile. Inside a public operation (``_depth > 0``) a
    commit is deferred to :meth:`wait_durable`; a caller of the queue's unlocked forms (one
    thread owning the queue) fsyncs in :meth:`commit` itself."""

    __slots__ = ("_depth", "_want", "_forced", "_gate", "_waiters", "_leading")
    defers = True

    def __init__(self, writer: WALWriter, stop: Stop, check_open: CheckOpen) -> None:
        super().__init__(writer, stop, check_open)
        self._depth = 0  # nesting of public operations holding the mutex
        self._want = 0  # the seq the outermost one must see durable before it returns
        self._forced = False  # ``sync`` asked for it: waited for even when deferred
        self._gate = threading.Lock()  # guards ``_leading`` and ``_waiters``
        #: Followers asleep until a leader releases them: (the seq each needs durable, the
        #: lock it sleeps on, held until then), in the order they went to sleep.
        self._waiters: list[tuple[int, LockType]] = []
        self._leading = False  # a leader is writing and fsyncing

    def sync(self, what: str = "WAL fsync") -> None:
        if self._depth:
            self._want, self._forced = self.writer.next_seq - 1, True
            return
        super().sync(what)

    def enter(self) -> None:
        self._depth += 1

    def leave(self) -> int:
        self._depth -= 1
        if self._depth:
            return 0
        want, forced, self._want, self._forced = self._want, self._forced, 0, False
        deferred: int = getattr(self._local, "defer", 0)
        if deferred and not forced:
            return 0
        return want if want > self.writer.durable_seq else 0

    def wait_durable(self, seq: int) -> None:
        """Return once an fsync covering ``seq`` has returned: lead one if none is running,
        otherwise sleep until a leader wakes this thread, because its fsync covered ``seq`` or
        to lead the next one. Each follower sleeps on a lock of its own, so an fsync wakes only
        those it covers and one more (a condition's ``notify_all`` would wake every waiter after
        every fsync, most of them only to sleep again)."""
        gate = self._gate
        with gate:
            try:
                while self.writer.durable_seq < seq:
                    if not self._leading:
                        self._leading = True
                        break
                    sleeper = allocate_lock()
                    sleeper.acquire()
                    self._waiters.append((seq, sleeper))
                    gate.release()
                    try:
                        sleeper.acquire()  # until a leader releases it
                    finally:
                        gate.acquire()
                else:
                    return
            finally:
                if not self._leading and self._waiters:
                    # Woken to lead, this thread found its record made durable by another sync
                    # (or it leaves on an error): it hands the turn on, else those asleep wait
                    # for a leader that never comes.
                    self._wake(everyone=False)
        self._lead_then_wake()

    def lead_if_free(self, seq: int) -> bool:
        with self._gate:
            if self.writer.durable_seq >= seq:
                return True
            if self._leading:
                return False
            self._leading = True
        self._lead_then_wake()
        return True  # the fsync covered every record appended before it, ``seq`` among them

    def _lead_then_wake(self) -> None:
        """Lead one fsync (this thread set ``_leading``), then wake its followers and tell
        :attr:`on_commit`."""
        failed = True
        try:
            self._lead()
            failed = False
        finally:
            with self._gate:
                self._leading = False
                self._wake(everyone=failed)
            listener = self.on_commit
            if listener is not None:
                listener()

    def _wake(self, everyone: bool) -> None:
        """Holding the gate, no leader running: wake the followers whose records are durable
        and the first one whose record is not, which leads the next fsync; the rest sleep on.
        After a failed fsync wake them all (each then finds the queue stopped)."""
        durable = self.writer.durable_seq
        asleep: list[tuple[int, LockType]] = []
        handed = False  # whether a follower was woken to lead the next fsync
        for waiter in self._waiters:
            if everyone or waiter[0] <= durable or not handed:
                handed = handed or waiter[0] > durable
                waiter[1].release()
            else:
                asleep.append(waiter)
        self._waiters = asleep

    def _lead(self) -> None:
        """Take every record appended so far and hand it to the OS (under the mutex, so the
        log keeps seq order), fsync it outside the mutex, then record it durable."""
        w = self.writer
        with self.sync_lock:
            with self.mutex:
                self._check_open()
                try:
                    handle, upto = w.write_for_fsync()
                except OSError as exc:
                    raise self._stop(exc, "WAL write") from exc
                self.taken(upto)
            if upto <= w.durable_seq:
                return
            try:
                w.fs.fsync(handle)
            except OSError as exc:
                with self.mutex:
                    raise self._stop(exc, "WAL fsync") from exc
            with self.mutex:
                try:
                    w.fsynced(handle, upto)
                except OSError as exc:
                    raise self._stop(exc, "WAL write") from exc

    def taken(self, upto: int) -> None:
        """A leader took the records through ``upto`` for its fsync (under the mutex)."""


class CommitAlways(_GroupCommitter):
    """``always``: every public operation waits for an fsync covering its records."""

    __slots__ = ()
    name = "always"

    def commit(self, now: float) -> None:
        if self._depth:
            self._want = self.writer.next_seq - 1
            return
        try:
            self.writer.sync()
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


class GroupCommit(_GroupCommitter):
    """``batch``: a window opens with the first record no fsync has taken and closes after
    ``batch_size`` records or ``flush_interval`` seconds; the operation that finds it closed
    fsyncs it (after the mutex, when threaded). Whoever calls :meth:`DurableQueue.tick` or
    :meth:`DurableQueue.sync` between operations makes the ``flush_interval`` timer exact, and
    :meth:`CommitPolicy.wait_acknowledged` closes it early."""

    __slots__ = ("batch_size", "flush_interval", "_taken")
    name = "batch"

    def __init__(
        self,
        writer: WALWriter,
        stop: Stop,
        check_open: CheckOpen,
        batch_size: int,
        flush_interval: float,
    ) -> None:
        super().__init__(writer, stop, check_open)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._taken = writer.durable_seq  # the last record an fsync (running or done) covers

    def commit(self, now: float) -> None:
        """Fsync if the window is full or has timed out; otherwise leave its end in
        ``due_seq`` / ``due_time``."""
        w = self.writer
        waiting = w.next_seq - 1 - self._taken
        if waiting <= 0:
            self.taken(self._taken)
            return
        since = self.unsynced_since
        if since is None:
            since = self.unsynced_since = now
        if waiting < self.batch_size and now < since + self.flush_interval:
            self.due_seq = self._taken + self.batch_size
            self.due_time = since + self.flush_interval
            return
        if self._depth:
            self._want = w.next_seq - 1
            return
        self.sync("WAL write")

    def synced(self) -> None:
        """The next record opens a new window."""
        self.taken(self.writer.durable_seq)

    def taken(self, upto: int) -> None:
        """Records after ``upto`` open a new window (the fsync taking them may still run)."""
        self._taken = upto
        self.unsynced_since = None
        self.due_seq = upto + 1
        self.due_time = math.inf

    @property
    def sync_due_at(self) -> float | None:
        since = self.unsynced_since
        if since is None:
            return None
        if self.writer.next_seq - 1 - self._taken >= self.batch_size:
            return since  # full: due now
        return since + self.flush_interval


def commit_policy(
    options: QueueOptions, writer: WALWriter, stop: Stop, check_open: CheckOpen
) -> CommitPolicy:
    """The policy ``options.fsync`` names."""
    if options.fsync == "batch":
        return GroupCommit(writer, stop, check_open, options.batch_size, options.flush_interval)
    if options.fsync == "always":
        return CommitAlways(writer, stop, check_open)
    return CommitNever(writer, stop, check_open)


__all__ = ["CommitAlways", "CommitNever", "CommitPolicy", "GroupCommit", "commit_policy"]
