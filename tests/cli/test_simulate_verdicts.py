"""`simqueue simulate` judges both targets as the dashboard does: throughput on the workers'
capacity (a run never completes more than arrives), recovery on a real crash it makes by default;
one PASS/MISS line per target, a progress bar on a terminal, and where its files are and why."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass

import pytest

from simqueue import Config
from simqueue.cli import simulate as simulate_cli
from simqueue.cli.main import ExitCode, main
from simqueue.cli.sim_verdicts import capacity_verdict, recovery_verdict
from simqueue.lab.plots.figure import plural
from simqueue.lab.sweeps import predict

#: A short scenario: 200 quick jobs on 4 workers.
QUICK = ["--jobs", "200", "--workers", "4", "--service-time", "uniform(0, 0.02)", "--seed", "3"]


def _simulate(tmp_path, capsys, *flags: str) -> tuple[int, list[str], dict]:
    code = main(["simulate", *QUICK, *flags, "--out", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    doc = json.loads((tmp_path / "summary.json").read_text()) if code == ExitCode.OK else {}
    return code, lines, doc


def _verdict(lines: list[str], target: str) -> str:
    (line,) = [line for line in lines if line.startswith(target)]
    return line


def test_eight_workers_miss_the_throughput_target_and_are_told_how_many_are_needed() -> None:
    v = capacity_verdict(Config())
    assert v.passed is False
    needed = predict(Config(), arrival_rate=200).min_workers
    assert needed > 8 and f"{needed} workers needed for 200 jobs/s" in v.reason
    assert f"--workers {needed}" in v.reason


def test_the_throughput_target_is_judged_on_capacity_at_the_workers_needed() -> None:
    needed = predict(Config(), arrival_rate=200).min_workers
    assert capacity_verdict(Config(workers=needed)).passed is True
    assert capacity_verdict(Config(workers=needed - 1)).passed is False


def test_a_run_at_200_jobs_per_second_passes_although_it_measures_less(tmp_path, capsys) -> None:
    """Throughput can never exceed the offered load: 64 workers measure just under 200 jobs/s
    at 200 jobs/s offered, and have the capacity for more."""
    argv = ["simulate", "--arrival", "poisson(200)", "--jobs", "0", "--workers", "64"]
    assert main([*argv, "--duration", "10", "--out", str(tmp_path)]) == ExitCode.OK
    lines = capsys.readouterr().out.splitlines()
    measured = json.loads((tmp_path / "summary.json").read_text())["summary"]["throughput"]
    assert measured < 200
    line = _verdict(lines, "throughput >= 200 jobs/s:")
    assert line.startswith("throughput >= 200 jobs/s: PASS: capacity of 64 workers is ")
    assert any("200 jobs/s offered: a run completes at most what arrives" in x for x in lines)


def test_the_default_run_crashes_once_at_the_documented_time(tmp_path, capsys) -> None:
    code, lines, doc = _simulate(tmp_path, capsys)
    assert code == ExitCode.OK
    at = simulate_cli.DEFAULT_CRASH_AT
    assert lines[1].startswith(f"t={at:.3f}s process crash; recovered in")
    assert doc["scenario"]["crash_at"] == at and len(doc["summary"]["recoveries"]) == 1
    assert _verdict(lines, "recovery < 3 s:").startswith("recovery < 3 s: PASS: serving again")
    targets = {t["target"]: t["verdict"] for t in doc["targets"]}
    # 4 workers on 10 ms jobs (less 10% failed attempts) can do about 360 jobs/s.
    assert targets == {"throughput >= 200 jobs/s": "PASS", "recovery < 3 s": "PASS"}


def test_a_short_run_crashes_halfway(tmp_path, capsys) -> None:
    code, lines, doc = _simulate(tmp_path, capsys, "--duration", "4")
    assert code == ExitCode.OK and doc["scenario"]["crash_at"] == 2.0


def test_no_crash_leaves_the_recovery_target_unjudged(tmp_path, capsys) -> None:
    code, lines, doc = _simulate(tmp_path, capsys, "--no-crash")
    assert code == ExitCode.OK and doc["summary"]["recoveries"] == []
    assert _verdict(lines, "recovery < 3 s:") == "recovery < 3 s: NOT JUDGED: no crash (--no-crash)"
    assert len([x for x in lines if ": PASS: " in x or ": MISS: " in x]) == 1


def test_a_crash_after_the_end_of_the_run_is_said_not_to_have_happened(tmp_path, capsys) -> None:
    code, lines, _ = _simulate(tmp_path, capsys, "--duration", "5", "--crash-at", "9")
    assert code == ExitCode.OK
    assert "NOT JUDGED: no crash: the run ended before --crash-at 9 s" in "\n".join(lines)


def test_crash_at_and_no_crash_together_are_refused(tmp_path, capsys) -> None:
    argv = ["simulate", "--crash-at", "2", "--no-crash", "--out", str(tmp_path)]
    assert main(argv) == ExitCode.USAGE
    assert "--no-crash" in capsys.readouterr().err


@dataclass
class _Report:
    """The fields of a RecoveryReport the verdict reads."""

    wall_seconds: float
    records_replayed: int
    virtual_seconds: float | None = None
    downtime: float | None = None


def test_a_recovery_slower_than_three_seconds_misses_and_says_what_helps() -> None:
    v = recovery_verdict([_Report(0.2, 10), _Report(4.5, 9_000_000)], "")
    assert v.passed is False
    assert v.line() == (
        "recovery < 3 s: MISS: serving again 4.50 s after the worst of 2 (recovery 4.50 s), "
        "replaying 9,000,000 WAL records: snapshot more often (snapshot_interval)"
    )


def test_recovery_is_judged_from_the_crash_to_serving_again_as_the_dashboard_does() -> None:
    """A simulated recovery: the restart delay plus the modeled recovery (what the simulated
    clock was charged), with the measured time beside it."""
    v = recovery_verdict([_Report(0.002, 5000, virtual_seconds=0.05, downtime=1.05)], "")
    assert v.passed is True
    assert "serving again 1.05 s after the crash (restart 1.00 s + recovery 50 ms modeled, " in (
        v.reason
    )
    assert "2.0 ms measured here)" in v.reason
    v = recovery_verdict([_Report(0.002, 5000, virtual_seconds=2.5, downtime=3.5)], "")
    assert v.passed is False


def test_counts_are_pluralised() -> None:
    assert [plural(1, "worker"), plural(2, "worker"), plural(0, "recovery")] == [
        "1 worker",
        "2 workers",
        "0 recoveries",
    ]
    assert "capacity of 1 worker is" in capacity_verdict(Config(workers=1)).reason


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="needs a writable /dev/shm")
def test_it_says_where_the_files_are_and_why(tmp_path, capsys) -> None:
    _, lines, _ = _simulate(tmp_path, capsys, "--no-crash")
    assert lines[0].startswith("data directory /dev/shm/simqueue-")
    assert "in RAM: fsync is modeled" in lines[0] and "removed when the run ends" in lines[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("quiet", [False, True])
def test_a_progress_bar_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch, quiet) -> None:
    monkeypatch.setattr(simulate_cli, "PROGRESS_DELAY", 0.0)  # show the bar at once
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    code, _, _ = _simulate(tmp_path, capsys, *(["--quiet"] if quiet else []))
    assert code == ExitCode.OK
    shown = "simulating" in terminal.getvalue() and "sim s" in terminal.getvalue()
    assert shown is not quiet


def test_no_progress_bar_in_a_log(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(simulate_cli, "PROGRESS_DELAY", 0.0)
    main(["simulate", *QUICK, "--out", str(tmp_path)])
    assert "simulating" not in capsys.readouterr().err
