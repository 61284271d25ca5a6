"""The kill -9 loop of real servers (:mod:`simqueue.testing.killtest`), bounded: five SIGKILLs of
``simqueue run`` under load, every restart checked against what the clients were told; then the
loop's own checks, each shown to catch the failure it exists for (a lost acknowledged job, a job
run again after its completion was durable, two ACK records, a completion undone)."""

from __future__ import annotations

import logging
import os

from simqueue import DurableQueue, Job
from simqueue.core.jobs import COMPLETED, PENDING
from simqueue.testing.killtest import (
    RUNS_ENV,
    KillLoop,
    Lifetime,
    build_parser,
    format_summary,
    handle,
)
from simqueue.testing.killtest import handler as kt_handler


def loop_for(tmp_path, *extra: str) -> KillLoop:
    args = build_parser().parse_args(["--work-dir", str(tmp_path / "kt"), *extra])
    os.makedirs(args.work_dir, exist_ok=True)
    return KillLoop(args)


def test_five_kills_lose_nothing_and_complete_nothing_twice(tmp_path, caplog) -> None:
    argv = ["--kills", "5", "--seed", "3", "--clients", "2", "--early", "0.2"]
    argv += ["--min-uptime", "0.2", "--max-uptime", "0.6", "--time-limit", "120"]
    argv += ["--work-dir", str(tmp_path / "kt")]
    loop = KillLoop(build_parser().parse_args(argv))
    with caplog.at_level(logging.INFO, logger="simqueue.testing.killtest"):
        s = loop.run()
    lines = caplog.messages
    assert s.violations == []
    assert s.ok and s.kills == 5 and s.lost == 0 and s.double_completions == 0
    assert s.jobs_acknowledged > 0 and s.posts_acknowledged > 0
    assert s.completed + s.dead == s.jobs_total >= s.jobs_acknowledged
    assert s.runs >= s.completed  # every completion was a run of the handler
    assert s.wal_verify.startswith(("clean", "torn"))
    assert s.recovery_stats()["recovery_seconds"]["n"] >= 1
    assert all(p.poll() is not None for p in loop.servers.procs)  # every server reaped
    assert [ln[:9] for ln in lines if ln.startswith("[")] == [
        "[  1/5] p",
        "[  2/5] p",
        "[  3/5] p",
        "[  4/5] p",
        "[  5/5] p",
        "[final] p",
    ]
    text = format_summary(s)
    assert "lost acknowledged jobs:    0" in text and "double completions:        0" in text


def test_a_lost_acknowledged_job_is_reported(tmp_path) -> None:
    ledger = loop_for(tmp_path).ledger
    q = DurableQueue.open(ledger.data_dir, durability="modeled")
    q.enqueue_many([Job("kept"), Job("done")])
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    q.close()
    life = Lifetime(1, 0, "batch")
    assert ledger.check_directory(life, ["kept", "done", "never-stored"]) == 2
    assert (life.acked_total, life.jobs_in_dir, life.lost) == (3, 2, 1)
    assert len(ledger.summary.violations) == 1 and "never-stored" in ledger.summary.violations[0]
    assert ledger.completed == {"kept": (1, 1)}  # "kept" was dispatched first (FIFO)
    assert len(ledger.acks) == 1  # its ACK record, read from the WAL


def test_a_completed_job_that_runs_again_is_a_double_completion(tmp_path) -> None:
    ledger = loop_for(tmp_path).ledger
    ledger.completed = {"a": (1, 2), "b": (2, 2)}  # durably COMPLETED, seen after lifetime 2
    ledger.pid_lifetime = {100: 2, 200: 3}
    with open(ledger.runs_path, "w") as fh:
        fh.write("100 a 1\n100 b 1\n100 b 2\n")  # the runs that completed them: fine
        fh.write("200 a 2\n")  # a runs again in lifetime 3: double completion
    ledger.acks = {10: ("b", 2), 20: ("c", 1), 30: ("c", 2)}  # c: two ACK records
    ledger.check_runs()
    assert ledger.summary.double_completions == 2 and ledger.doubled == {"a", "c"}
    assert ledger.summary.runs == 4 and ledger.summary.jobs_run_more_than_once == 2


def test_a_completion_undone_or_an_attempt_going_down_is_reported(tmp_path) -> None:
    ledger = loop_for(tmp_path).ledger
    ledger.observe({"a": (COMPLETED, 1), "b": (PENDING, 3)}, 1)
    assert ledger.summary.violations == []
    ledger.observe({"a": (PENDING, 1), "b": (PENDING, 2)}, 2)
    v = ledger.summary.violations
    assert len(v) == 2 and "now pending at attempt 1" in v[0] and "from 3 down to 2" in v[1]
    assert ledger.doubled == {"a"}


def test_the_handler_logs_each_run_before_it_works(tmp_path, monkeypatch) -> None:
    path = tmp_path / "runs.log"
    monkeypatch.setenv(RUNS_ENV, str(path))
    monkeypatch.setattr(kt_handler, "_runs_fd", None)
    try:
        handle(Job("x", {"sleep_ms": 1}, attempt=2))
        handle(Job("y"))
    finally:
        if kt_handler._runs_fd is not None:
            os.close(kt_handler._runs_fd)
    assert path.read_text() == f"{os.getpid()} x 2\n{os.getpid()} y 0\n"
