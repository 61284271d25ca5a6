"""The headline numbers of a simulation run, read off the engine's queue and trace.

``ack_p50``/``ack_p99``: each acknowledged enqueue's time from its client's arrival to its
acknowledgement under the fsync policy (an outage included, for a client that waited through
one). ``recovery_seconds``: the longest modeled recovery (virtual seconds, restart delay not
included; None before any), ``recovery_wall_seconds`` the measured time of that same recovery,
``downtime_seconds`` the longest crash-to-serving time. ``rejected``: enqueues refused while the
queue was down (``clients="reject"``); ``waiting``: clients waiting for it now; ``acked_lost``:
acknowledged jobs a crash took away (only ever under ``fsync="never"`` and a power cut);
``fenced``: results carrying a token from before a crash, refused.

Waits and latencies are over the jobs the retention window holds, and with the trace off the
acknowledgement percentiles over the newest acknowledgements kept; every count is over the
whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simqueue.core.jobs import COMPLETED
from simqueue.core.queue import DurableQueue, RecoveryReport
from simqueue.sim.engine import Engine
from simqueue.sim.trace import DISPATCH, FAIL, SNAPSHOT, STALE, TIMEOUT


@dataclass
class Summary:
    """The headline numbers of a run. Times are simulated seconds."""

    elapsed: float
    arrived: int
    completed: int
    dead: int
    pending: int
    in_flight: int
    throughput: float
    mean_wait: float
    latency_p50: float
    latency_p99: float
    attempts: int
    failures: int
    timeouts: int
    stale_results: int
    snapshots: int
    wal_bytes: int
    fsyncs: int
    recoveries: list[RecoveryReport] = field(default_factory=list)
    lost_acknowledged: int = 0
    ack_p50: float = float("nan")
    ack_p99: float = float("nan")
    acknowledged: int = 0
    recovery_seconds: float | None = None
    recovery_wall_seconds: float | None = None
    downtime_seconds: float | None = None
    rejected: int = 0
    waiting: int = 0
    acked_lost: int = 0
    fenced: int = 0
    disk: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["recoveries"] = [r.as_dict() for r in self.recoveries]
        return d


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0 to 1) of ascending values, interpolated linearly; NaN if none."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _waits_and_latencies(q: DurableQueue) -> tuple[list[float], list[float]]:
    """Each job's wait (enqueue to first dispatch) and each completed job's latency (enqueue
    to completion), the latencies sorted."""
    waits: list[float] = []
    latencies: list[float] = []
    for rec in q.iter_jobs():
        if rec.first_dispatch_at is not None:
            waits.append(rec.first_dispatch_at - rec.enqueued_at)
        if rec.state is COMPLETED and rec.finished_at is not None:
            latencies.append(rec.finished_at - rec.enqueued_at)
    latencies.sort()
    return waits, latencies


def _recovery_figures(reports: list[RecoveryReport]) -> dict[str, float | None]:
    """The longest modeled recovery, the measured time of that one, the longest downtime."""
    modeled = [r for r in reports if r.virtual_seconds is not None]
    if not modeled:
        return {"recovery_seconds": None, "recovery_wall_seconds": None, "downtime_seconds": None}
    worst = max(modeled, key=lambda r: r.virtual_seconds or 0.0)
    return {
        "recovery_seconds": worst.virtual_seconds,
        "recovery_wall_seconds": worst.wall_seconds,
        "downtime_seconds": max(r.downtime or 0.0 for r in modeled),
    }


def summarize(engine: Engine, *, elapsed: float, lost_acknowledged: int) -> Summary:
    """The summary of ``engine``'s run so far. While the queue is down after a crash its job
    counts, waits and WAL size read as zero (nothing is in memory to count)."""
    q = None if engine.crashed else engine.q
    counts = engine.trace.kind_counts()
    ack_latencies = sorted(engine.acks.latencies())
    if q is None:
        waits: list[float] = []
        latencies: list[float] = []
        c = dict.fromkeys(("pending", "in_flight", "completed", "dead"), 0)
    else:
        waits, latencies = _waits_and_latencies(q)
        c = q.counts()
    return Summary(
        elapsed=elapsed,
        arrived=engine.jobs_arrived,
        completed=c["completed"],
        dead=c["dead"],
        pending=c["pending"],
        in_flight=c["in_flight"],
        throughput=c["completed"] / elapsed if elapsed > 0 else 0.0,
        mean_wait=sum(waits) / len(waits) if waits else float("nan"),
        latency_p50=percentile(latencies, 0.50),
        latency_p99=percentile(latencies, 0.99),
        attempts=counts[DISPATCH],
        failures=counts[FAIL],
        timeouts=counts[TIMEOUT],
        stale_results=counts[STALE],
        snapshots=counts[SNAPSHOT],
        wal_bytes=q.wal_bytes if q is not None else 0,
        fsyncs=engine.fs.stats.fsyncs,
        recoveries=list(engine.recoveries),
        lost_acknowledged=lost_acknowledged,
        ack_p50=percentile(ack_latencies, 0.50),
        ack_p99=percentile(ack_latencies, 0.99),
        acknowledged=engine.acks.total,
        rejected=engine.rejected,
        waiting=engine.waiting,
        acked_lost=lost_acknowledged,
        fenced=engine.fenced,
        disk=engine.disk.name,
        **_recovery_figures(engine.recoveries),
    )
