"""What every commit policy shares (:mod:`simqueue.core.commit` has the policies): the queue's
mutex and the group commit's ``sync_lock``, acknowledgements deferred by a thread that holds a
lock of its own, and fail-stop on an I/O error."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar

from simqueue.core.errors import StorageError
from simqueue.core.wal import WALWriter

#: Raises QueueStoppedError if the queue is stopped or closed (the queue's check).
CheckOpen = Callable[[], None]

#: The queue's fail-stop: records the OS error (the queue accepts no more work) and returns the
#: StorageError to raise, given the error and what failed.
Stop = Callable[[OSError, str], StorageError]


class _Deferring:
    """:meth:`CommitPolicy.acks_deferred`: a plain class, not a generator, since the server
    enters it around every operation it makes."""

    __slots__ = ("_local",)

    def __init__(self, local: threading.local) -> None:
        self._local = local

    def __enter__(self) -> None:
        local = self._local
        local.defer = getattr(local, "defer", 0) + 1

    def __exit__(self, *exc: object) -> None:
        self._local.defer -= 1


class CommitPolicy:
    """One queue's commit policy over its WAL writer. Subclasses decide :meth:`commit`."""

    __slots__ = (
        "writer",
        "due_seq",
        "due_time",
        "unsynced_since",
        "_stop",
        "_check_open",
        "mutex",
        "sync_lock",
        "_local",
        "on_commit",
    )
    name: ClassVar[str]
    #: Whether a public operation waits for its fsync after the mutex (:meth:`enter`,
    #: :meth:`leave`, :meth:`wait_durable`); if not, enter and leave are never called.
    defers: ClassVar[bool] = False

    def __init__(self, writer: WALWriter, stop: Stop, check_open: CheckOpen) -> None:
        self.writer = writer
        self._stop = stop
        self._check_open = check_open
        self.due_seq = 0
        self.due_time = math.inf
        #: When the oldest record not yet fsynced was committed (group commit only), else None.
        self.unsynced_since: float | None = None
        #: The queue's one mutex, held by every public operation of the queue (appending,
        #: applying and committing included), so one thread at a time changes the log and the
        #: table. Kept here, not on the queue, so the queue stays under 30 instance attributes.
        self.mutex = threading.RLock()
        #: Held by the group commit's leader from taking the records to recording their fsync,
        #: and by whatever rolls or closes the current segment; taken before the mutex.
        self.sync_lock = threading.Lock()
        #: ``defer``: how deep this thread is inside :meth:`acks_deferred` (0: not inside).
        self._local = threading.local()
        #: Called, without the mutex, after every group commit's fsync ended (a caller of
        #: :meth:`try_acknowledge` that was told False waits for it).
        self.on_commit: Callable[[], None] | None = None

    def enter(self) -> None:
        """A public operation has taken the mutex."""

    def leave(self) -> int:
        """A public operation is about to release the mutex: the seq it must wait for with
        :meth:`wait_durable` once released (0: none)."""
        return 0

    def wait_durable(self, seq: int) -> None:
        """Outside the mutex: return once ``seq`` is acknowledged (nothing to do here)."""

    def wait_acknowledged(self, seq: int) -> None:
        """Outside the mutex: return once the record ``seq`` is acknowledged under this policy,
        leading or joining a group commit if it is not yet."""
        if seq > self.acknowledged_seq():
            self.wait_durable(seq)

    def try_acknowledge(self, seq: int) -> bool:
        """Outside the mutex: whether record ``seq`` is acknowledged, after leading a group
        commit if none runs; False at once while another thread's does (:attr:`on_commit` is
        called when it ends), so a thread serving many clients serves on meanwhile."""
        if seq <= self.acknowledged_seq():
            return True
        return self.lead_if_free(seq)

    def lead_if_free(self, seq: int) -> bool:
        """:meth:`try_acknowledge` for a record not yet acknowledged (nothing waits here)."""
        return True

    def acks_deferred(self) -> AbstractContextManager[None]:
        """While inside, this thread's public operations return without waiting for their
        fsync; the caller then waits with :meth:`wait_acknowledged` (``sync`` still waits)."""
        return _Deferring(self._local)

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


__all__ = ["CheckOpen", "CommitPolicy", "Stop"]
