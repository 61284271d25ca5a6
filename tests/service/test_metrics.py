"""Prometheus metrics: fixed names, a private registry, wired to real events, served at /metrics
in the format the scraper's Accept header asks for, without ``*_created`` series."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from serverutil import call, finished, in_process, jobs, request, wait_until

from simqueue.service.metrics import METRIC_NAMES, Metrics

#: What Prometheus itself sends when it scrapes (OpenMetrics first, the text format as fallback).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def samples(text: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if not s.labels:
                out[s.name] = s.value
    return out


def test_every_fixed_name_is_exposed() -> None:
    m = Metrics(lambda: {"pending": 4, "in_flight": 2})
    text = m.render().decode()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    for name in METRIC_NAMES:
        expected = name + "_count" if name.endswith("latency_seconds") else name
        assert expected in names, name
    got = samples(text)
    assert got["simqueue_jobs_pending"] == 4 and got["simqueue_jobs_in_flight"] == 2


def test_registry_is_private() -> None:
    a, b = Metrics(), Metrics()
    a.completed.inc(3)
    assert a.value("simqueue_jobs_completed_total") == 3
    assert b.value("simqueue_jobs_completed_total") == 0
    assert prometheus_client.REGISTRY.get_sample_value("simqueue_jobs_completed_total") is None


def test_counters_follow_what_the_server_did(tmp_path) -> None:
    with in_process(tmp_path / "q", workers=2, max_retry=1) as srv:
        body = jobs(20) + [
            {"id": "fails", "payload": {"fail": True}},
            {"id": "slow", "payload": {"sleep_ms": 5000}, "timeout_ms": 50},
        ]
        assert call(srv.url, "POST", "/jobs", body)[0] == 200
        wait_until(lambda: finished(srv.url, 22), what="all jobs to finish")
        # the last transition is visible before its group commit: wait for that fsync, or it
        # may land between the two reads below (seen as fsyncs 4 in /metrics, 5 in /status)
        wait_until(
            lambda: (seq := srv.status()["seq"])["durable"] == seq["last"], what="the last fsync"
        )
        status, headers, raw = request(srv.url, "GET", "/metrics")
        assert status == 200 and headers["Content-Type"] == TEXT_CONTENT_TYPE
        got = samples(raw.decode())
        st = srv.status()
    assert got["simqueue_jobs_enqueued_total"] == 22
    assert got["simqueue_jobs_completed_total"] == 20 == st["counts"]["completed"]
    assert got["simqueue_jobs_dead_total"] == 2 == st["counts"]["dead"]
    assert got["simqueue_jobs_failed_total"] == 2  # "fails": both attempts
    assert got["simqueue_jobs_timeouts_total"] == 2  # "slow": both attempts
    assert got["simqueue_jobs_dispatched_total"] == 24 == st["dispatches"]
    assert got["simqueue_jobs_pending"] == 0 and got["simqueue_jobs_in_flight"] == 0
    assert got["simqueue_job_latency_seconds_count"] == 20
    assert got["simqueue_job_latency_seconds_sum"] > 0
    assert got["simqueue_recovery_time_seconds"] == 0  # a fresh directory
    assert 0 < got["simqueue_wal_fsyncs_total"] == st["fsyncs"]


def test_recovery_time_is_the_measured_one(tmp_path) -> None:
    d = tmp_path / "q"
    with in_process(d) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(30))[0] == 200
        wait_until(lambda: finished(srv.url, 30), what="jobs to finish")
    with in_process(d) as srv:
        rec = srv.status()["recovery"]
        got = samples(request(srv.url, "GET", "/metrics")[2].decode())
        assert rec["jobs_restored"] == 30
        assert got["simqueue_recovery_time_seconds"] == rec["wall_seconds"] > 0
        assert got["simqueue_jobs_enqueued_total"] == 0  # counters are per process


def test_no_created_series_in_either_format() -> None:
    m = Metrics()
    m.completed.inc()
    m.latency.observe(0.2)
    for accept in (None, PROMETHEUS_ACCEPT):
        body, _ = m.exposition(accept)
        assert b"_created" not in body, accept
    assert b"_created" not in m.render()


def test_process_and_platform_collectors_are_on_the_private_registry() -> None:
    got = samples(Metrics().render().decode())
    assert got["process_cpu_seconds_total"] > 0
    assert got["process_resident_memory_bytes"] > 0
    assert got["process_start_time_seconds"] > 0
    names = {f.name for f in text_string_to_metric_families(Metrics().render().decode())}
    assert "python_info" in names
    assert prometheus_client.REGISTRY.get_sample_value("simqueue_jobs_pending") is None


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, TEXT_CONTENT_TYPE),
        ("text/plain", TEXT_CONTENT_TYPE),
        ("application/json", TEXT_CONTENT_TYPE),
        ("application/openmetrics-text", "application/openmetrics-text; version=1.0.0"),
        (PROMETHEUS_ACCEPT, "application/openmetrics-text; version=1.0.0"),
    ],
)
def test_the_accept_header_chooses_the_format(accept: str | None, content_type: str) -> None:
    _, got = Metrics().exposition(accept)
    assert got.startswith(content_type)


def test_a_scrape_in_both_formats_parses_to_the_same_values(tmp_path) -> None:
    """One server scraped twice, as Prometheus does it (OpenMetrics) and as curl does it (text);
    each body parsed by prometheus_client's parser for its format."""
    with in_process(tmp_path / "q", workers=2) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(10))[0] == 200
        wait_until(lambda: finished(srv.url, 10), what="the jobs to finish")
        _, om_headers, om_raw = request(
            srv.url, "GET", "/metrics", None, {"Accept": PROMETHEUS_ACCEPT}
        )
        _, text_headers, text_raw = request(srv.url, "GET", "/metrics")
    assert om_headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om_raw.endswith(b"# EOF\n")  # the OpenMetrics terminator, which the text format lacks
    assert text_headers["Content-Type"] == TEXT_CONTENT_TYPE
    om = {
        s.name: s.value
        for f in openmetrics_families(om_raw.decode())
        for s in f.samples
        if not s.labels
    }
    text = samples(text_raw.decode())
    for name in ("simqueue_jobs_enqueued_total", "simqueue_jobs_completed_total"):
        assert om[name] == text[name] == 10
    assert om["simqueue_job_latency_seconds_count"] == 10
    assert "process_cpu_seconds_total" in om and "process_cpu_seconds_total" in text
    assert not [n for n in list(om) + list(text) if n.endswith("_created")]
