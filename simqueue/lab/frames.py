"""pandas views of a simulation: its trace, its jobs and its state over time, one row per
record. Outer layer: reads the records a Simulation keeps, never the engine's logic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from simqueue.core.checks import number
from simqueue.sim.trace import FIELDS

if TYPE_CHECKING:
    from simqueue.sim.config import Config
    from simqueue.sim.simulation import Simulation

__all__ = [
    "ACK_COLUMNS",
    "METRIC_COLUMNS",
    "SAMPLE_FIELDS",
    "SampledRun",
    "acks_frame",
    "jobs_frame",
    "metrics_frame",
    "trace_frame",
]

METRIC_COLUMNS = (
    "time",
    "pending",
    "in_flight",
    "completed",
    "dead",
    "throughput",
    "wal_bytes",
    "durable_seq",
    "up",
    "waiting",
)
SAMPLE_FIELDS = (
    "time",
    "pending",
    "in_flight",
    "completed",
    "dead",
    "wal_bytes",
    "durable_seq",
    "last_seq",
    "waiting",
)
#: One row per acknowledged enqueue (:func:`acks_frame`).
ACK_COLUMNS = ("job_id", "arrived_at", "acked_at", "ack_latency", "fsync")


class SampledRun(Protocol):
    """What :func:`metrics_frame` reads: the periodic samples and the interval between them."""

    @property
    def config(self) -> Config: ...

    def samples(self) -> Sequence[tuple[Any, ...]]: ...


def trace_frame(sim: Simulation) -> pd.DataFrame:
    """One row per trace event: time, kind, job_id, attempt, worker, seq, durable_seq, detail."""
    df = pd.DataFrame.from_records(list(sim.trace), columns=list(FIELDS))
    df["detail"] = df["detail"].astype(object)
    return df


def jobs_frame(sim: Simulation) -> pd.DataFrame:
    """One row per job the queue knows, with wait (enqueue to first dispatch), latency
    (enqueue to completion) and ack_latency (its client's arrival to its acknowledgement; NaN
    while unacknowledged) in simulated seconds."""
    q = None if sim.crashed else sim.queue
    rows = []
    if q is not None:
        for r in q.iter_jobs():
            rows.append(
                (
                    r.id,
                    r.state.value,
                    r.attempt,
                    r.enqueued_at,
                    r.first_dispatch_at,
                    r.finished_at,
                    r.reason or None,
                )
            )
    df = pd.DataFrame.from_records(
        rows,
        columns=[
            "job_id",
            "state",
            "attempt",
            "enqueued_at",
            "first_dispatch_at",
            "finished_at",
            "reason",
        ],
    )
    df["wait"] = df["first_dispatch_at"] - df["enqueued_at"]
    df["latency"] = (df["finished_at"] - df["enqueued_at"]).where(df["state"] == "completed")
    # a job enqueued again after an outage was acknowledged once: its last acknowledgement
    acked = {job_id: ack - arrived for job_id, arrived, ack in sim.acknowledgements()}
    df["ack_latency"] = df["job_id"].map(acked).astype(float)
    return df


def acks_frame(sim: Simulation) -> pd.DataFrame:
    """One row per acknowledged enqueue: job_id, arrived_at, acked_at, ack_latency (arrival to
    acknowledgement under the fsync policy, simulated seconds; an outage included for a client
    that waited through one) and the run's fsync policy."""
    rows = [(j, a, k, k - a, sim.config.fsync) for j, a, k in sim.acknowledgements()]
    return pd.DataFrame.from_records(rows, columns=list(ACK_COLUMNS))


def metrics_frame(sim: SampledRun, interval: float = 1.0) -> pd.DataFrame:
    """State over time every ``interval`` seconds: time, pending, in_flight, completed, dead,
    throughput (completions per second over the interval), wal_bytes, durable_seq, up, waiting
    (clients waiting for the queue to come back). Rows while the queue is down after a crash
    have NaN counts and a throughput of 0: nothing completes during an outage."""
    number("interval", interval, positive=True)
    raw = pd.DataFrame.from_records(sim.samples(), columns=list(SAMPLE_FIELDS))
    if raw.empty:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    step = sim.config.metrics_interval
    every = max(1, round(interval / step))
    df = raw.iloc[::every].reset_index(drop=True).copy()
    df["up"] = df["pending"].notna()
    # Through an outage the count stands still (the queue is gone, nothing completes); after
    # it the recovered count goes on (a power cut may take completions back: clipped at 0).
    completed = df["completed"].astype(float).ffill()
    dt = df["time"].diff()
    df["throughput"] = (completed.diff() / dt).clip(lower=0)
    df.loc[~df["up"], "throughput"] = 0.0
    return df[list(METRIC_COLUMNS)]
