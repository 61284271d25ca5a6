"""simqueue.lab.sweeps: the M/M/c prediction for a Config, sweeps as DataFrames, capacity and
recovery-cost measurements."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from simqueue import Config, Constant, Exponential, Poisson, Uniform
from simqueue.lab import sweeps
from simqueue.lab.parallel import InlineExecutor
from simqueue.sim import theory

#: The one column of a run's record that is this machine's time, not the simulation's.
WALL = ["wall_seconds"]


def test_the_original_plan_needs_56_workers_for_200_jobs_per_second():
    p = sweeps.predict(Config(), arrival_rate=200)
    assert p.attempts_per_job == pytest.approx(1.111)  # 1 + 0.1 + 0.01 + 0.001
    assert p.dead_fraction == pytest.approx(1e-4)
    assert p.occupancy == pytest.approx(0.25)
    assert p.capacity_per_worker == pytest.approx((1 - 1e-4) / (0.25 * 1.111))
    assert p.capacity == pytest.approx(8 * p.capacity_per_worker)
    assert p.min_workers == 56
    assert not p.stable and p.mean_wait == math.inf and p.throughput == p.capacity


def test_without_failures_it_is_plain_mmc():
    cfg = Config(workers=8, service_time=Exponential(1 / 30), failure_rate=0.0)
    p = sweeps.predict(cfg, arrival_rate=200)
    assert p.mean_wait == pytest.approx(theory.mmc_mean_wait(200, 30, 8))
    assert p.utilisation == pytest.approx(200 / 240)
    assert p.throughput == pytest.approx(200)
    assert p.stable


def test_timeouts_and_hangs_shape_the_occupancy():
    cfg = Config(service_time=Uniform(0.0, 2.0), task_timeout=1.0, failure_rate=0.0, hang_rate=0.5)
    p = sweeps.predict(cfg, arrival_rate=10)
    # hang: held 1 s; else min(S, 1) with S ~ U(0, 2): mean 0.75, overrun with P = 1/2
    assert p.occupancy == pytest.approx(0.5 * 1.0 + 0.5 * 0.75)
    assert p.attempt_fail_probability == pytest.approx(0.5 + 0.5 * 0.5)
    const = sweeps.predict(Config(service_time=Constant(2.0), task_timeout=1.0), 1.0)
    assert const.attempt_fail_probability == 1.0 and const.dead_fraction == 1.0
    assert const.throughput == 0.0


def test_predict_needs_a_rate():
    with pytest.raises(ValueError, match="arrival_rate"):
        sweeps.predict(Config())
    assert sweeps.predict(Config(arrival=Poisson(50))).arrival_rate == 50


def test_sweep_returns_one_record_per_value():
    frame = sweeps.sweep(Config(seed=1), "workers", [4, 16], arrival_rate=40, duration=5.0)
    assert list(frame.workers) == [4, 16]
    assert {"throughput", "mean_wait", "predicted_throughput", "wall_seconds", "seed"} <= set(
        frame.columns
    )
    assert frame.throughput.iloc[1] > frame.throughput.iloc[0]
    assert (frame.arrival_rate == 40).all()


def test_a_sweep_on_worker_processes_equals_the_serial_run():
    """The default executor (a process pool sized to the machine) and a thread pool give the
    serial run's frame, row for row, for the same seeds."""
    kwargs = {"arrival_rate": 40, "duration": 3.0, "seeds": [5, 6], "progress": False}
    serial = sweeps.sweep(Config(), "workers", [2, 4, 8], executor=InlineExecutor(), **kwargs)
    pooled = sweeps.sweep(Config(), "workers", [2, 4, 8], **kwargs)
    with ThreadPoolExecutor(3) as threads:
        threaded = sweeps.sweep(Config(), "workers", [2, 4, 8], executor=threads, **kwargs)
    assert len(serial) == 6 and list(serial.seed) == [5, 6] * 3
    pd.testing.assert_frame_equal(pooled.drop(columns=WALL), serial.drop(columns=WALL))
    pd.testing.assert_frame_equal(threaded.drop(columns=WALL), serial.drop(columns=WALL))
    assert serial.completed.nunique() > 1  # the runs differ: equality is not trivial


def test_a_grid_is_every_combination_then_every_seed_in_order():
    runs = sweeps.grid_runs(
        Config(arrival=Poisson(10)), {"workers": [1, 2], "arrival_rate": [5, 7]}, seeds=[0, 1]
    )
    got = [(cfg.workers, rate, cfg.seed) for cfg, rate in runs]
    assert got == [(w, r, s) for w in (1, 2) for r in (5, 7) for s in (0, 1)]
    frame = sweeps.sweep_grid(
        Config(arrival=Poisson(10)),
        {"workers": [1, 2], "failure_rate": [0.0, 0.5]},
        duration=2.0,
        executor=InlineExecutor(),
    )
    assert list(zip(frame.workers, frame.failure_rate, strict=True)) == [
        (1, 0.0),
        (1, 0.5),
        (2, 0.0),
        (2, 0.5),
    ]
    with pytest.raises(ValueError, match="workers"):
        sweeps.grid_runs(Config(), {"workers": [0]})


def test_measured_capacity_matches_the_prediction():
    cfg = Config(seed=2, workers=16)
    measured = sweeps.measure_capacity(cfg, duration=15.0)
    assert measured == pytest.approx(sweeps.predict(cfg, 1.0).capacity, rel=0.05)


def test_measure_recovery_and_fit():
    cfg = Config(seed=3, arrival=Poisson(100), workers=32, snapshot_interval=None)
    rows = [sweeps.measure_recovery(cfg, t, repeats=2) for t in (2.0, 8.0)]
    assert rows[1]["records_replayed"] > 3 * rows[0]["records_replayed"] > 0
    assert all(r["wall_seconds"] > 0 and r["downtime"] > r["wall_seconds"] for r in rows)
    fit = sweeps.fit_recovery(rows)
    assert fit.n == 2


def test_fit_recovery_on_known_data():
    rows = [{"records_replayed": n, "wall_seconds": 0.01 + 3e-6 * n} for n in (0, 1000, 5000)]
    fit = sweeps.fit_recovery(rows)
    assert fit.intercept == pytest.approx(0.01)
    assert fit.per_record == pytest.approx(3e-6)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.max_records(3.0) == pytest.approx(2.99 / 3e-6)
    assert fit.max_snapshot_interval(600, 3.0) == pytest.approx(2.99 / 3e-6 / 600)
    with pytest.raises(ValueError):
        sweeps.fit_recovery(rows[:1])


def test_the_recovery_fit_never_has_a_negative_fixed_cost() -> None:
    """Points whose straight line would cross zero above 0 records: the fit goes through the
    origin instead of predicting negative recovery times below the data."""
    rows = [
        {"records_replayed": 6_000, "wall_seconds": 0.009},
        {"records_replayed": 25_000, "wall_seconds": 0.035},
        {"records_replayed": 100_000, "wall_seconds": 0.15},
        {"records_replayed": 800_000, "wall_seconds": 1.3},
    ]
    fit = sweeps.fit_recovery(rows)
    assert fit.intercept >= 0 and fit.per_record > 0
    for row in rows:  # within a factor of 2 of every point, small ones included
        assert 0.5 < fit.predict(row["records_replayed"]) / row["wall_seconds"] < 2
