"""``Simulation.run_until`` handles arrivals, successes and dispatches in line
(:mod:`simqueue.sim.hotloop`); every other way of running (``step``, ``run_until_idle``) goes
through the controller's handlers. The two must be the same simulation: event for event, record
for record, acknowledgement for acknowledgement, over every branch the in-line code hands back
to the handlers."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from filetree import file_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simqueue import Config, Constant, Exponential, Poisson, Simulation, Uniform

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
    "trace off, small window": {"trace": False, "retain_finished": 10, "crash_at": 1.3},
}


def _run(tmp_path: Path, name: str, changes: dict[str, Any], seed: int, hot: bool) -> Any:
    data_dir = tempfile.mkdtemp(prefix=name + "-", dir=tmp_path)  # fresh for every run
    cfg = Config(**{**BASE, **changes, "seed": seed, "data_dir": data_dir})
    with Simulation(cfg) as sim:
        if hot:
            sim.run_until(1.5)
            sim.run_until(3.0)  # a second call binds the loop again
        else:
            sim.run_until_idle(max_time=3.0)
        if not sim.crashed:
            sim.check_invariants()  # every durability promise, the retention window's included
            if cfg.trace:  # with it off the trace keeps only the newest events
                traced = {e[2] for e in sim.trace if e[1] == "COMPLETE"}
                done = {j.id for j in sim.queue.iter_jobs() if j.state.value == "completed"}
                assert done <= traced
        outcome = {
            "trace": list(sim.trace),
            "acks": sim.acknowledgements(),
            "counts": sim.queue.counts() if not sim.crashed else None,
            "samples": sim.samples(),
            "arrived": sim.engine.jobs_arrived,
            "rejected": sim.engine.rejected,
            "kinds": sim.trace.kind_counts(),
        }
    outcome["files"] = file_bytes(data_dir)
    return outcome


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [3, 11])
def test_run_until_is_the_same_simulation_as_stepping_through_the_handlers(
    tmp_path: Path, case: str, seed: int
) -> None:
    hot = _run(tmp_path, "hot", CASES[case], seed, hot=True)
    stepped = _run(tmp_path, "stepped", CASES[case], seed, hot=False)
    assert sum(hot["kinds"].values()) > 100  # the run did something
    for key in ("trace", "acks", "counts", "samples", "arrived", "rejected", "kinds"):
        assert hot[key] == stepped[key], key
    assert hot["files"].keys() == stepped["files"].keys()
    for name, data in hot["files"].items():
        assert data == stepped["files"][name], f"{name} differs"


configs = st.fixed_dictionaries(
    {
        "arrival": st.sampled_from([Poisson(40.0), Poisson(150.0), Poisson(600.0)]),
        "workers": st.integers(1, 12),
        "service_time": st.sampled_from([Exponential(1 / 40), Uniform(0.0, 0.05), Constant(0.01)]),
        "task_timeout": st.sampled_from([0.02, 0.08, 1.0]),
        "hang_rate": st.sampled_from([0.0, 0.1]),
        "failure_rate": st.sampled_from([0.0, 0.2]),
        "max_retry": st.integers(0, 3),
        "backoff": st.sampled_from([0.0, 0.01, 0.05]),
        "snapshot_interval": st.sampled_from([None, 0.3, 1.0]),
        "fsync": st.sampled_from(["batch", "batch", "always", "never"]),
        "batch_size": st.sampled_from([1, 4, 256]),
        "flush_interval": st.sampled_from([0.0, 0.002, 0.01]),
        "disk": st.sampled_from(["instant", "nvme", "sata-ssd", "hdd"]),
        "retain_finished": st.sampled_from([None, None, 5]),
        "crash_at": st.sampled_from([None, None, 0.7, 1.3]),
        "crash_kind": st.sampled_from(["process", "power"]),
        "clients": st.sampled_from(["retry", "reject"]),
        "trace": st.sampled_from([True, True, False]),
    }
)


@given(changes=configs, seed=st.integers(0, 2**16))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_run_until_equals_stepping_for_any_configuration(
    tmp_path: Path, changes: dict[str, Any], seed: int
) -> None:
    hot = _run(tmp_path, "hot", changes, seed, hot=True)
    stepped = _run(tmp_path, "stepped", changes, seed, hot=False)
    for key in ("trace", "acks", "counts", "samples", "arrived", "rejected", "kinds", "files"):
        assert hot[key] == stepped[key], key
