"""Sanity checks for the SimPy reference model used as the benchmark baseline.

With no hangs, failures or timeouts the reference model is an M/M/c queue, so its mean
wait must agree with the Erlang C result; with every attempt hanging, every job must die
after exactly max_retry + 1 attempts.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("simpy")

from benchmarks.simpy_reference import run_simpy_reference
from simqueue.sim.theory import mmc_mean_wait

RATE, SERVICE_MEAN, WORKERS = 200.0, 1 / 30, 8

# No hangs, no failures and an infinite deadline: nothing is ever retried, so the model is
# exactly M/M/c. (With the default 0.1 s deadline ~5% of attempts would time out and rejoin
# the queue, adding load the closed form does not know about.)
MMC = dict(
    rate=RATE,
    workers=WORKERS,
    service_mean=SERVICE_MEAN,
    task_timeout=math.inf,
    hang_rate=0.0,
    failure_rate=0.0,
)


def test_short_mmc_run_has_plausible_wait_and_loses_nothing() -> None:
    result = run_simpy_reference(duration=20.0, **MMC)
    theory = mmc_mean_wait(RATE, 1 / SERVICE_MEAN, WORKERS)
    # 20 s is only ~4000 jobs: the sample mean wait spreads by ~25% between seeds.
    assert 0.4 * theory < result["mean_wait"] < 2.5 * theory
    assert result["timeouts"] == result["failures"] == result["dead"] == 0
    assert result["attempts"] == result["completed"]
    # Only the jobs still queued or in service at the cut-off are missing.
    assert result["arrived"] - 50 <= result["completed"] <= result["arrived"]
    assert result["throughput"] == pytest.approx(RATE, rel=0.1)
    assert result["wall_seconds"] > 0 and result["jobs_per_wall_second"] > 0


def test_long_mmc_run_mean_wait_within_25_percent_of_erlang_c() -> None:
    # At 400 s (~80k jobs, about a second of wall time) the mean wait's spread between seeds
    # is ~6%, so 25% is a ~4-sigma band: a real modelling error, not noise, would fail it.
    result = run_simpy_reference(duration=400.0, seed=1, **MMC)
    theory = mmc_mean_wait(RATE, 1 / SERVICE_MEAN, WORKERS)
    assert result["mean_wait"] == pytest.approx(theory, rel=0.25)


def test_every_job_dies_after_max_retry_plus_one_attempts_when_all_attempts_hang() -> None:
    max_retry = 3
    # Light load on many workers so jobs rarely queue: each job then lives exactly
    # 4 * 0.1 s of attempts + (0.05 + 0.1 + 0.2) s of back-off = 0.75 s before it dies.
    result = run_simpy_reference(
        rate=10.0, workers=16, hang_rate=1.0, max_retry=max_retry, duration=60.0, seed=3
    )
    assert result["completed"] == result["failures"] == 0
    assert result["timeouts"] == result["attempts"]
    assert result["throughput"] == 0
    dead, arrived = result["dead"], result["arrived"]
    # Jobs not yet dead are the ones that arrived in the last ~0.75 s (about 7.5 of them).
    in_flight = arrived - dead
    assert dead > 400 and 0 <= in_flight <= 30
    # Each dead job used exactly max_retry + 1 attempts; each job still in flight has
    # finished at most max_retry of its attempts.
    assert dead * (max_retry + 1) <= result["attempts"]
    assert result["attempts"] <= dead * (max_retry + 1) + in_flight * max_retry


def test_no_retries_means_every_hang_is_immediately_dead() -> None:
    result = run_simpy_reference(hang_rate=1.0, max_retry=0, rate=10.0, duration=20.0)
    # With a single attempt a job dies at its deadline, 0.1 s after dispatch.
    assert result["completed"] == 0
    assert result["timeouts"] == result["attempts"] == result["dead"]
    assert result["arrived"] - result["dead"] <= 10


def test_default_run_is_deterministic_and_conserves_attempts() -> None:
    first = run_simpy_reference(duration=10.0, failure_rate=0.1)
    second = run_simpy_reference(duration=10.0, failure_rate=0.1)
    wall_keys = {"wall_seconds", "jobs_per_wall_second"}
    assert {k: v for k, v in first.items() if k not in wall_keys} == {
        k: v for k, v in second.items() if k not in wall_keys
    }
    assert first["attempts"] == first["completed"] + first["timeouts"] + first["failures"]
    assert first["timeouts"] > 0 and first["failures"] > 0
