"""The simulated world's randomness: fast samplers draw exactly what ``sample`` draws, and a
retry's outcome depends only on (seed, job, attempt)."""

from __future__ import annotations

import random
import statistics

import pytest

from simqueue import Config, Constant, Exponential, Poisson, Uniform
from simqueue.sim.workers import KeyedDraws, WorkModel


@pytest.mark.parametrize("dist", [Uniform(0.1, 0.7), Exponential(0.25), Constant(0.5)])
def test_a_sampler_draws_exactly_what_sample_draws(dist) -> None:
    a, b = random.Random(42), random.Random(42)
    draw = dist.sampler(b)
    assert [dist.sample(a) for _ in range(2000)] == [draw() for _ in range(2000)]


def test_a_poisson_sampler_draws_exactly_what_gap_draws() -> None:
    a, b = random.Random(7), random.Random(7)
    draw = Poisson(200.0).sampler(b)
    assert [Poisson(200.0).gap(a) for _ in range(2000)] == [draw() for _ in range(2000)]


def test_keyed_draws_depend_only_on_the_key() -> None:
    first = KeyedDraws("0:attempt:job-1:2")
    again = KeyedDraws("0:attempt:job-1:2")
    other = KeyedDraws("0:attempt:job-1:3")
    xs = [first.random() for _ in range(10)]  # past the first block of four
    assert xs == [again.random() for _ in range(10)]
    assert xs != [other.random() for _ in range(10)]
    assert all(0.0 <= x < 1.0 for x in xs)


def test_keyed_draws_look_uniform_and_exponential() -> None:
    us = [KeyedDraws(f"k{i}").random() for i in range(20000)]
    assert statistics.fmean(us) == pytest.approx(0.5, abs=0.01)
    assert statistics.pvariance(us) == pytest.approx(1 / 12, abs=0.005)
    es = [KeyedDraws(f"e{i}").expovariate(4.0) for i in range(20000)]
    assert statistics.fmean(es) == pytest.approx(0.25, rel=0.03)


def test_a_retry_outcome_does_not_depend_on_what_was_drawn_before() -> None:
    config = Config(seed=3, service_time=Exponential(0.2), failure_rate=0.3, hang_rate=0.1)
    busy, fresh = WorkModel(config), WorkModel(config)
    for i in range(50):  # first attempts and other retries drawn in between
        busy.draw_first(f"job-{i}")
        busy.outcome(f"job-{i}", 2)
    assert busy.outcome("job-7", 3) == fresh.outcome("job-7", 3)
    assert busy.outcome("job-7", 3) != fresh.outcome("job-8", 3)
