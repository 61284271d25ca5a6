"""The wall-clock server: API, loops, group commit, fencing, graceful stop and a real kill -9."""

from __future__ import annotations

import json
import signal
import threading

import pytest
from serverutil import (
    call,
    child_server,
    counts,
    finished,
    in_process,
    jobs,
    request,
    stop,
    wait_until,
)

from simqueue import DurableQueue
from simqueue.core.jobs import COMPLETED, DEAD, FINAL_STATES
from simqueue.service.jobfile import parse_jobs
from simqueue.service.network import SERVER_FILE, non_loopback_warning


def test_enqueue_run_and_read_back(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        status, answer = call(srv.url, "POST", "/jobs", jobs(50))
        assert status == 200 and answer["accepted"] == 50
        assert answer["durable_seq"] >= answer["last_seq"] == 50  # answered once durable
        wait_until(lambda: finished(srv.url, 50), what="50 jobs to finish")
        status, job = call(srv.url, "GET", "/jobs/job-7")
        assert status == 200
        assert job["state"] == "completed" and job["payload"] == {"i": 7} and job["attempt"] == 1
        status, st = call(srv.url, "GET", "/status")
        assert st["counts"] == {"pending": 0, "in_flight": 0, "completed": 50, "dead": 0}
        assert st["recovery"] is None  # a fresh directory
        assert st["config"]["workers"] == 2 and st["server"]["host"] == "127.0.0.1"
        info = json.loads((tmp_path / "q" / SERVER_FILE).read_text())
        assert info["url"] == srv.url and info["port"] == srv.port
    assert not (tmp_path / "q" / SERVER_FILE).exists()  # removed on a clean stop


def test_unknown_endpoints_methods_and_ids_are_json_4xx(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        for method, path, code in [
            ("GET", "/nope", 404),
            ("GET", "/jobs/unknown", 404),
            ("GET", "/jobs/..%2F..%2Fetc%2Fpasswd", 404),  # an id, never a path
            ("GET", "/jobs", 405),
            ("PUT", "/jobs", 405),
            ("DELETE", "/jobs/x", 405),
            ("POST", "/status", 405),
        ]:
            status, headers, raw = request(srv.url, method, path)
            assert status == code, (method, path, status)
            assert headers["Content-Type"] == "application/json"
            assert json.loads(raw)["error"]
        status, _, raw = request(srv.url, "GET", "/jobs/..%2F..%2Fetc%2Fpasswd")
        assert json.loads(raw)["job_id"] == "../../etc/passwd"


def test_many_enqueuers_share_one_fsync(tmp_path) -> None:
    """Group commit: concurrent POSTs inside one flush interval are acknowledged together."""
    n = 20
    with in_process(tmp_path / "q", flush_interval=0.5, batch_size=100_000) as srv:
        before = srv.status()["fsyncs"]
        barrier = threading.Barrier(n)
        answers: list[int] = []

        def post(i: int) -> None:
            barrier.wait()
            answers.append(call(srv.url, "POST", "/jobs", jobs(1, start=i))[0])

        threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert answers == [200] * n
        fsyncs = srv.status()["fsyncs"] - before
        assert 1 <= fsyncs < n  # typically 1 or 2: one fsync made many enqueues durable


def test_attempt_past_its_deadline_times_out_then_dead(tmp_path) -> None:
    with in_process(tmp_path / "q", max_retry=1) as srv:
        item = {"id": "slow", "payload": {"sleep_ms": 5000}, "timeout_ms": 100}
        assert call(srv.url, "POST", "/jobs", [item])[0] == 200
        wait_until(lambda: finished(srv.url, 1), what="the slow job to die")
        job = call(srv.url, "GET", "/jobs/slow")[1]
        assert (job["state"], job["attempt"], job["reason"]) == ("dead", 2, "timeout")
        assert srv.metrics.value("simqueue_jobs_timeouts_total") == 2
        assert srv.metrics.value("simqueue_jobs_dead_total") == 1


def test_handler_raising_means_failure(tmp_path) -> None:
    seen: list[tuple[str, int]] = []

    def handler(job) -> None:
        seen.append((job.id, job.attempt))
        if job.payload.get("boom"):
            raise RuntimeError("boom")

    with in_process(tmp_path / "q", handler=handler, max_retry=2) as srv:
        body = jobs(5) + [{"id": "bad", "payload": {"boom": True}}]
        assert call(srv.url, "POST", "/jobs", body)[0] == 200
        wait_until(lambda: finished(srv.url, 6), what="six jobs to finish")
        assert counts(srv.url) == {"pending": 0, "in_flight": 0, "completed": 5, "dead": 1}
        assert sorted(a for i, a in seen if i == "bad") == [1, 2, 3]  # max_retry + 1 attempts
        assert srv.metrics.value("simqueue_jobs_failed_total") == 3


def test_result_of_a_timed_out_attempt_is_fenced(tmp_path) -> None:
    """A handler that finishes after its attempt timed out does not complete the job."""
    release = threading.Event()

    def handler(job) -> None:
        release.wait(30)

    with in_process(tmp_path / "q", handler=handler, max_retry=0) as srv:
        assert call(srv.url, "POST", "/jobs", [{"id": "late", "timeout_ms": 50}])[0] == 200
        wait_until(lambda: counts(srv.url)["dead"] == 1, what="the timeout")
        release.set()
        wait_until(lambda: srv.status()["stale_results"] == 1, what="the stale result")
        assert call(srv.url, "GET", "/jobs/late")[1]["state"] == "dead"
        assert srv.metrics.value("simqueue_stale_results_total") == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_gracefully_with_a_final_snapshot(tmp_path, sig) -> None:
    d = tmp_path / "q"
    with child_server(d, "--workers", "2", "--failure-rate", "0") as (proc, url):
        assert call(url, "POST", "/jobs", jobs(200, sleep_ms=20))[0] == 200
        wait_until(lambda: counts(url)["completed"] >= 10, what="some jobs to complete")
        assert stop(proc, sig) == 0
    assert not (d / SERVER_FILE).exists()
    assert list((d / "snapshots").glob("snap-*.snap"))
    q = DurableQueue.open(d, durability="real")
    try:
        # running attempts finished during the grace period: nothing was left to interrupt
        assert q.recovery is not None and q.recovery.jobs_interrupted == 0
        assert q.recovery.records_replayed == 0  # the final snapshot covers the whole log
        c = q.counts()
        assert c["completed"] >= 10 and c["in_flight"] == 0 and sum(c.values()) == 200
    finally:
        q.close()


def test_stop_leaves_work_that_outlives_the_grace_period_in_flight(tmp_path) -> None:
    release = threading.Event()

    def handler(job) -> None:
        release.wait(30)

    d = tmp_path / "q"
    with in_process(d, handler=handler, grace=0.2) as srv:
        assert call(srv.url, "POST", "/jobs", [{"id": "stuck"}, {"id": "waiting"}])[0] == 200
        wait_until(lambda: counts(srv.url)["in_flight"] == 2, what="both jobs to start")
    assert srv.final["still_running"] == 2
    release.set()  # the handlers return after the queue closed: ignored, not a crash
    for t in srv._workers:
        t.join(10)
    assert srv.fatal is None
    q = DurableQueue.open(d, durability="real")
    try:
        # like after kill -9: the next start counts the unfinished attempt as interrupted
        assert q.recovery.jobs_interrupted == 2
        assert q.job("stuck").state.value == "pending" and q.job("stuck").attempt == 1
        assert q.job("stuck").reason == "interrupted"
    finally:
        q.close()


def test_kill_9_mid_run_loses_nothing(tmp_path) -> None:
    """The issue's end-to-end test: 1000 jobs, kill -9 while jobs are in flight, restart,
    wait: all 1000 COMPLETED or DEAD, none missing; recovery report and metric set."""
    d = tmp_path / "q"
    total = 1000
    args = ("--workers", "4", "--failure-rate", "0.05", "--snapshot-interval", "0.3s")
    body = [{"id": f"job-{i}", "payload": {"sleep_ms": 5}} for i in range(total)]
    with child_server(d, *args) as (proc, url):
        assert call(url, "POST", "/jobs", body)[0] == 200  # acknowledged: all 1000 are durable
        wait_until(
            lambda: (c := counts(url))["completed"] >= 100 and c["in_flight"] > 0,
            what="jobs in flight",
        )
        assert stop(proc, signal.SIGKILL) == -signal.SIGKILL
    with child_server(d, *args) as (proc, url):
        st = call(url, "GET", "/status")[1]
        rec = st["recovery"]
        assert rec is not None and rec["wall_seconds"] > 0 and rec["jobs_restored"] == total
        status, _, raw = request(url, "GET", "/metrics")
        assert status == 200
        name = "simqueue_recovery_time_seconds"
        (line,) = [ln for ln in raw.decode().splitlines() if ln.startswith(name)]
        assert float(line.split()[1]) == rec["wall_seconds"] > 0
        wait_until(lambda: finished(url, total), what="all jobs to finish after the restart")
        for i in (0, 499, 999):
            assert call(url, "GET", f"/jobs/job-{i}")[1]["state"] in ("completed", "dead")
        assert stop(proc) == 0
    q = DurableQueue.open(d, durability="real")
    try:
        assert len(q) == total
        assert all(q.state_of(f"job-{i}") in FINAL_STATES for i in range(total))
        assert q.counts()["completed"] + q.counts()["dead"] == total
        assert q.state_of("job-0") in (COMPLETED, DEAD)
    finally:
        q.close()


def test_non_loopback_address_gets_a_warning() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert non_loopback_warning(host) is None
    for host in ("0.0.0.0", "192.168.1.5", "example.com"):
        assert "no authentication" in non_loopback_warning(host)


def test_parse_jobs_converts_timeout_ms() -> None:
    (job,) = parse_jobs([{"id": "a", "payload": {"x": 1}, "timeout_ms": 1500}], "t")
    assert job.timeout == 1.5 and job.payload == {"x": 1}
    (job,) = parse_jobs([{"id": "b"}], "t")
    assert job.timeout is None and job.payload is None


def test_handler_is_loaded_from_the_current_directory(tmp_path, monkeypatch) -> None:
    from simqueue.service.work import load_handler

    (tmp_path / "my_jobs_mod.py").write_text("def work(job):\n    return job.id.upper()\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    func = load_handler("my_jobs_mod:work")
    assert func.__name__ == "work"
