"""The command line: help everywhere, named exit codes, enqueue/status against a live server,
WAL tools on clean, torn and corrupt logs, and a headless simulation's output files."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from serverutil import ROOT, child_env, finished, in_process, jobs, wait_until

from simqueue import DurableQueue, Job, VirtualClock
from simqueue.cli.main import ExitCode, build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    """Every command and subcommand the parser knows, so a new one cannot miss its --help."""
    out = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _commands(sub, [*prefix, name])
    return out


COMMANDS = _commands(build_parser(), [])


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "simqueue")
def test_every_command_has_help(cmd, capsys) -> None:
    assert main([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: simqueue") and "--help" in out


def test_help_lists_every_command(capsys) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for name in ("run", "enqueue", "status", "demo", "simulate", "wal"):
        assert f"    {name}" in out
    assert "exit codes" in out


def test_usage_errors_exit_2(capsys) -> None:
    assert main([]) == ExitCode.USAGE
    assert main(["frobnicate"]) == ExitCode.USAGE
    assert main(["run", "--workers", "many"]) == ExitCode.USAGE
    assert main(["enqueue"]) == ExitCode.USAGE  # --file is required
    capsys.readouterr()


def test_parser_builds_without_side_effects() -> None:
    args = build_parser().parse_args(["status", "--json", "--url", "http://127.0.0.1:1"])
    assert args.json and args.url == "http://127.0.0.1:1"


def test_python_dash_m_and_console_script() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "simqueue", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert proc.returncode == 0 and proc.stdout.startswith("simqueue ")
    script = os.path.join(os.path.dirname(sys.executable), "simqueue")
    if os.path.exists(script):
        proc = subprocess.run([script, "wal", "--help"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "verify" in proc.stdout


def test_enqueue_and_status(tmp_path, capsys) -> None:
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs(25)))
    with in_process(tmp_path / "q") as srv:
        assert main(["enqueue", "--file", str(path), "--url", srv.url]) == 0
        out = capsys.readouterr().out
        assert out.startswith("enqueued 25 job(s) from") and "last WAL record is seq 25" in out
        wait_until(lambda: finished(srv.url, 25), what="jobs to finish")
        # the URL can come from the data directory's server.json
        assert main(["status", "--data-dir", str(tmp_path / "q")]) == 0
        out = capsys.readouterr().out
        assert "0 pending, 0 in flight, 25 completed, 0 dead (25 total)" in out
        assert "recovery: none" in out
        assert main(["status", "--json", "--url", srv.url]) == 0
        st = json.loads(capsys.readouterr().out)
        assert st["counts"]["completed"] == 25 and st["url"] == srv.url


def test_enqueue_sample_job_file(tmp_path, capsys) -> None:
    with in_process(tmp_path / "q") as srv:
        sample = os.path.join(ROOT, "data", "jobs_small.json")
        assert main(["enqueue", "-f", sample, "--url", srv.url]) == 0
        assert "enqueued 10 job(s)" in capsys.readouterr().out
        assert srv.job("task-001")["payload"] == {"value": 41}
        assert srv.job("task-001")["timeout"] == 3.0


def test_demo_job_file_is_valid() -> None:
    from simqueue.service.jobfile import parse_jobs_text

    with open(os.path.join(ROOT, "data", "jobs_demo.json"), "rb") as fh:
        parsed = parse_jobs_text(fh.read(), "jobs_demo.json")
    assert len(parsed) == 2000 and all(0 < j.payload["sleep_ms"] <= 25 for j in parsed)


# ---------------------------------------------------------------------------------- WAL tools
def make_dir(path, n: int = 5) -> str:
    q = DurableQueue.open(path, fsync="always", durability="modeled", clock=VirtualClock(1.0))
    q.enqueue_many([Job(f"j{i}", {"i": i}) for i in range(n)])
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    q.close()
    return str(path)


def last_segment(d: str) -> str:
    wal_dir = os.path.join(d, "wal")
    return os.path.join(wal_dir, sorted(os.listdir(wal_dir))[-1])


def test_wal_dump_text_and_json(tmp_path, capsys) -> None:
    d = make_dir(tmp_path / "q")
    assert main(["wal", "dump", d]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert lines[0].split()[:3] == ["1", "ENQUEUE", "j0"] and 'payload={"i":0}' in lines[0]
    assert lines[5].split()[1] == "DISPATCH" and lines[6].split()[1] == "ACK"
    assert main(["wal", "dump", d, "--json"]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, 8))
    assert records[5]["type"] == "DISPATCH" and records[5]["worker"] == 0


def test_wal_verify_clean_torn_corrupt(tmp_path, capsys) -> None:
    d = make_dir(tmp_path / "clean")
    assert main(["wal", "verify", d]) == ExitCode.WAL_CLEAN == 0
    assert capsys.readouterr().out.startswith("clean: 1 segment(s), 7 record(s)")

    torn = make_dir(tmp_path / "torn")
    with open(last_segment(torn), "ab") as fh:
        fh.write(b"\x13\x37\x00\x01\x02")  # half a record: what a power cut leaves
    assert main(["wal", "verify", torn]) == ExitCode.WAL_TORN == 1
    err = capsys.readouterr().err
    assert err.startswith("torn tail:") and "recovery will cut it" in err
    assert main(["wal", "dump", torn]) == 0  # the valid prefix, and a note
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 7 and "note: torn tail" in captured.err

    bad = make_dir(tmp_path / "corrupt")
    seg = last_segment(bad)
    with open(seg, "r+b") as fh:
        fh.seek(24 + 20)  # inside the first record, with valid records after it
        byte = fh.read(1)[0]
        fh.seek(24 + 20)
        fh.write(bytes([byte ^ 0xFF]))
    assert main(["wal", "verify", bad]) == ExitCode.WAL_CORRUPT == 2
    err = capsys.readouterr().err
    assert err.startswith(f"corrupt: {seg} at byte offset 24")
    assert main(["wal", "dump", bad]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simqueue: error: corrupt WAL in") and "byte offset 24" in err


def test_wal_tools_on_a_missing_or_foreign_directory(tmp_path, capsys) -> None:
    assert main(["wal", "verify", str(tmp_path / "nope")]) == ExitCode.BAD_INPUT
    assert "no such directory" in capsys.readouterr().err
    assert main(["wal", "dump", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert "not a simqueue data directory" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- simulate
def test_simulate_writes_frames_summary_and_plots(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["simulate", "--workers", "4", "--jobs", "300", "--failure-rate", "0.1"]
    argv += ["--service-time", "uniform(0, 0.02)", "--seed", "3", "--duration", "30"]
    assert main([*argv, "--crash-at", "0.5", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "300 completed" in text or "dead" in text
    assert "recovery: recovered in" in text and "invariants: ok" in text
    for name in ("trace.csv", "jobs.csv", "metrics.csv", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs and all((out / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    doc = json.loads((out / "summary.json").read_text())
    s = doc["summary"]
    assert s["completed"] + s["dead"] == 300 and s["lost_acknowledged"] == 0
    assert doc["config"]["workers"] == 4 and doc["scenario"]["crash_at"] == 0.5
    assert len(s["recoveries"]) == 1
    import pandas as pd

    jobs_df = pd.read_csv(out / "jobs.csv")
    assert len(jobs_df) == 300 and set(jobs_df["state"]) <= {"completed", "dead"}


def test_simulate_with_the_trace_off_counts_events_and_says_what_went_unchecked(
    tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("SIMQUEUE_TRACE", "false")
    argv = ["simulate", "--workers", "4", "--jobs", "300", "--service-time", "constant(0.01)"]
    assert main([*argv, "--crash-at", "0.5", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "invariants: ok (the queue's state only: with the trace off" in text
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["config"]["trace"] is False and doc["summary"]["completed"] == 300
    import pandas as pd

    assert len(pd.read_csv(tmp_path / "trace.csv")) < 300  # only the newest events are kept
    assert not (tmp_path / "worker_timeline.png").exists()  # it would be drawn from the trace


def test_simulate_shipped_scenario(tmp_path, capsys) -> None:
    scenario = os.path.join(ROOT, "data", "scenarios", "power_cut.yaml")
    argv = ["simulate", "--config", scenario, "--jobs", "400", "--crash-at", "0.3"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert "power crash" in capsys.readouterr().out


def test_simulate_with_an_arrival_process_runs_for_the_duration(tmp_path, capsys) -> None:
    argv = ["simulate", "--arrival", "poisson(100)", "--jobs", "0", "--workers", "32"]
    assert main([*argv, "--duration", "5", "--seed", "2", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["config"]["arrival"] == "poisson(100.0)"
    assert doc["summary"]["elapsed"] == 5 and doc["summary"]["arrived"] > 300
    assert main([*argv, "--arrival", "poisson(-1)", "--out", str(tmp_path)]) == ExitCode.USAGE
    assert "--arrival" in capsys.readouterr().err


def test_simulate_needs_out(capsys) -> None:
    assert main(["simulate", "--jobs", "10"]) == ExitCode.USAGE
    assert "needs --out" in capsys.readouterr().err


def test_a_recovered_directory_with_no_jobs_is_not_reported_as_fresh(capsys) -> None:
    from types import SimpleNamespace

    from simqueue import Config
    from simqueue.cli import run as run_command

    class EmptyRecoveredQueue:
        recovery = SimpleNamespace(describe=lambda: "recovered in 1.0 ms from no snapshot")

        def __len__(self) -> int:
            return 0

    server = SimpleNamespace(url="http://127.0.0.1:1", q=EmptyRecoveredQueue())
    run_command._report_started(server, Config(data_dir="q"))
    out = capsys.readouterr().out
    assert "recovered in 1.0 ms" in out and "fresh data directory" not in out
