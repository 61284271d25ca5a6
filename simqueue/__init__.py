"""simqueue: a durable job queue you can step through.

A real write-ahead log and snapshot engine (real files, checksums, fsync, atomic renames, replay)
runs under a clock you control, so a notebook can stop time, step one event, pull the plug and
watch the log bring everything back. The same engine runs on the wall clock as a small server.
"""

from __future__ import annotations

from .clock import VirtualClock, WallClock
from .config import Config
from .distributions import Constant, Exponential, Poisson, Uniform
from .errors import (
    CorruptSnapshotError,
    CorruptWALError,
    DataDirLockedError,
    DuplicateJobError,
    IllegalTransitionError,
    InvariantViolation,
    QueueStoppedError,
    SimQueueError,
    StorageError,
    UnknownJobError,
)
from .export import export  # noqa: E402  (standard library only until it is called)
from .jobs import Job, JobInfo, JobState
from .kernel import EmptySchedule
from .simulation import Simulation, Summary
from .store import DurableQueue, RecoveryReport
from .trace import TraceEvent

__version__ = "0.1.0"

__all__ = [
    "Config",
    "Constant",
    "EmptySchedule",
    "Exponential",
    "Poisson",
    "Simulation",
    "Summary",
    "TraceEvent",
    "Uniform",
    "CorruptSnapshotError",
    "CorruptWALError",
    "DataDirLockedError",
    "DuplicateJobError",
    "DurableQueue",
    "IllegalTransitionError",
    "InvariantViolation",
    "Job",
    "JobInfo",
    "JobState",
    "QueueStoppedError",
    "RecoveryReport",
    "SimQueueError",
    "StorageError",
    "UnknownJobError",
    "VirtualClock",
    "WallClock",
    "__version__",
    "export",
]
