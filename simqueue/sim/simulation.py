"""The simulation facade: the real engine under a clock you control.

>>> import simqueue
>>> sim = simqueue.Simulation(simqueue.Config(seed=7, workers=2, failure_rate=0.0))
>>> sim.enqueue(["a", "b", "c"])
>>> print(sim.step().describe())
t=0.000s DISPATCH a attempt 1 (epoch 1) -> worker 0 (WAL seq 4; durable up to seq 0)
>>> _ = sim.run_until_idle()
>>> sim.summary().completed
3

Every run is reproducible from ``Config.seed``: arrivals, service times and failures come from
separate streams, and the kernel breaks ties by insertion order. Crashes are real: ``crash()``
throws the in-memory queue away and (for ``kind="power"``) cuts the files back to what was
fsynced; ``recover()`` runs the real recovery on those files. The virtual clock advances by the
restart delay and the *modeled* recovery time (``simqueue.sim.engine``), never by the measured
one, so a seed reproduces a run with crashes event for event. ``Config(crash_at=...)`` crashes
and recovers on its own, with no stepping by hand.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

from simqueue.core import wal
from simqueue.core.checks import integer
from simqueue.core.errors import InvariantViolation, SimQueueError
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.core.storage import TEAR_MODES
from simqueue.sim import hotloop
from simqueue.sim.config import Config
from simqueue.sim.engine import CRASH_KINDS, Engine
from simqueue.sim.invariants import Ledger
from simqueue.sim.kernel import EmptySchedule
from simqueue.sim.samplelog import Sample, Samples
from simqueue.sim.summary import Summary, summarize
from simqueue.sim.trace import TraceEvent
from simqueue.sim.tracelog import Trace


def _scratch_root(config: Config) -> str | None:
    """Where a simulation's own temporary data directory goes. With modeled durability fsync
    is bookkeeping anyway, so the files (still real files, really written) go to a RAM-backed
    file system when there is one: a group commit then costs microseconds, not tens of them.
    With ``durability="real"`` they go to the ordinary temporary directory, whose fsync is real.
    """
    if (
        config.durability == "modeled"
        and os.path.isdir("/dev/shm")
        and os.access("/dev/shm", os.W_OK)
    ):
        return "/dev/shm"
    return None


class Simulation:
    """Step, run, crash and recover a durable queue under a virtual clock."""

    def __init__(self, config: Config | None = None, **overrides: Any) -> None:
        config = config or Config()
        if overrides:
            config = config.replace(**overrides)
        self.config = config
        self._tmp: str | None = None
        if config.data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix="simqueue-", dir=_scratch_root(config))
            data_dir = self._tmp
        else:
            data_dir = config.data_dir
        self.data_dir = data_dir
        self.engine = Engine(config, data_dir)
        self.engine.on_crash = self._crashed
        self.engine.on_recovered = self._recovered
        self.ledger = Ledger()
        self._token_mark = 0
        self._trace_read = 0
        self._ledger_mark = 0
        self._last_crash: dict[str, Any] | None = None
        self.crashes: list[dict[str, Any]] = []
        self._samples = Samples()
        self._next_sample = 0.0
        self._start = 0.0

    # ------------------------------------------------------------------ basics
    @property
    def now(self) -> float:
        return self.engine.clock.now()

    @property
    def queue(self) -> DurableQueue:
        """The live durable queue (raises while crashed)."""
        return self.engine.q

    @property
    def crashed(self) -> bool:
        return self.engine.crashed

    def enqueue(self, jobs: int | Iterable[Job | str]) -> None:
        """Enqueue jobs now: ids, :class:`~simqueue.Job` objects, or a count of new jobs."""
        if self.crashed:
            raise SimQueueError("the queue is down after a crash: call recover() first")
        if isinstance(jobs, int):
            jobs = self._new_ids(jobs)
        batch = [j if isinstance(j, Job) else Job(str(j)) for j in jobs]
        if not batch:
            return
        self.engine.admit_jobs(batch)
        self._trace_read = len(self.engine.trace)  # the caller knows these jobs arrived

    def _new_ids(self, count: int) -> list[str]:
        """``count`` ids ``job-<n>`` after the arrivals so far that no job has yet (the arrival
        process skips ids that exist too)."""
        q, n = self.engine.q, self.engine.jobs_arrived
        out: list[str] = []
        while len(out) < count:
            n += 1
            if f"job-{n}" not in q:
                out.append(f"job-{n}")
        return out

    # ------------------------------------------------------------------ running
    def _sample_until(self, t: float) -> None:
        """Record state samples up to time ``t`` (the state is constant between events; while
        the queue is down its counts are None and the waiting clients are counted)."""
        self.engine.trace.pack()  # between events: the newest whole blocks become rows
        q = None if self.engine.crashed else self.engine.q
        interval = self.config.metrics_interval
        while self._next_sample <= t:
            ts = self._next_sample
            if q is None:
                self._samples.down(ts, self.engine.waiting)
            else:
                c = q.counts()
                self._samples.up(
                    ts,
                    (
                        c["pending"],
                        c["in_flight"],
                        c["completed"],
                        c["dead"],
                        q.wal_bytes,
                        q.durable_seq,
                        q.last_seq,
                    ),
                )
            self._next_sample = round(ts + interval, 12)

    def step(self) -> TraceEvent:
        """Advance to the next thing that happens and return it (exactly one event). A group
        commit acknowledges several jobs at one instant: those come out one per call."""
        kernel = self.engine.kernel
        trace = self.engine.trace
        while self._trace_read >= len(trace):
            if not kernel.outstanding_work:  # only periodic timers left: nothing will change
                raise EmptySchedule(
                    "nothing left to happen: enqueue jobs, set an arrival process, or recover"
                )
            t = kernel.peek()
            if t >= self._next_sample:
                self._sample_until(t)
            kernel.step()
        ev = trace[self._trace_read]
        self._trace_read += 1
        return TraceEvent.from_tuple(ev)

    def run_until(self, t: float) -> None:
        """Run every event up to and including simulated time ``t``; the clock ends at ``t``."""
        if t < self.now:
            raise ValueError(f"run_until({t}) is in the past: now is {self.now}")
        # The event loop allocates many small objects but no reference cycles, so the cyclic
        # garbage collector only costs time here (about a tenth of it, measured): pause it
        # for the loop, as timeit does, and restore it whatever happens.
        # Under modeled durability the log's group-commit writes are also gathered into large
        # ones for the length of the loop (fs.FileSystem.write_behind); whatever happens, the
        # call returns with every written byte in its file.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        fs = self.engine.fs
        fs.write_behind = self.config.durability == "modeled"
        try:
            self._run_events_until(t)
        finally:
            fs.write_behind = False
            fs.drain()
            if gc_was_enabled:
                gc.enable()

    def _run_events_until(self, t: float) -> None:
        hotloop.run_until(self.engine, t, self)
        self._trace_read = len(self.engine.trace)

    def run_for(self, dt: float) -> None:
        """Run for ``dt`` simulated seconds."""
        if dt < 0:
            raise ValueError(f"run_for needs a non-negative duration, got {dt}")
        self.run_until(self.now + dt)

    def run_until_idle(self, max_time: float | None = None) -> float:
        """Run until no job is pending or in flight and nothing but periodic timers is left.
        With a Poisson arrival process a queue is never idle: pass ``max_time``."""
        if self.config.arrival is not None and max_time is None:
            raise ValueError("with an arrival process the queue is never idle; pass max_time")
        kernel = self.engine.kernel
        limit = float("inf") if max_time is None else max_time
        while kernel.outstanding_work and kernel.peek() <= limit:
            t = kernel.peek()
            if t >= self._next_sample:
                self._sample_until(t)
            kernel.step()
        if max_time is not None and self.now < max_time and kernel.outstanding_work:
            self.run_until(max_time)
        self._trace_read = len(self.engine.trace)
        return self.now

    # ------------------------------------------------------------------ crash and recovery
    def crash(self, kind: str = "process", tear: str = "drop") -> dict[str, Any]:
        """Pull the plug. ``kind="process"``: like ``kill -9``, what reached the OS survives.
        ``kind="power"``: only fsynced bytes are safe; the unsynced tail of each file is dropped,
        kept in part (``"prefix"``), garbled or zeroed, and directory changes not yet fsynced are
        undone. Returns what happened (seqs written/durable, files cut)."""
        if kind not in CRASH_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CRASH_KINDS)}; got {kind!r}")
        if tear not in TEAR_MODES:
            raise ValueError(f"tear must be one of {', '.join(TEAR_MODES)}; got {tear!r}")
        if self.crashed:
            raise SimQueueError("already crashed: call recover() first")
        self._sample_until(self.now)
        info = self.engine.crash(kind, tear)
        self._trace_read = len(self.engine.trace)
        return info

    def _crashed(self, info: dict[str, Any]) -> None:
        """After any crash (called or scheduled): write down the promises it must keep (read
        off the trace: with the trace off there is none to read)."""
        if self.config.trace:
            self.ledger.absorb(self.engine.trace[self._ledger_mark :], info["survive_seq"])
        self._ledger_mark = len(self.engine.trace)
        self._last_crash = info
        self.crashes.append(info)

    def recover(self) -> RecoveryReport:
        """Restart the crashed queue ``restart_delay`` from now (unless a restart is already
        scheduled) and run until it serves again: the real recovery on the files the crash left,
        then its modeled time. Clients arriving meanwhile wait or are turned away."""
        if not self.crashed:
            raise SimQueueError("nothing to recover: the queue is running (crash() it first)")
        engine = self.engine
        if not engine.restarting:
            engine.schedule_restart(self.now + self.config.restart_delay)
        kernel = engine.kernel
        while engine.crashed:
            t = kernel.peek()
            if t >= self._next_sample:
                self._sample_until(t)
            kernel.step()
        self._trace_read = len(engine.trace)
        return engine.recoveries[-1]

    def _recovered(self, report: RecoveryReport) -> None:
        """When a recovered queue serves: check the promises of the crash before it."""
        info = self._last_crash or {}
        may_lose = self.config.fsync == "never" and info.get("kind") == "power"
        self.ledger.after_recovery(
            self.engine.q,
            may_lose_acknowledged=may_lose,
            crash_time=info.get("time", 0.0),
            max_attempts=self.config.max_retry + 1,
        )
        self._ledger_mark = len(self.engine.trace)

    def check_invariants(self) -> None:
        """Raise :class:`InvariantViolation` explaining every broken durability promise. With
        the trace off only what the queue's own state shows is checked: the promises of a crash
        (acknowledged jobs kept, durable ACKs final, fencing tokens unique) are read off the
        trace."""
        if self.crashed:
            raise SimQueueError("the queue is down: recover() before checking invariants")
        if self.config.trace:
            self.ledger.note_tokens(self.engine.trace[self._token_mark :])
        self._token_mark = len(self.engine.trace)
        problems = self.ledger.violations(self.engine.q, self.config.max_retry + 1)
        if problems:
            more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
            raise InvariantViolation("; ".join(problems[:10]) + more)

    @property
    def lost_acknowledged(self) -> list[dict[str, Any]]:
        """Acknowledged jobs a power cut took away: only ever under ``fsync="never"``."""
        return list(self.ledger.lost_acknowledged)

    # ------------------------------------------------------------------ reading results
    @property
    def trace(self) -> Trace:
        """Raw trace tuples (time, kind, job_id, attempt, worker, seq, durable_seq, detail): a
        sequence, indexed and sliced like a list (:class:`~simqueue.sim.tracelog.Trace`)."""
        return self.engine.trace

    def events(self, kind: str | None = None) -> list[TraceEvent]:
        return [TraceEvent.from_tuple(t) for t in self.engine.trace if kind is None or t[1] == kind]

    def reseed(self, seed: int) -> None:
        """Fork here: everything still to come is drawn from ``seed``'s streams."""
        integer("seed", seed, lo=0)
        self.engine.reseed(seed)

    @property
    def recoveries(self) -> list[RecoveryReport]:
        return list(self.engine.recoveries)

    def acknowledgements(self) -> list[tuple[str, float, float]]:
        """(job id, arrived at, acknowledged at) of every acknowledged enqueue, in order."""
        return list(self.engine.acks)

    def wal_records(self, since_seq: int = 0) -> list[wal.Record]:
        """Records in the log with seq > ``since_seq`` (flushing nothing: what is on disk)."""
        return [r for r in wal.iter_records(self.data_dir) if r.seq > since_seq]

    def summary(self) -> Summary:
        """The headline numbers of the run so far (job counts read zero while crashed)."""
        return summarize(
            self.engine,
            elapsed=self.now - self._start,
            lost_acknowledged=len(self.ledger.lost_acknowledged),
        )

    def samples(self) -> list[Sample]:
        """Periodic state samples (time, pending, in_flight, completed, dead, wal_bytes,
        durable_seq, last_seq), every ``config.metrics_interval`` simulated seconds."""
        return list(self._samples)

    # ------------------------------------------------------------------ cleanup
    def close(self) -> None:
        """Close the queue and delete the temporary data directory (if the simulation made it)."""
        try:
            self.engine.close()
        except SimQueueError:
            pass
        if self._tmp and os.path.isdir(self._tmp):
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort: temp dirs should not pile up in notebooks
        try:
            if self._tmp and os.path.isdir(self._tmp):
                if not self.engine.crashed:
                    self.engine.q.abandon()
                shutil.rmtree(self._tmp, ignore_errors=True)
        except Exception:
            pass


__all__ = ["Sample", "Simulation", "Summary"]
