"""``simqueue run`` prints a status line on stderr every ``--status-every`` seconds (pending, in
flight, done, rate), none with ``--quiet``; stdout keeps only the start and stop lines."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from serverutil import ROOT, call, child_env, jobs, stop, wait_ready, wait_until

from simqueue.cli.main import main
from simqueue.cli.run import status_line

LINE = re.compile(
    r"^simqueue: (\d+) pending, (\d+) in flight, (\d+) done \((\d+) completed, (\d+) dead\), "
    r"([\d.]+) jobs/s$"
)


def test_the_status_line_counts_done_jobs_and_their_rate() -> None:
    before = {"pending": 9, "in_flight": 1, "completed": 10, "dead": 0}
    now = {"pending": 2, "in_flight": 3, "completed": 28, "dead": 2}
    assert status_line(before, now, 4.0) == (
        "simqueue: 2 pending, 3 in flight, 30 done (28 completed, 2 dead), 5.0 jobs/s"
    )
    assert status_line(now, now, 0.0).endswith(" 0.0 jobs/s")


def serve(tmp_path: Path, *flags: str) -> tuple[str, str]:
    """A real ``simqueue run`` with ``flags``, given 40 jobs, stopped by SIGTERM once it has
    printed two status lines that say they are done (or, with --quiet, once they are done):
    its stdout and stderr."""
    data_dir, out, err = tmp_path / "q", tmp_path / "out.txt", tmp_path / "err.txt"
    cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", str(data_dir), "--port", "0"]
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [*cmd, "--service-time", "constant(0.001)", "--failure-rate", "0", *flags],
            stdout=fo,
            stderr=fe,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            cwd=ROOT,
        )
        try:
            url = wait_ready(proc, data_dir)
            assert call(url, "POST", "/jobs", jobs(40))[0] == 200
            if "--quiet" in flags:
                wait_until(lambda: call(url, "GET", "/status")[1]["counts"]["completed"] == 40)
            else:
                wait_until(lambda: err.read_text().count(" 40 done ") >= 2, what="status lines")
        finally:
            assert stop(proc, signal.SIGTERM) == 0
    return out.read_text(), err.read_text()


def test_a_real_server_reports_its_progress_on_stderr(tmp_path: Path) -> None:
    out, err = serve(tmp_path, "--status-every", "0.2")
    lines = [m for m in map(LINE.match, err.splitlines()) if m]
    assert len(lines) >= 2
    last = lines[-1]
    assert last.group(3) == "40" and last.group(4) == "40" and last.group(1) == "0"
    assert any(float(m.group(6)) > 0 for m in lines)  # the interval the jobs finished in
    assert not [line for line in out.splitlines() if LINE.match(line)]  # stdout: start, stop
    assert "listening on" in out and "stopped; 40 completed" in out


def test_quiet_turns_the_status_line_off(tmp_path: Path) -> None:
    _, err = serve(tmp_path, "--status-every", "0.2", "--quiet")
    assert not [line for line in err.splitlines() if LINE.match(line)]


def test_a_status_interval_must_be_positive(tmp_path: Path, capsys) -> None:
    assert main(["run", "--data-dir", str(tmp_path / "q"), "--status-every", "0"]) == 2
    assert "--status-every must be above 0; got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "q").exists()  # refused before the directory was touched
