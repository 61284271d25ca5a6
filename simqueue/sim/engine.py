"""The simulated world around one durable queue, and the queue's lives in it: open, crash, recover.

The clock, the event kernel, the disk, the workers, the clients and the trace belong to the world
and outlive a crash. The open :class:`~simqueue.core.queue.DurableQueue` and the
:class:`~simqueue.sim.controller.Controller` whose handlers drive it do not: a crash throws both
away and clears the kernel, leaving the engine *down* until the queue serves again.

A recovery is three instants on the kernel, all in virtual time: the crash; the restart,
``restart_delay`` later, where the real recovery runs on the files the crash left; and the
moment the queue serves again, after the *modeled* recovery time (:meth:`Engine.modeled_cost`:
each fsync recovery made charged from the disk profile, plus the profile's cost per replayed
record, per snapshot job and per WAL byte). The measured wall-clock time of the real recovery is
kept in the report beside it and never moves the virtual clock, so one seed reproduces a run with
crashes event for event.

While the queue is down, arrivals go on: each client waits and enqueues once the queue is back
(``clients="retry"``), or is turned away and counted (``"reject"``); clients still waiting for
an acknowledgement at the crash do the same. Workers run apart from the queue and outlive its
crash: the results of attempts in flight at the crash still arrive, and the recovered queue
fences them by their token (:mod:`simqueue.core.fencing`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from simqueue.core.clock import VirtualClock
from simqueue.core.errors import SimQueueError
from simqueue.core.fencing import make_token
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.core.storage import FileSystem
from simqueue.sim import clients, orphans
from simqueue.sim.acklog import Acks
from simqueue.sim.config import CRASH_KINDS, SIMULATION_RETAIN_FINISHED, Config
from simqueue.sim.controller import Controller
from simqueue.sim.disk_wait import DiskWait
from simqueue.sim.kernel import Kernel
from simqueue.sim.trace import CRASH, RECOVER, REJECTED, WAITING
from simqueue.sim.tracelog import Trace
from simqueue.sim.traceoff import TraceOff
from simqueue.sim.workers import WorkModel

__all__ = ["CRASH_KINDS", "Engine", "QueueDown"]


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
        self.disk = config.disk_model
        self.disk_rng = random.Random(f"{config.seed}:disk")
        self.disk_wait = DiskWait(self.disk, self.disk_rng)
        self.arrival_rng = random.Random(f"{config.seed}:arrivals")
        self.crash_rng = random.Random(f"{config.seed}:crash")
        self.trace = Trace() if config.trace else TraceOff()
        self.recoveries: list[RecoveryReport] = []
        #: (job id, arrived at, acknowledged at) of every acknowledged enqueue (the newest only,
        #: as many as the retention window holds, with the trace off).
        self.acks = Acks() if config.trace else Acks(keep=self.retain_finished)
        self.rejected = 0
        self.fenced = 0
        self.jobs_arrived = 0
        self.next_gap: Callable[[], float] | None = (
            config.arrival.sampler(self.arrival_rng) if config.arrival is not None else None
        )
        #: Called after each crash with its info, and when the queue serves again.
        self.on_crash: Callable[[dict[str, Any]], None] | None = None
        self.on_recovered: Callable[[RecoveryReport], None] | None = None
        self._crash_due = config.crash_at
        self._waiting: list[tuple[str | None, float]] = []  # (job id if it had one, arrived at)
        self._orphans: list[orphans.Orphan] = []
        self._restart_at: float | None = None
        self._starting: DurableQueue | None = None  # recovered, not serving yet
        self._down_durable = 0
        self._live: Controller | None = Controller(self, self._open_queue())
        self._start(self._live)

    def close(self) -> None:
        """Close the running queue (or let go of one recovered but not serving yet)."""
        if self._live is not None:
            self._live.q.close()
        elif self._starting is not None:
            self._starting.abandon()
            self._starting = None

    @property
    def retain_finished(self) -> int:
        """The retention window's count: the config's, or a simulation's default."""
        retain = self.cfg.retain_finished
        return SIMULATION_RETAIN_FINISHED if retain is None else retain

    def _open_queue(self) -> DurableQueue:
        options = {**self.cfg.queue_options(), "retain_finished": self.retain_finished}
        return DurableQueue.open(self.data_dir, clock=self.clock, fs=self.fs, **options)

    def _start(self, live: Controller) -> None:
        live.start()
        due = self._crash_due
        if due is not None:
            if due >= self.clock.now():
                self.kernel.schedule(due, self._scheduled_crash)
            else:  # it fell in an outage: the queue was down already
                self._crash_due = None

    def reseed(self, seed: int) -> None:
        """Draw everything still to come (arrivals, attempt outcomes, disk latencies, crash
        tears) from ``seed``'s streams; what has happened stays. The step view forks with it."""
        self.disk_rng.seed(f"{seed}:disk")
        self.arrival_rng.seed(f"{seed}:arrivals")
        self.crash_rng.seed(f"{seed}:crash")
        self.model.reseed(seed)

    # ------------------------------------------------------------------ state
    @property
    def crashed(self) -> bool:
        """True from a crash until the queue serves again."""
        return self._live is None

    @property
    def restarting(self) -> bool:
        """Down, with its restart scheduled."""
        return self._restart_at is not None

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

    @property
    def waiting(self) -> int:
        """Clients waiting for the queue to come back (``clients="retry"``)."""
        return len(self._waiting)

    def admit_jobs(self, jobs: Iterable[Job | str]) -> None:
        """Enqueue explicit jobs now (``Simulation.enqueue``), in order."""
        clients.admit_jobs(self.live, jobs)

    # ------------------------------------------------------------------ crash
    def _scheduled_crash(self) -> None:
        self._crash_due = None
        self.crash(self.cfg.crash_kind, self.cfg.crash_tear)
        self.schedule_restart(self.clock.now() + self.cfg.restart_delay)

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
            "survive_seq": q.written_seq if kind == "process" else q.durable_seq,
        }
        self._orphans.extend(orphans.orphans(live, make_token(q.epoch, 0)))
        self._hold_clients(clients.unacknowledged(live))
        q.abandon()
        if kind == "power":
            report = self.fs.power_loss(self.crash_rng, tear)
            info["files_cut"] = dict(report.files_cut)
            info["dir_ops_undone"] = list(report.dir_ops_undone)
        text = (
            f"{kind} crash"
            + (f" (tear={tear})" if kind == "power" else "")
            + f": memory lost; written up to seq {q.written_seq}, durable up to seq "
            f"{q.durable_seq}; records after seq {info['survive_seq']} may be gone"
        )
        self.trace.append(
            (self.clock.now(), CRASH, None, None, None, q.last_seq, q.durable_seq, text)
        )
        source_time = self.kernel.source_time
        self.kernel.clear()
        self._live = None
        self._down_durable = q.durable_seq
        if self.next_gap is not None:  # clients keep arriving while the queue is down
            self.kernel.set_source(source_time, self._arrive_down)
        if self.on_crash is not None:
            self.on_crash(info)
        return info

    def _hold_clients(self, clients: list[tuple[str, float]]) -> None:
        """Clients whose enqueue was not acknowledged when the queue went down."""
        if self.cfg.clients == "retry":
            self._waiting.extend((job_id, t) for job_id, t in clients)
        else:
            self.rejected += len(clients)

    def _arrive_down(self) -> None:
        """A client arrives while the queue is down: it waits, or is turned away."""
        assert self.next_gap is not None
        now = self.clock.now()
        self.kernel.source_time = now + self.next_gap()
        if self.cfg.clients == "retry":
            self._waiting.append((None, now))
            kind, text = WAITING, "queue down: the client retries once it is back"
        else:
            self.rejected += 1
            kind, text = REJECTED, "queue down: the enqueue is refused"
        self.trace.append((now, kind, None, None, None, None, self._down_durable, text))

    # ------------------------------------------------------------------ recovery
    def schedule_restart(self, at: float) -> None:
        """Restart the crashed queue's process at virtual time ``at``."""
        if self._live is not None:
            raise SimQueueError("nothing to recover: the queue is running")
        if self._restart_at is None:
            self._restart_at = at
            self.kernel.schedule(at, self._restart)

    def _restart(self) -> None:
        """The real recovery on the files; the queue serves after its modeled time."""
        stats = self.fs.stats
        before = (stats.fsyncs, stats.dir_fsyncs)
        q = self._open_queue()
        report = q.recovery
        if report is None:  # DurableQueue.open always recovers from the files
            raise SimQueueError("the reopened queue has no recovery report")
        fsyncs, dir_fsyncs = stats.fsyncs - before[0], stats.dir_fsyncs - before[1]
        report.virtual_seconds = self.modeled_cost(report, fsyncs, dir_fsyncs)
        report.downtime = self.cfg.restart_delay + report.virtual_seconds
        self._starting = q
        self.kernel.schedule(self.clock.now() + report.virtual_seconds, self._serve, q)

    def modeled_cost(self, report: RecoveryReport, fsyncs: int, dir_fsyncs: int) -> float:
        """Virtual seconds a recovery takes: its fsyncs drawn from the disk profile, plus the
        profile's cost of what it read and replayed."""
        disk, rng = self.disk, self.disk_rng
        sync = sum(disk.fdatasync.draw(rng) for _ in range(fsyncs))
        sync += sum(disk.fsync.draw(rng) for _ in range(dir_fsyncs))
        return sync + disk.recovery.seconds(
            report.records_replayed, report.snapshot_jobs, report.wal_bytes_read
        )

    def _serve(self, q: DurableQueue) -> None:
        """The recovered queue serves: clients that waited enqueue, orphaned results arrive."""
        report = q.recovery
        assert report is not None
        self._restart_at = None
        live = Controller(self, q)
        self.recoveries.append(report)
        text = report.describe()
        self.trace.append(
            (self.clock.now(), RECOVER, None, None, None, q.last_seq, q.durable_seq, text)
        )
        self._live = live
        self._starting = None
        if self.on_recovered is not None:  # the state as recovery left it
            self.on_recovered(report)
        waiting, self._waiting = self._waiting, []
        results, self._orphans = self._orphans, []
        self._start(live)
        clients.readmit(live, waiting)
        orphans.deliver(live, results)
