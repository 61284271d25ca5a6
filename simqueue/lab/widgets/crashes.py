"""One dashboard run with its crash: run, crash at the chosen time, recover, run on; and what
the crash cost (the outage, the recovery time against its 3 s target, the log it replayed, the
acknowledged jobs it lost).

Where the config can schedule the crash itself (``Config.crash_at``), the engine does it and
charges a modeled recovery time in virtual time; otherwise the run is stopped at the crash
time, crashed and recovered from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simqueue.sim.config import Config
from simqueue.sim.simulation import Sample, Simulation, Summary

__all__ = ["CRASH_CHOICES", "CrashOutcome", "RunResult", "as_row", "describe_lost", "simulate"]

#: The crash control's choices: no crash, a process crash (kill -9), a power cut.
CRASH_CHOICES = ("none", "process", "power")
_SCHEDULED = "crash_at" in {f.name for f in dataclasses.fields(Config)}
_WAL_BYTES = 5  # wal_bytes' place in a sample


@dataclass(frozen=True)
class CrashOutcome:
    """What one crash cost."""

    kind: str
    at: float  # virtual seconds
    recovered_at: float  # when the queue was up again
    recovery_s: float  # crash to serving again: restart delay plus the recovery itself
    work_s: float  # the recovery itself (snapshot load, replay): modeled where the engine can
    wall_s: float  # the recovery's measured wall-clock time
    wal_bytes: int  # the log's size when it crashed: what recovery had to read
    replayed: int  # WAL records replay applied
    lost_ids: list[str] = field(default_factory=list)  # acknowledged jobs the crash took


@dataclass(frozen=True)
class RunResult:
    """A finished run: its samples, summary, and crash (None for a run that did not crash)."""

    samples: list[Sample]
    summary: Summary
    crash: CrashOutcome | None


def _wal_bytes_at(samples: list[Sample], t: float) -> int:
    """The log's size at the last sample up to ``t`` (while the queue was up)."""
    size = 0
    for s in samples:
        if s[0] > t:
            break
        value = s[_WAL_BYTES]
        if isinstance(value, int):
            size = value
    return size


def _outcome(sim: Simulation, kind: str, at: float, samples: list[Sample]) -> CrashOutcome | None:
    if not sim.recoveries:
        return None
    report = sim.recoveries[-1]
    summary = sim.summary()
    # Crash to serving again: the restart delay and the recovery, in virtual time where the
    # engine models it, else the downtime the simulation charged.
    down = getattr(summary, "downtime_seconds", None)
    recovery = float(down if down is not None else report.downtime or 0.0)
    modeled = getattr(summary, "recovery_seconds", None)
    return CrashOutcome(
        kind=kind,
        at=at,
        recovered_at=at + recovery,
        recovery_s=recovery,
        work_s=float(modeled if modeled is not None else report.wall_seconds),
        wall_s=float(getattr(summary, "recovery_wall_seconds", None) or report.wall_seconds),
        wal_bytes=_wal_bytes_at(samples, at),
        replayed=report.records_replayed,
        lost_ids=[str(x["job_id"]) for x in sim.lost_acknowledged],
    )


def simulate(
    cfg: Config, duration: float, crash: str, crash_at: float, tear: str = "drop"
) -> RunResult:
    """Run ``cfg`` for ``duration`` virtual seconds, crashing once at ``crash_at`` (``crash``
    is one of :data:`CRASH_CHOICES`) and recovering."""
    crashing = crash != "none" and crash_at < duration
    if crashing and _SCHEDULED:
        cfg = cfg.replace(crash_at=crash_at, crash_kind=crash, crash_tear=tear)
    with Simulation(cfg) as sim:
        if crashing and not _SCHEDULED:
            sim.run_until(crash_at)
            sim.crash(crash, tear)
            sim.recover()
        sim.run_until(max(duration, sim.now))
        samples = sim.samples()
        outcome = _outcome(sim, crash, crash_at, samples) if crashing else None
        return RunResult(samples, sim.summary(), outcome)


def describe_lost(ids: list[str], limit: int = 3, sep: str = " ") -> str:
    """``none``, or how many and which: the first ``limit`` ids and how many more, after
    ``sep`` (a newline where space is short)."""
    if not ids:
        return "none"
    more = f", \u2026 ({len(ids) - limit} more)" if len(ids) > limit else ""
    return f"{len(ids)}{sep}({', '.join(ids[:limit])}{more})"


def as_row(crash: CrashOutcome | None) -> dict[str, Any]:
    """The crash's columns of a dashboard history row."""
    if crash is None:
        return {
            "crash": "none",
            "recovery_s": None,
            "recovery_work_s": None,
            "wal_bytes": None,
            "lost": 0,
        }
    return {
        "crash": crash.kind,
        "recovery_s": crash.recovery_s,
        "recovery_work_s": crash.work_s,
        "wal_bytes": crash.wal_bytes,
        "lost": len(crash.lost_ids),
    }
