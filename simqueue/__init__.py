"""simqueue: a durable job queue you can step through.

A real write-ahead log and snapshot engine (real files, checksums, fsync, atomic renames, replay)
runs under a clock you control, so a notebook can stop time, step one event, pull the plug and
watch the log bring everything back. The same engine runs on the wall clock as a small server.
"""

from __future__ import annotations

import logging

from simqueue.core.clock import VirtualClock, WallClock
from simqueue.core.errors import (
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
from simqueue.core.jobs import Job, JobInfo, JobState
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.lab.export import export  # noqa: E402  (standard library only until it is called)
from simqueue.sim.config import Config
from simqueue.sim.disk import DiskProfile
from simqueue.sim.distributions import Constant, Exponential, Poisson, Uniform
from simqueue.sim.kernel import EmptySchedule
from simqueue.sim.simulation import Simulation, Summary
from simqueue.sim.trace import TraceEvent

#: The one place the version is written: pyproject.toml reads it ([tool.setuptools.dynamic]).
__version__ = "0.1.0"

# The service and the testing tools log through logging.getLogger(__name__); a library stays
# silent until its user configures logging (the CLI does, with -v).
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Config",
    "Constant",
    "DiskProfile",
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
