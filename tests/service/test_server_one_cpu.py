"""The server's threads run on one CPU, a handler's attempts on every CPU the process may use,
and the thread that starts the server keeps its own CPUs (``simqueue/service/work.py``,
``OneCpu``; Linux with two CPUs or more)."""

from __future__ import annotations

import os
import threading

import pytest
from serverutil import call, finished, in_process, jobs, wait_until

from simqueue.service.server import Server
from simqueue.service.work import OneCpu
from simqueue.sim.config import Config

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs os.sched_setaffinity and two CPUs",
)


def _affinity(t: threading.Thread) -> set[int]:
    assert t.native_id is not None
    return os.sched_getaffinity(t.native_id)


def test_the_server_threads_share_one_cpu_and_the_caller_keeps_its_own(tmp_path) -> None:
    everywhere = os.sched_getaffinity(0)
    with in_process(tmp_path / "q", workers=3) as srv:
        threads = srv._workers + srv._threads
        cpus = {frozenset(_affinity(t)) for t in threads if t.is_alive()}
        assert cpus == {frozenset({OneCpu().cpu})}
        assert os.sched_getaffinity(0) == everywhere


def test_a_handler_runs_on_every_cpu_and_its_worker_returns_to_one(tmp_path) -> None:
    everywhere = os.sched_getaffinity(0)
    seen: list[set[int]] = []

    def handler(job) -> None:
        seen.append(os.sched_getaffinity(0))

    with in_process(tmp_path / "q", handler=handler, workers=1) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(3))[0] == 200
        wait_until(lambda: finished(srv.url, 3), what="the jobs to complete")
        assert _affinity(srv._workers[0]) == {OneCpu().cpu}
    assert seen == [everywhere] * 3


def test_one_cpu_false_leaves_the_threads_where_the_os_puts_them(tmp_path) -> None:
    everywhere = os.sched_getaffinity(0)
    srv = Server(str(tmp_path / "q"), Config(workers=2), port=0, grace=5.0, one_cpu=False)
    srv.start()
    try:
        assert all(_affinity(t) == everywhere for t in srv._workers if t.is_alive())
    finally:
        srv.stop()
