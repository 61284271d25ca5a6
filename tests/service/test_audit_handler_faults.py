"""A handler may raise anything: every kind of ``BaseException`` (``Exception`` subclasses,
``SystemExit``, ``KeyboardInterrupt``, ``GeneratorExit``, a ``BaseException`` subclass of its
own) fails that attempt, is logged, and leaves the worker serving: every later job completes,
the failed attempts are recorded as failed, and ``/status`` shows no worker left busy."""

from __future__ import annotations

import logging
import threading

import pytest
from serverutil import call, finished, in_process, wait_until

from simqueue.core.jobs import Job


class HandlerBug(RuntimeError):
    """An ``Exception`` subclass of the handler's own."""


class Sabotage(BaseException):
    """A ``BaseException`` subclass outside ``Exception``, of the handler's own."""


KINDS = [
    ValueError("bad value"),
    HandlerBug("a bug"),
    SystemExit(3),
    SystemExit(0),
    KeyboardInterrupt(),
    GeneratorExit(),
    Sabotage("sabotage"),
]
WORKERS = 2
BAD = 2 * WORKERS  # more raising jobs than workers: every worker meets at least one... or more
GOOD = 10


@pytest.mark.parametrize("exc", KINDS, ids=lambda e: f"{type(e).__name__}{e.args}")
def test_a_handler_raising_any_base_exception_fails_the_attempt_and_the_worker_goes_on(
    tmp_path, caplog, exc: BaseException
) -> None:
    ran: list[str] = []
    lock = threading.Lock()

    def handler(job: Job) -> None:
        if job.payload and job.payload.get("raise"):
            raise exc
        with lock:
            ran.append(job.id)

    with (
        caplog.at_level(logging.WARNING),
        in_process(tmp_path / "q", handler=handler, workers=WORKERS, max_retry=0) as srv,
    ):
        url = srv.url
        bad = [{"id": f"bad-{i}", "payload": {"raise": True}} for i in range(BAD)]
        assert call(url, "POST", "/jobs", bad)[0] == 200
        good = [{"id": f"good-{i}", "payload": {"i": i}} for i in range(GOOD)]
        for job in good:  # one request each, after the raising jobs: later jobs
            assert call(url, "POST", "/jobs", [job])[0] == 200
        wait_until(lambda: finished(url, BAD + GOOD), timeout=30, what="every job to finish")
        status, st = call(url, "GET", "/status")
        assert status == 200
        assert st["workers"]["busy"] == 0, st["workers"]
        assert st["failures"] == BAD
        assert st["counts"]["completed"] == GOOD and st["counts"]["dead"] == BAD
        assert st["fatal"] is None and not st["stopping"]
        for j in good:
            _, rec = call(url, "GET", f"/jobs/{j['id']}")
            assert (rec["state"], rec["attempt"]) == ("completed", 1), rec
        for j in bad:
            _, rec = call(url, "GET", f"/jobs/{j['id']}")
            assert (rec["state"], rec["attempt"], rec["reason"]) == ("dead", 1, "failed"), rec
    assert sorted(ran) == sorted(j["id"] for j in good)
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    for j in bad:
        assert j["id"] in logged, f"no warning names the failed attempt of {j['id']}"
