"""Sweeps and crash campaigns on a real Dask cluster give the serial run's results.

One ``dask.distributed.LocalCluster`` of two worker processes on 127.0.0.1 (what ``simqueue
sweep`` and ``simqueue crashtest`` start without ``--scheduler``) serves the whole module; the
work is pickled to the workers and the results pickled back, as on a cluster of machines. About
15 s on two shared cores: starting the cluster, and each piece of work run twice (serially, then
on the cluster).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from simqueue import Config, Poisson
from simqueue.cli.main import main
from simqueue.cli.sweep import read_grid
from simqueue.lab import sweeps
from simqueue.lab.parallel import InlineExecutor
from simqueue.testing import crashsim as cs

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.cluster

WALL = ["wall_seconds"]  # this machine's time: the one column that differs between runs
GRID = """\
base: {arrival: poisson(30), service_time: exponential(0.2)}
grid: {workers: [2, 6], arrival_rate: [10, 30]}
seeds: [3, 4]
duration: 4s
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as c:
        yield c


@pytest.fixture(scope="module")
def executor(cluster: distributed.LocalCluster) -> Iterator[Executor]:
    with distributed.Client(cluster) as client:
        yield client.get_executor(pure=False)


def without_seconds(result: Any) -> Any:
    """A campaign's figures without its ``seconds``, the one figure that depends on the machine."""
    return dataclasses.replace(result, seconds=0.0)


def test_a_sweep_on_the_cluster_equals_the_serial_run(executor: Executor) -> None:
    base = Config(arrival=Poisson(30))
    kwargs = {"duration": 4.0, "seeds": [1, 2], "progress": False}
    grid = {"workers": [2, 4, 8], "failure_rate": [0.0, 0.3]}
    serial = sweeps.sweep_grid(base, grid, executor=InlineExecutor(), **kwargs)
    remote = sweeps.sweep_grid(base, grid, executor=executor, **kwargs)
    assert len(remote) == 12
    pd.testing.assert_frame_equal(remote.drop(columns=WALL), serial.drop(columns=WALL))
    assert serial.completed.nunique() > 1


def test_a_bounded_crash_campaign_on_the_cluster_equals_the_serial_run(
    executor: Executor,
) -> None:
    budget = cs.Budget.quick()
    serial = cs.run_campaign(budget, ["recovery"], executor=InlineExecutor(), progress=False)
    remote = cs.run_campaign(budget, ["recovery"], executor=executor, progress=False)
    assert [without_seconds(w) for w in remote.workloads] == [
        without_seconds(w) for w in serial.workloads
    ]
    assert [without_seconds(f) for f in remote.faults] == [
        without_seconds(f) for f in serial.faults
    ]
    assert remote.workloads[0].states > 100 and remote.faults[0].fired > 10  # work was done
    assert not remote.violations
    frame = cs.campaign_frame(remote)
    assert list(frame.part) == ["crash", "faults"] and frame.violations.sum() == 0


def test_crash_sequences_on_the_cluster_equal_the_serial_run(executor: Executor) -> None:
    budget = cs.Budget.quick()
    serial = cs.sequence_campaign([0, 1], 2, budget, 1, InlineExecutor(), progress=False)
    remote = cs.sequence_campaign([0, 1], 2, budget, 1, executor, progress=False)
    assert without_seconds(remote) == without_seconds(serial) and remote.sequences == 2


def test_simqueue_sweep_with_a_scheduler_address_writes_the_serial_rows(
    cluster: distributed.LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(GRID)
    out = tmp_path / "results.csv"
    address = cluster.scheduler_address
    assert main(["sweep", str(grid_file), "--scheduler", address, "--out", str(out)]) == 0
    assert f"on Dask scheduler {address}" in capsys.readouterr().err
    grid = read_grid(str(grid_file))
    serial = sweeps.sweep_grid(
        grid.base,
        grid.values,
        duration=grid.duration,
        seeds=grid.seeds,
        executor=InlineExecutor(),
        progress=False,
    )
    expected = pd.read_csv(io.StringIO(serial.to_csv(index=False)))  # as CSV makes it
    written = pd.read_csv(out)
    assert len(written) == 8
    pd.testing.assert_frame_equal(written.drop(columns=WALL), expected.drop(columns=WALL))


def test_simqueue_crashtest_with_a_scheduler_address(
    cluster: distributed.LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = tmp_path / "campaign.csv"
    argv = ["crashtest", "--scheduler", cluster.scheduler_address, "--quick"]
    argv += ["--workload", "recovery", "--no-faults", "--csv", str(figures)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"Dask scheduler {cluster.scheduler_address}" in out.splitlines()[0]
    assert "violations: 0" in out
    frame = pd.read_csv(figures)
    assert list(frame.workload) == ["recovery"] and frame.states.iloc[0] > 0


def test_an_unreachable_scheduler_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from simqueue.cli import cluster as cli_cluster

    monkeypatch.setattr(cli_cluster, "CONNECT_TIMEOUT", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    code = main(["crashtest", "--scheduler", address, "--quick"])
    err = capsys.readouterr().err
    assert code == 4 and f"--scheduler {address}: cannot reach a Dask scheduler" in err
    assert len(err.strip().splitlines()) == 1


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
