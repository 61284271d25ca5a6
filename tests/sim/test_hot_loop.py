"""``Simulation.run_until`` handles arrivals, successes and dispatches in line
(:mod:`simqueue.sim.hotloop`); every other way of running (``step``, ``run_until_idle``) goes
through the controller's handlers. The two must be the same simulation: event for event, record
for record, acknowledgement for acknowledgement, over every branch the in-line code hands back
to the handlers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from simqueue import Config, Exponential, Poisson, Simulation

BASE: dict[str, Any] = {
    "arrival": Poisson(150.0),
    "workers": 4,
    "service_time": Exponential(1 / 40),
    "task_timeout": 0.08,
    "hang_rate": 0.05,
    "max_retry": 3,
    "backoff": 0.02,
    "snapshot_interval": 0.7,
    "durability": "modeled",
}

CASES: dict[str, dict[str, Any]] = {
    "reference": {},
    "failures and retries": {"failure_rate": 0.3, "max_retry": 2},
    "hangs, no backoff": {"hang_rate": 0.3, "backoff": 0.0},
    "one worker": {"workers": 1},
    "many workers": {"workers": 16},
    "small batches": {"batch_size": 2},
    "instant disk": {"disk": "instant"},
    "hdd": {"disk": "hdd"},
    "fsync always": {"fsync": "always"},
    "fsync never": {"fsync": "never"},
    "retention window": {"retain_finished": 20},
    "process crash": {"crash_at": 1.3},
    "power crash, torn tail": {"crash_at": 1.1, "crash_kind": "power", "crash_tear": "garble"},
    "clients turned away": {"crash_at": 0.9, "clients": "reject"},
}


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def _run(tmp_path: Path, name: str, changes: dict[str, Any], seed: int, hot: bool) -> Any:
    cfg = Config(**{**BASE, **changes, "seed": seed, "data_dir": str(tmp_path / name)})
    sim = Simulation(cfg)
    if hot:
        sim.run_until(1.5)
        sim.run_until(3.0)  # a second call binds the loop again
    else:
        sim.run_until_idle(max_time=3.0)
    outcome = {
        "trace": list(sim.trace),
        "acks": sim.acknowledgements(),
        "counts": sim.queue.counts() if not sim.crashed else None,
        "samples": sim.samples(),
        "arrived": sim.engine.jobs_arrived,
        "rejected": sim.engine.rejected,
    }
    sim.close()
    outcome["files"] = _files(cfg.data_dir or "")
    return outcome


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [3, 11])
def test_run_until_is_the_same_simulation_as_stepping_through_the_handlers(
    tmp_path: Path, case: str, seed: int
) -> None:
    hot = _run(tmp_path, "hot", CASES[case], seed, hot=True)
    stepped = _run(tmp_path, "stepped", CASES[case], seed, hot=False)
    assert len(hot["trace"]) > 100  # the run did something
    for key in ("trace", "acks", "counts", "samples", "arrived", "rejected"):
        assert hot[key] == stepped[key], key
    assert hot["files"].keys() == stepped["files"].keys()
    for name, data in hot["files"].items():
        assert data == stepped["files"][name], f"{name} differs"
