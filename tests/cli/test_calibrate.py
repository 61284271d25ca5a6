"""``simqueue calibrate``: measures real fsyncs and real recoveries and writes a profile that
``Config(disk=...)`` loads; bad flags get one line naming the flag."""

from __future__ import annotations

import json

import pytest

from simqueue import Config, Simulation
from simqueue.cli import calibrate
from simqueue.cli.main import ExitCode, main


@pytest.fixture
def quick(monkeypatch):
    """Small recoveries: the fit needs two sizes, not big ones."""
    monkeypatch.setattr(calibrate, "WAL_SIZES", (200, 1200))
    monkeypatch.setattr(calibrate, "SNAPSHOT_SIZES", (200, 1200))
    monkeypatch.setattr(calibrate, "REPEATS", 1)


def test_calibrate_writes_a_profile_a_simulation_runs_on(quick, tmp_path, capsys) -> None:
    out = tmp_path / "disk.json"
    code = main(["calibrate", "--dir", str(tmp_path), "--out", str(out), "--samples", "12"])
    assert code == ExitCode.OK
    err = capsys.readouterr().err
    assert "timing 12 fdatasync calls" in err and "recovery replaying" in err
    data = json.loads(out.read_text())
    assert data["name"] == "calibrated" and str(tmp_path) in data["source"]
    for kind in ("fdatasync", "fsync"):
        seconds = [s for _, s in data[kind]]
        assert seconds == sorted(seconds) and seconds[0] > 0  # a real fsync takes time
    assert data["recovery"]["per_record"] > 0
    cfg = Config(disk=str(out), fsync="always")
    assert cfg.disk_model.fdatasync.median == pytest.approx(data["fdatasync"][2][1])
    with Simulation(cfg) as sim:
        sim.enqueue(5)
        sim.run_until_idle()
        assert sim.summary().ack_p50 > 0
    assert [p.name for p in tmp_path.iterdir()] == ["disk.json"]  # its scratch files are gone


def test_calibrate_prints_the_profile_without_out(quick, tmp_path, capsys) -> None:
    assert main(["calibrate", "--dir", str(tmp_path), "--samples", "10"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["fsync"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "0"], "--samples must be >= 10; got 0"),
        (["--samples", "many"], "--samples must be an integer; got 'many'"),
        (["--dir", "/nonexistent/dir"], "--dir: no such directory: /nonexistent/dir"),
        (["--out", "/nonexistent/dir/p.json"], "--out: no such directory: /nonexistent/dir"),
    ],
)
def test_bad_flags_get_one_line_naming_the_flag(args, message, capsys) -> None:
    assert main(["calibrate", *args]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_calibrate_has_help(capsys) -> None:
    assert main(["calibrate", "--help"]) == 0
    assert "--samples" in capsys.readouterr().out
