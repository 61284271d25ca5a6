"""The simulated world around one durable queue, and the queue's lives in it: open, crash, recover.

The clock, the event kernel, the disk, the workers' outcomes and the trace belong to the world
and outlive a crash. The open :class:`~simqueue.core.queue.DurableQueue` and the
:class:`~simqueue.sim.controller.Controller` whose handlers drive it do not: a crash throws both
away and clears the kernel, leaving the engine *down* until :meth:`Engine.recover` opens the same
files again and starts a new controller on them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from simqueue.core.clock import VirtualClock
from simqueue.core.errors import SimQueueError
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.core.storage import FileSystem
from simqueue.sim.config import Config
from simqueue.sim.controller import Controller
from simqueue.sim.kernel import Kernel
from simqueue.sim.trace import CRASH, RECOVER, TraceTuple
from simqueue.sim.workers import WorkModel

CRASH_KINDS = ("process", "power")


class QueueDown(SimQueueError):
    """The queue was crashed and is not recovered yet."""


class Engine:
    """The world of one simulation, with its queue running or down after a crash."""

    def __init__(self, config: Config, data_dir: str) -> None:
        self.cfg = config
        self.data_dir = data_dir
        self.clock = VirtualClock()
        self.kernel = Kernel(self.clock)
        self.fs = FileSystem(real_fsync=config.durability == "real", track_power_loss=True)
        self.model = WorkModel(config)
        self.arrival_rng = random.Random(f"{config.seed}:arrivals")
        self.crash_rng = random.Random(f"{config.seed}:crash")
        self.trace: list[TraceTuple] = []
        self.recoveries: list[RecoveryReport] = []
        self.jobs_arrived = 0
        self.next_gap: Callable[[], float] | None = (
            config.arrival.sampler(self.arrival_rng) if config.arrival is not None else None
        )
        self._live: Controller | None = Controller(self, self._open_queue())
        self._live.start()

    def _open_queue(self) -> DurableQueue:
        return DurableQueue.open(
            self.data_dir, clock=self.clock, fs=self.fs, **self.cfg.queue_options()
        )

    # ------------------------------------------------------------------ state
    @property
    def crashed(self) -> bool:
        """True from :meth:`crash` until :meth:`recover`."""
        return self._live is None

    @property
    def live(self) -> Controller:
        """The controller of the running queue; raises :class:`QueueDown` while crashed."""
        if self._live is None:
            raise QueueDown("the queue is down after a crash: call recover() first")
        return self._live

    @property
    def q(self) -> DurableQueue:
        """The open durable queue; raises :class:`QueueDown` while crashed."""
        return self.live.q

    def admit_jobs(self, jobs: Iterable[Job | str]) -> None:
        """Enqueue explicit jobs now (``Simulation.enqueue``), in order."""
        self.live.admit_jobs(jobs)

    # ------------------------------------------------------------------ crash and recovery
    def crash(self, kind: str, tear: str) -> dict[str, Any]:
        """Kill the queue: user-space buffers and every scheduled event are gone; for a power
        crash the files are also cut back to what was fsynced (torn per ``tear``)."""
        live = self.live
        q = live.q
        info: dict[str, Any] = {
            "kind": kind,
            "tear": tear,
            "time": self.clock.now(),
            "written_seq": q.written_seq,
            "durable_seq": q.durable_seq,
            "last_seq": q.last_seq,
            "unacknowledged": live.unacknowledged,
        }
        q.abandon()
        if kind == "power":
            report = self.fs.power_loss(self.crash_rng, tear)
            info["files_cut"] = dict(report.files_cut)
            info["dir_ops_undone"] = list(report.dir_ops_undone)
            lost_from = q.durable_seq
        else:
            lost_from = q.written_seq
        text = (
            f"{kind} crash"
            + (f" (tear={tear})" if kind == "power" else "")
            + f": memory lost; written up to seq {q.written_seq}, durable up to seq "
            f"{q.durable_seq}; records after seq {lost_from} may be gone"
        )
        self.trace.append(
            (self.clock.now(), CRASH, None, None, None, q.last_seq, q.durable_seq, text)
        )
        self.kernel.clear()
        self._live = None
        return info

    def recover(self) -> RecoveryReport:
        """Restart: wait ``restart_delay``, run the real recovery, charge its measured time."""
        if self._live is not None:
            raise SimQueueError("nothing to recover: the queue is running")
        self.clock.advance_by(self.cfg.restart_delay)
        q = self._open_queue()
        live = Controller(self, q)
        report = q.recovery
        if report is None:  # DurableQueue.open always recovers from the files
            raise SimQueueError("the reopened queue has no recovery report")
        report.downtime = self.cfg.restart_delay + report.wall_seconds
        self.clock.advance_by(report.wall_seconds)
        self.recoveries.append(report)
        self.trace.append(
            (
                self.clock.now(),
                RECOVER,
                None,
                None,
                None,
                q.last_seq,
                q.durable_seq,
                report.describe(),
            )
        )
        self._live = live
        live.start()
        return report
