"""A server remembers a window of finished jobs, not its whole history (docs/semantics.md,
"Retention"): by default the newest 100,000, or what ``retain_finished`` says."""

from __future__ import annotations

from serverutil import call, finished, in_process, jobs, wait_until

from simqueue.service.network import DEFAULT_RETAIN_FINISHED


def test_a_server_keeps_a_finite_window_by_default(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        assert srv.q.options.retain_finished == DEFAULT_RETAIN_FINISHED


def test_a_server_forgets_finished_jobs_beyond_its_window(tmp_path) -> None:
    with in_process(tmp_path / "q", retain_finished=10) as srv:
        status, _ = call(srv.url, "POST", "/jobs", jobs(30))
        assert status == 200
        wait_until(lambda: finished(srv.url, 30), what="30 jobs to finish")
        status, st = call(srv.url, "GET", "/status")
        assert st["counts"]["completed"] == 30
        assert len(srv.q.jobs_info()) == 10
        status, answer = call(srv.url, "GET", "/jobs/job-0")
        assert status == 404 and "forgotten" in answer["error"]
        status, answer = call(srv.url, "POST", "/jobs", jobs(1))  # job-0, forgotten: new again
        assert status == 200 and answer["accepted"] == 1
