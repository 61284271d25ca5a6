"""A run with the trace off (``Config(trace=False)``, simqueue/sim/traceoff.py) is the same run
as with it on: the same summary, samples, counts and files; it only keeps less."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from filetree import file_bytes

from simqueue import Config, Exponential, Poisson, Simulation
from simqueue.sim.trace import TraceEvent

RUN: dict[str, Any] = {
    "arrival": Poisson(150.0),
    "workers": 4,
    "service_time": Exponential(1 / 40),
    "task_timeout": 0.08,
    "hang_rate": 0.05,
    "backoff": 0.02,
    "snapshot_interval": 0.7,
    "crash_at": 1.3,
    "restart_delay": 0.2,
    "seed": 5,
}


def _outcome(tmp_path: Path, trace: bool) -> dict[str, Any]:
    data_dir = tmp_path / f"trace-{trace}"
    with Simulation(Config(**RUN, trace=trace, data_dir=str(data_dir))) as sim:
        sim.run_until(3.0)
        sim.check_invariants()
        wall = {"recoveries", "recovery_wall_seconds"}  # measured, and naming the data directory
        summary = {k: v for k, v in dataclasses.asdict(sim.summary()).items() if k not in wall}
        out = {
            "summary": summary,
            "samples": sim.samples(),
            "kinds": sim.trace.kind_counts(),
            "events": len(sim.trace),
            "acks": sim.acknowledgements(),
            "kept": len(list(sim.trace)),
        }
    out["files"] = file_bytes(str(data_dir))
    return out


def test_the_trace_off_runs_the_same_simulation_and_keeps_only_counts(tmp_path: Path) -> None:
    on, off = _outcome(tmp_path, True), _outcome(tmp_path, False)
    for key in ("summary", "samples", "kinds", "events", "acks", "files"):
        assert on[key] == off[key], key
    assert on["summary"]["completed"] > 100 and on["kinds"]["CRASH"] == 1
    assert on["kept"] == on["events"]
    assert off["kept"] < off["events"] / 10  # only the events since the last sample


def test_stepping_with_the_trace_off_gives_every_event() -> None:
    def stepped(trace: bool) -> list[Any]:
        with Simulation(Config(**RUN, trace=trace)) as sim:
            return [sim.step() for _ in range(2000)]

    assert stepped(False) == stepped(True)


def test_an_event_the_trace_let_go_says_so() -> None:
    with Simulation(Config(**RUN, trace=False)) as sim:
        sim.run_until(1.0)
        with pytest.raises(IndexError, match=r"trace is off \(Config\(trace=False\)\)"):
            sim.trace[0]
        event = sim.step()  # read before the next sample lets it go
        kept = list(sim.trace)
        assert sim.trace[-len(kept)] == kept[0]
        assert event in [TraceEvent.from_tuple(t) for t in kept]


def test_the_trace_off_keeps_only_the_newest_acknowledgements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from simqueue.sim import acklog

    monkeypatch.setattr(acklog, "BLOCK", 16)
    with Simulation(Config(**RUN, trace=False, retain_finished=20)) as sim:
        sim.run_until(2.0)
        kept = sim.acknowledgements()
        assert 20 <= len(kept) < 20 + 2 * 16
        assert sim.summary().acknowledged > 200


def test_trace_must_be_a_boolean() -> None:
    with pytest.raises(ValueError, match="trace must be true or false, got 'no'"):
        Config(trace="no")  # type: ignore[arg-type]
