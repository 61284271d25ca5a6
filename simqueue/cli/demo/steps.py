"""The seven steps of ``simqueue demo``, in order, each a method of :class:`_Demo` that prints
its ``[n/7]`` line (the list is in :mod:`simqueue.cli.demo`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simqueue.cli.demo.check import verify_directory
from simqueue.cli.demo.errors import DemoError
from simqueue.cli.demo.jobs import DemoJobs, load_jobs
from simqueue.cli.demo.outputs import write_outputs
from simqueue.cli.demo.servers import Running, ServerProcesses, fetch_status, server_flags
from simqueue.cli.demo.timeline import Deadline, Timeline
from simqueue.cli.errors import ExitCode
from simqueue.cli.status import format_status
from simqueue.lab.export import default_folder
from simqueue.service.client import ClientError, http_json

#: Seconds between two ``GET /status`` while the demo waits for jobs.
POLL = 0.05
#: The original plan's recovery target (seconds).
RECOVERY_TARGET = 3.0
#: Seconds the SIGTERM-ed server may take to finish, snapshot and exit.
STOP_WAIT = 20


@dataclass(frozen=True)
class _Plan:
    """What one demo run does: its jobs, directories and server knobs."""

    jobs: DemoJobs
    data_dir: str
    out_dir: str
    workers: int
    kill_at: float
    failure_rate: float
    timeout: float

    @property
    def log_path(self) -> str:
        return os.path.join(self.out_dir, "demo_server.log")


def run_demo(
    *,
    jobs_file: str | None = None,
    count: int | None = None,
    workers: int = 8,
    out_dir: str | None = None,
    data_dir: str | None = None,
    keep: bool = False,
    kill_at: float = 0.35,
    failure_rate: float = 0.05,
    timeout: float = 60.0,
    echo: Callable[[str], None] | None = None,
) -> bool:
    """Run the demo; True if every check passed. Raises :class:`DemoError` if it cannot run."""
    _check_options(kill_at, workers, count)
    jobs = load_jobs(jobs_file, count)
    made_tmp = data_dir is None
    data_dir = _fresh_data_dir(data_dir)
    out_dir = os.path.abspath(out_dir) if out_dir else str(default_folder())
    os.makedirs(out_dir, exist_ok=True)
    plan = _Plan(jobs, data_dir, out_dir, workers, kill_at, failure_rate, timeout)
    say = echo or _print
    try:
        return _Demo(plan, say).run()
    finally:
        if made_tmp and not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            say(f"data directory kept: {data_dir}")


def _print(line: str) -> None:
    print(line, flush=True)


def _check_options(kill_at: float, workers: int, count: int | None) -> None:
    if not 0 < kill_at <= 1:
        raise DemoError("--kill-at must be a fraction in (0, 1]", ExitCode.USAGE)
    if workers < 1:
        raise DemoError("--workers must be at least 1", ExitCode.USAGE)
    if count is not None and count < 1:
        raise DemoError("--count must be at least 1", ExitCode.USAGE)


def _fresh_data_dir(data_dir: str | None) -> str:
    """An absolute path to an empty (or not yet existing) directory; a temporary one if None."""
    if data_dir is None:
        data_dir = tempfile.mkdtemp(prefix="simqueue-demo-")
    elif os.path.exists(data_dir) and os.listdir(data_dir):
        raise DemoError(
            f"{data_dir}: not empty; the demo needs a fresh data directory", ExitCode.BAD_INPUT
        )
    return os.path.abspath(data_dir)


class _Demo:
    """One run of the demo: the steps share the plan, the timeline and the echo."""

    def __init__(self, plan: _Plan, echo: Callable[[str], None]) -> None:
        self.plan = plan
        self.echo = echo
        self.timeline = Timeline()
        self.deadline = Deadline(plan.timeout)

    def run(self) -> bool:
        """Steps 1-7, then the output files; True if nothing acknowledged was lost."""
        p = self.plan
        flags = server_flags(p.workers, p.failure_rate)
        with (
            open(p.log_path, "w", encoding="utf-8") as log,
            ServerProcesses(p.data_dir, flags, log, p.log_path, self.deadline) as servers,
        ):
            self.announce()
            first = self.start_server(servers)
            self.enqueue(first.url)
            before = self.kill_when_busy(first)
            second, recovery = self.restart(servers)
            final = self.wait_for_all(second.url)
            exit_code = self.stop(second)
        verdict = self.check(exit_code)
        summary = self._summary(before, recovery, final["counts"], verdict, exit_code)
        return self.write_outputs(summary)

    def status(self, url: str, phase: str) -> dict[str, Any]:
        st = fetch_status(url)
        self.timeline.record(phase, st)
        return st

    # ------------------------------------------------------------------------------ the steps
    def announce(self) -> None:
        jobs = self.plan.jobs
        self.echo("simqueue demo: a real server, a real kill -9, a measured recovery")
        self.echo(
            f"[1/7] fresh data directory {self.plan.data_dir}; {jobs.total} jobs from {jobs.source}"
        )

    def start_server(self, servers: ServerProcesses) -> Running:
        t_spawn = self.timeline.now()
        first = servers.start()
        self.echo(
            f"[2/7] server pid {first.proc.pid} listening on {first.url} after "
            f"{self.timeline.now() - t_spawn:.2f} s "
            f"({self.plan.workers} workers, fsync=batch: group commit, at most 10 ms apart)"
        )
        return first

    def enqueue(self, url: str) -> None:
        """One ``POST /jobs``; the answer means every job is durable."""
        marks = self.timeline.marks
        marks.enqueued = self.timeline.now()
        try:
            code, ans = http_json(
                url, "POST", "/jobs", self.plan.jobs.body, timeout=max(5.0, self.plan.timeout)
            )
        except ClientError as exc:
            raise DemoError(str(exc)) from None
        if code != 200:
            raise DemoError(f"the server refused the jobs: HTTP {code}: {ans}")
        marks.acked = self.timeline.now()
        took = marks.acked - marks.enqueued
        self.echo(
            f"[3/7] POST /jobs: {ans['accepted']} jobs acknowledged in {took * 1000:.0f} ms, "
            f"durable up to WAL seq {ans['durable_seq']} "
            f"({ans['accepted'] / max(took, 1e-9):,.0f} jobs/s)"
        )

    def kill_when_busy(self, first: Running) -> dict[str, int]:
        """SIGKILL once ``kill_at`` of the jobs finished, while some are in flight; returns the
        last counts seen before the kill."""
        total = self.plan.jobs.total
        while True:
            c = self.status(first.url, "before")["counts"]
            done = c["completed"] + c["dead"]
            if done >= self.plan.kill_at * total and (c["in_flight"] > 0 or done >= total):
                break
            self.deadline.check("waiting for jobs to run")
            time.sleep(POLL)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        marks = self.timeline.marks
        marks.killed = self.timeline.now()
        self.echo(
            f"[4/7] kill -9 {first.proc.pid} at t={marks.killed - marks.enqueued:.2f} s: "
            f"{c['completed']} completed, {c['dead']} dead, {c['in_flight']} in flight, "
            f"{c['pending']} pending (last status seen)"
        )
        return dict(c)

    def restart(self, servers: ServerProcesses) -> tuple[Running, dict[str, Any]]:
        """A new server on the same directory and the recovery report it measured."""
        second = servers.start()
        marks = self.timeline.marks
        marks.ready = self.timeline.now()
        rec = self.status(second.url, "after").get("recovery")
        if not rec:
            raise DemoError("the restarted server reports no recovery")
        met = "met" if rec["wall_seconds"] < RECOVERY_TARGET else "MISSED"
        self.echo(
            f"[5/7] restarted as pid {second.proc.pid}: recovery measured by the server "
            f"{rec['wall_seconds'] * 1000:.1f} ms (target < {RECOVERY_TARGET:g} s: {met}); "
            f"{rec['description']}"
        )
        self.echo(
            f"      down for {marks.ready - marks.killed:.2f} s in all "
            "(new process, imports, recovery, listen)"
        )
        return second, rec

    def wait_for_all(self, url: str) -> dict[str, Any]:
        """Poll until every job is COMPLETED or DEAD; returns the last ``/status``."""
        total = self.plan.jobs.total
        while True:
            st = self.status(url, "after")
            c = st["counts"]
            if c["completed"] + c["dead"] >= total and not c["pending"] and not c["in_flight"]:
                break
            self.deadline.check("waiting for the remaining jobs")
            time.sleep(POLL)
        marks = self.timeline.marks
        marks.done = self.timeline.now()
        self.echo(
            f"[6/7] all {total} jobs finished {marks.done - marks.ready:.2f} s after the restart: "
            f"{c['completed']} completed, {c['dead']} dead; {st['dispatches']} attempts in "
            f"all, {st['interruptions']} interrupted by the crash"
        )
        for line in format_status(st).splitlines():
            self.echo("      " + line)
        return st

    def stop(self, second: Running) -> int:
        """SIGTERM: the server finishes running work, writes a final snapshot and exits."""
        second.proc.send_signal(signal.SIGTERM)
        try:
            return second.proc.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            raise DemoError(f"the server did not stop within {STOP_WAIT} s of SIGTERM") from None

    def check(self, exit_code: int) -> dict[str, Any]:
        """Open the directory: every acknowledged job present and finished, WAL clean."""
        verdict = verify_directory(self.plan.data_dir, self.plan.jobs.ids)
        self.echo(
            f"[7/7] stopped with SIGTERM (exit {exit_code}, final snapshot). Checked the "
            f"directory: {verdict['present']}/{self.plan.jobs.total} acknowledged jobs present, "
            f"{verdict['missing']} lost, {verdict['unfinished']} unfinished; "
            f"WAL verify: {verdict['wal']}"
        )
        return verdict

    # ------------------------------------------------------------------------------ results
    def _summary(
        self,
        before: dict[str, int],
        recovery: dict[str, Any],
        final_counts: dict[str, int],
        verdict: dict[str, Any],
        exit_code: int,
    ) -> dict[str, Any]:
        """What ``demo_summary.json`` holds; ``ok`` needs a clean stop and a clean verdict."""
        p, m = self.plan, self.timeline.marks
        return {
            "jobs": p.jobs.total,
            "source": p.jobs.source,
            "workers": p.workers,
            "enqueue_seconds": m.acked - m.enqueued,
            "killed_at_seconds": m.killed - m.enqueued,
            "before_kill": before,
            "recovery": recovery,
            "recovery_seconds": recovery["wall_seconds"],
            "downtime_seconds": m.ready - m.killed,
            "finished_after_restart_seconds": m.done - m.ready,
            "final_counts": final_counts,
            "check": verdict,
            "server_exit_code": exit_code,
            "ok": exit_code == 0 and bool(verdict["ok"]),
        }

    def write_outputs(self, summary: dict[str, Any]) -> bool:
        """The plot, CSV and JSON files, and the closing lines; returns ``summary["ok"]``."""
        files = write_outputs(self.plan.out_dir, self.timeline, summary)
        ok = bool(summary["ok"])
        log_path = self.plan.log_path
        self.echo("plot:    " + files[0])
        self.echo("also:    " + ", ".join(files[1:]) + f", {log_path}")
        if ok:
            self.echo("result:  OK: nothing acknowledged was lost")
        else:
            self.echo(f"result:  FAILED: see the lines above and {log_path}")
        return ok


__all__ = ["run_demo"]
