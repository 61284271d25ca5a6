"""``simqueue sweep``: the grid file is checked key by key (one line naming the key and value),
the rows are the sweep's, and without Dask the command still runs on local processes."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from simqueue.cli import sweep as sweep_cmd
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.main import main
from simqueue.cli.sweep import read_grid
from simqueue.lab import sweeps
from simqueue.lab.parallel import InlineExecutor

ROOT = Path(__file__).resolve().parents[2]


def grid_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return str(path)


def test_the_shipped_example_grid_reads() -> None:
    grid = read_grid(str(ROOT / "configs" / "sweep.yaml"))
    assert grid.values == {"workers": [4, 8, 12, 16], "arrival_rate": [20.0, 40.0, 60.0]}
    assert grid.seeds == [0, 1] and grid.duration == 30.0 and grid.runs == 24
    assert grid.base.arrival is not None and grid.base.arrival.rate == 40
    assert grid.base.snapshot_interval == 10.0


def test_settings_are_read_as_in_the_config_file(tmp_path: Path) -> None:
    text = "base: {task_timeout: 500ms, service_time: constant(0.1)}\n"
    text += "grid: {flush_interval: [5ms, 20ms], arrival: [poisson(5), poisson(9)]}\n"
    grid = read_grid(grid_file(tmp_path, text))
    assert grid.base.task_timeout == 0.5 and grid.values["flush_interval"] == [0.005, 0.02]
    assert [a.rate for a in grid.values["arrival"]] == [5, 9]
    assert grid.seeds == [0] and grid.duration == 60.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("grid: {workers: [1]}\nsedes: [1]\n", "unknown key 'sedes'"),
        ("base: {arrival: poisson(5)}\n", "grid must map at least one key"),
        ("base: {arrival: poisson(5)}\ngrid: {workers: 4}\n", "grid.workers must be a non-empty"),
        ("base: {arrival: poisson(5)}\ngrid: {workers: [4, -1]}\n", "grid.workers[1]: workers"),
        ("base: {arrival: poisson(5)}\ngrid: {wrkers: [4]}\n", "grid.wrkers: unknown key"),
        ("base: {arrival: poisson(5)}\ngrid: {seed: [1, 2]}\n", "use seeds: [...]"),
        ("base: {data_dir: /tmp/x, arrival: poisson(5)}\ngrid: {workers: [1]}\n", "base.data_dir"),
        ("base: {fsync: sometimes, arrival: poisson(5)}\ngrid: {workers: [1]}\n", "base.fsync"),
        ("grid: {workers: [1, 2]}\n", "the runs need arrivals"),
        ("grid: {arrival_rate: [5, 0]}\n", "grid.arrival_rate: an arrival rate is a positive"),
        ("base: {arrival: poisson(5)}\ngrid: {workers: [1]}\nseeds: [1, x]\n", "seeds: a seed"),
        ("base: {arrival: poisson(5)}\ngrid: {workers: [1]}\nduration: 0\n", "duration: must"),
        ("base: {arrival: poisson(5)}\ngrid: {workers: [1]}\nduration: soon\n", "duration:"),
        ("- workers\n", "a grid file is a mapping"),
        ("grid: {workers: [1\n", "invalid YAML"),
    ],
)
def test_a_bad_grid_file_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str):
    path = grid_file(tmp_path, text)
    with pytest.raises(CliError) as err:
        read_grid(path)
    assert err.value.code == ExitCode.USAGE
    assert err.value.message.startswith(path + ": ") and message in err.value.message
    assert "\n" not in err.value.message


def test_a_missing_grid_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["sweep", str(tmp_path / "none.yaml")]) == ExitCode.USAGE
    assert "cannot read grid file" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["sweep", "crashtest"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: simqueue {command}") and "--scheduler" in out


def test_without_dask_the_sweep_runs_on_local_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_cmd, "dask_available", lambda: False)
    path = grid_file(
        tmp_path,
        "base: {arrival: poisson(20)}\ngrid: {workers: [1, 3]}\nseeds: [7, 8]\nduration: 2s\n",
    )
    assert main(["sweep", path, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "Dask is not installed" in err and "4 runs on local processes" in err
    written = pd.read_csv(io.StringIO(out))  # no --out: the CSV goes to stdout
    grid = read_grid(path)
    serial = sweeps.sweep_grid(
        grid.base, grid.values, duration=2.0, seeds=[7, 8], executor=InlineExecutor()
    )
    expected = pd.read_csv(io.StringIO(serial.to_csv(index=False)))
    wall = ["wall_seconds"]
    pd.testing.assert_frame_equal(written.drop(columns=wall), expected.drop(columns=wall))


def test_bad_worker_counts_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = grid_file(tmp_path, "base: {arrival: poisson(20)}\ngrid: {workers: [1]}\n")
    assert main(["sweep", path, "--workers", "0"]) == ExitCode.USAGE
    assert main(["crashtest", "--workers", "0"]) == ExitCode.USAGE
    assert main(["crashtest", "--sequences", "-1"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--workers must be at least 1; got 0" in err and "--sequences must be at least 0" in err


def test_an_unusable_out_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = grid_file(tmp_path, "base: {arrival: poisson(20)}\ngrid: {workers: [1]}\n")
    assert main(["sweep", path, "--out", str(tmp_path)]) == ExitCode.USAGE
    assert f"--out {tmp_path}: is a directory" in capsys.readouterr().err
