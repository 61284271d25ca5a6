"""What the dashboard reads from one run and from theory: throughput per second, the
steady-state throughput, the M/M/c wait for every worker count, and one history row per run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simqueue.lab.sweeps import predict
from simqueue.sim import theory

if TYPE_CHECKING:
    from simqueue.sim.config import Config
    from simqueue.sim.simulation import Summary

__all__ = [
    "WARMUP",
    "comparable",
    "comparable_recovery",
    "fmt_wait",
    "history_row",
    "ms",
    "per_second",
    "plural",
    "steady_throughput",
    "theory_waits",
]

WARMUP = 5.0  # seconds excluded from the steady-state throughput
Sample = tuple[Any, ...]  # (time, pending, in_flight, completed, ...): frames.SAMPLE_FIELDS
_COMPLETED = 3  # the completed count's place in a sample
#: History columns that must agree for two runs to share the workers panel.
_SAME_SETTINGS = (
    "failure_rate",
    "task_timeout",
    "arrival_rate",
    "snapshot_interval",
    "fsync",
    "crash",
    "crash_at",
)
#: History columns that must agree for two runs to share the recovery panel.
_SAME_RECOVERY = (
    "workers",
    "failure_rate",
    "task_timeout",
    "arrival_rate",
    "fsync",
    "crash",
    "crash_at",
)


def per_second(samples: Sequence[Sample]) -> tuple[list[float], list[float]]:
    """Completions per simulated second from the periodic samples: one point per whole second,
    zero where the queue was down (a crash completes nothing until it has recovered)."""
    times: list[float] = []
    rates: list[float] = []
    last_t = last_c = None
    next_t = 0.0
    for s in samples:
        t, completed = s[0], s[_COMPLETED]
        if completed is None:  # down: nothing completes
            if last_t is not None:
                times.append(t)
                rates.append(0.0)
            last_t = last_c = None
            continue
        if t + 1e-9 < next_t:
            continue
        if last_t is not None and last_c is not None and t > last_t:
            times.append(t)
            rates.append(max(0.0, (completed - last_c) / (t - last_t)))
        last_t, last_c = t, completed
        next_t = math.floor(t + 1e-9) + 1.0
    return times, rates


def steady_throughput(samples: Sequence[Sample], warmup: float) -> float:
    """Completions per second after ``warmup`` (the first seconds only fill the pipeline)."""
    up = [s for s in samples if s[_COMPLETED] is not None]
    if len(up) < 2:
        return 0.0
    first = next((s for s in up if s[0] >= warmup), up[0])
    last = up[-1]
    if last[0] <= first[0]:
        return 0.0
    return float((last[_COMPLETED] - first[_COMPLETED]) / (last[0] - first[0]))


def fmt_wait(seconds: float) -> str:
    """A wait for people: s, ms or µs with three significant digits, "none" for no wait at
    all, "n/a" when unknown, "unbounded" when unstable."""
    if math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "unbounded"
    if seconds <= 0:
        return "none"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.3g} \u00b5s"
    return "under 1 \u00b5s"


def plural(n: int, noun: str) -> str:
    """``1 worker``, ``2 workers``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def ms(seconds: float | None) -> float:
    """Seconds to milliseconds for a log axis: None/NaN stay NaN, zero becomes 1 µs."""
    if seconds is None or not math.isfinite(seconds):
        return math.nan
    return max(seconds * 1000, 1e-3)


def theory_waits(cfg: Config, rate: float, workers: Sequence[int]) -> list[float | None]:
    """The M/M/c mean wait at ``rate`` for every worker count (None where the queue would grow
    without bound)."""
    pred = predict(cfg.replace(workers=1), rate)
    lam = rate * pred.attempts_per_job
    if pred.occupancy <= 0:
        return [0.0 for _ in workers]
    mu = 1.0 / pred.occupancy
    return [theory.mmc_mean_wait(lam, mu, c) if lam < c * mu else None for c in workers]


def history_row(
    cfg: Config, rate: float, summary: Summary, steady: float, crash: dict[str, Any]
) -> dict[str, Any]:
    """One run's settings and results (``crash``: the crash's columns), for the panels that
    plot earlier runs."""
    return crash | {
        "workers": cfg.workers,
        "failure_rate": cfg.failure_rate,
        "task_timeout": cfg.task_timeout,
        "arrival_rate": rate,
        "snapshot_interval": cfg.snapshot_interval,
        "fsync": cfg.fsync,
        "throughput": steady,
        "mean_wait": summary.mean_wait,
        "completed": summary.completed,
        "dead": summary.dead,
        "ack_p50": getattr(summary, "ack_p50", None),
        "ack_p99": getattr(summary, "ack_p99", None),
    }


def comparable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two runs that differ at most in their number of workers."""
    return all(a[k] == b[k] for k in _SAME_SETTINGS)


def comparable_recovery(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two crashed runs that differ at most in their snapshot interval."""
    return a["recovery_s"] is not None and all(a[k] == b[k] for k in _SAME_RECOVERY)
