"""Errors raised by simqueue, all under :class:`SimQueueError`.

Failures are meant to be loud and specific: a corrupt log names the file and the byte offset,
a duplicate names the job, a stopped queue names the I/O error that stopped it.
"""

from __future__ import annotations


class SimQueueError(Exception):
    """Base class of every error simqueue raises on purpose."""


class CorruptWALError(SimQueueError):
    """A write-ahead log record failed its checks somewhere a torn tail cannot explain."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = reason
        super().__init__(f"corrupt WAL in {self.path} at byte offset {offset}: {reason}")


class CorruptSnapshotError(SimQueueError):
    """No usable snapshot, or a snapshot that cannot be trusted (checksum, schema, gap)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"unusable snapshot {self.path}: {reason}")


class DuplicateJobError(SimQueueError):
    """A job id was enqueued twice; ids are the queue's idempotency keys."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"duplicate job id {job_id!r}: a job with this id was already enqueued")


class UnknownJobError(SimQueueError, KeyError):
    """A job id the queue does not know: never enqueued, or forgotten by its retention window
    (``why`` says which window)."""

    def __init__(self, job_id: str, why: str = "") -> None:
        self.job_id = job_id
        super().__init__(f"unknown job id {job_id!r}" + (f" ({why})" if why else ""))

    def __str__(self) -> str:  # KeyError would otherwise print the repr of the args
        return str(self.args[0])


class IllegalTransitionError(SimQueueError):
    """A state change the job state machine does not allow."""


class DataDirLockedError(SimQueueError):
    """Another open queue (in this or another process) owns the data directory."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = str(data_dir)
        super().__init__(
            f"data directory {self.data_dir} is in use by another simqueue "
            "(its LOCK file is held); stop that one first"
        )


class StorageError(SimQueueError):
    """A write, fsync, rename or truncate failed. The queue stops accepting work (fail-stop)."""


class QueueStoppedError(SimQueueError):
    """The queue hit a storage error earlier (or was closed) and no longer accepts work."""


class InvariantViolation(SimQueueError):
    """A durability or state-machine invariant does not hold; the message explains which."""


class SimulatedCrash(SimQueueError):
    """Raised by fault-injecting storage to stop an operation midway, as a power cut would."""
