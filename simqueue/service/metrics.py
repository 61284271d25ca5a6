"""Prometheus metrics for the wall-clock server, with fixed names and a private registry.

Every counter moves where the event happens (in :mod:`simqueue.service.shared`, the loops and
``POST /jobs``):

==================================  =========================================================
``simqueue_jobs_enqueued_total``    jobs acknowledged by ``POST /jobs`` (their records durable)
``simqueue_jobs_dispatched_total``  attempts handed to a worker (DISPATCH logged)
``simqueue_jobs_completed_total``   attempts that succeeded (ACK logged)
``simqueue_jobs_failed_total``      attempts that failed: the handler raised (or simulated failure)
``simqueue_jobs_timeouts_total``    attempts that passed their deadline
``simqueue_jobs_dead_total``        jobs that used their last attempt (DEAD logged)
``simqueue_jobs_pending``           jobs waiting (read from the queue at scrape time)
``simqueue_jobs_in_flight``         jobs running (read from the queue at scrape time)
``simqueue_job_latency_seconds``    histogram, enqueue to completion of completed jobs
``simqueue_recovery_time_seconds``  measured duration of this process's recovery (0 if fresh)
==================================  =========================================================

Also: ``simqueue_stale_results_total`` (results fenced because their attempt was no longer
current), ``simqueue_snapshots_total`` and ``simqueue_wal_fsyncs_total`` (fsyncs of this process:
with group commit, far fewer than jobs).

The registry is a private :class:`prometheus_client.CollectorRegistry`, so two servers in one
process (as in the tests) never share or clash, and nothing lands in the global default registry.
It also holds prometheus_client's process collector (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``process_open_fds``, ...) and platform collector
(``python_info``), the series a Prometheus user expects of any server.

No ``*_created`` series: a counter's creation time says when this process started, which
``process_start_time_seconds`` already says once. They are left out where the registry is
exposed (:class:`_WithoutCreated`) rather than by ``prometheus_client.disable_created_metrics()``,
which would change every registry of the process (a notebook's own metrics too).

``GET /metrics`` answers in the format its ``Accept`` header asks for
(:func:`prometheus_client.exposition.choose_encoder`): OpenMetrics for
``application/openmetrics-text`` (what Prometheus asks for first), the plain text format otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

#: The names the issue fixes (without the ``_total`` suffix prometheus_client adds to counters).
METRIC_NAMES = (
    "simqueue_jobs_enqueued_total",
    "simqueue_jobs_dispatched_total",
    "simqueue_jobs_completed_total",
    "simqueue_jobs_failed_total",
    "simqueue_jobs_timeouts_total",
    "simqueue_jobs_dead_total",
    "simqueue_jobs_pending",
    "simqueue_jobs_in_flight",
    "simqueue_job_latency_seconds",
    "simqueue_recovery_time_seconds",
)

LATENCY_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
)


class _QueueState(Collector):
    """Values read from the queue when scraped: gauges of its state and its fsync count."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        state = self.read()
        yield GaugeMetricFamily(
            "simqueue_jobs_pending", "Jobs waiting to be dispatched.", value=state["pending"]
        )
        yield GaugeMetricFamily(
            "simqueue_jobs_in_flight", "Jobs dispatched and not finished.", value=state["in_flight"]
        )
        yield CounterMetricFamily(
            "simqueue_wal_fsyncs",
            "fsync calls made by this process (group commit: many records per fsync).",
            value=state.get("fsyncs", 0),
        )
        yield GaugeMetricFamily(
            "simqueue_wal_durable_seq",
            "Every WAL record with seq <= this is on stable storage.",
            value=state.get("durable_seq", 0),
        )

    def describe(self) -> Iterator[Any]:
        return iter(())  # values come from the queue at scrape time


class _WithoutCreated(Collector):
    """The registry's metrics without their ``*_created`` samples (what the encoders read)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        for family in self.registry.collect():  # fresh Metric objects at every collect
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class Metrics:
    """The server's metrics. ``state`` is called at scrape time and returns a dict with
    ``pending``, ``in_flight`` (and optionally ``fsyncs``, ``durable_seq``)."""

    def __init__(self, state: Callable[[], dict[str, Any]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.enqueued = Counter(
            "simqueue_jobs_enqueued", "Jobs acknowledged (durable) by POST /jobs.", registry=r
        )
        self.dispatched = Counter(
            "simqueue_jobs_dispatched", "Attempts handed to a worker.", registry=r
        )
        self.completed = Counter("simqueue_jobs_completed", "Attempts that succeeded.", registry=r)
        self.failed = Counter(
            "simqueue_jobs_failed", "Attempts that failed (the handler raised).", registry=r
        )
        self.timeouts = Counter(
            "simqueue_jobs_timeouts", "Attempts that passed their deadline.", registry=r
        )
        self.dead = Counter(
            "simqueue_jobs_dead", "Jobs that failed their last allowed attempt.", registry=r
        )
        self.stale = Counter(
            "simqueue_stale_results",
            "Results ignored because their attempt had already ended (fenced).",
            registry=r,
        )
        self.snapshots = Counter("simqueue_snapshots", "Snapshots written.", registry=r)
        self.latency = Histogram(
            "simqueue_job_latency_seconds",
            "Seconds from enqueue to completion, for completed jobs.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.recovery_time = Gauge(
            "simqueue_recovery_time_seconds",
            "Measured wall time of the last recovery of the data directory (0: fresh directory).",
            registry=r,
        )
        self._state = state or (lambda: {"pending": 0, "in_flight": 0})
        r.register(_QueueState(lambda: self._state()))
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        self._exposed = _WithoutCreated(r)

    def set_state_source(self, state: Callable[[], dict[str, Any]]) -> None:
        self._state = state

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self._exposed)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """``(body, content type)`` in the format an ``Accept`` header asks for: OpenMetrics or
        the plain text format (the default, also for a missing or unknown header)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self._exposed), content_type

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's current value (for tests and status pages)."""
        return self.registry.get_sample_value(name, labels or {})


__all__ = ["Metrics", "METRIC_NAMES", "LATENCY_BUCKETS"]
