"""Tests for simqueue.sim.theory: the M/M/c formulas the simulation is checked against."""

from __future__ import annotations

import math

import pytest

from simqueue.sim.theory import (
    erlang_c,
    min_servers_for,
    mmc_mean_response,
    mmc_mean_wait,
    mmc_throughput,
    mmc_utilisation,
)


def _erlang_c_textbook(lam: float, mu: float, c: int) -> float:
    """Direct factorial form of Erlang C, fine for small c; an independent cross-check."""
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_mean_wait_for_reference_config_is_about_13_3_ms() -> None:
    # lambda=200/s, mu=30/s, c=8 is the benchmark's reference configuration.
    assert mmc_mean_wait(200, 30, 8) == pytest.approx(0.0133, abs=0.0001)


def test_erlang_c_matches_textbook_factorial_formula() -> None:
    for lam, mu, c in [(200, 30, 8), (1, 1, 2), (9.5, 1, 10), (45, 2, 30)]:
        assert erlang_c(lam, mu, c) == pytest.approx(_erlang_c_textbook(lam, mu, c), rel=1e-12)


def test_erlang_c_with_one_server_equals_utilisation() -> None:
    for lam, mu in [(1, 4), (10, 30), (29.9, 30), (0.001, 1)]:
        assert erlang_c(lam, mu, 1) == pytest.approx(lam / mu, rel=1e-12)


def test_mm1_mean_wait_matches_closed_form() -> None:
    for lam, mu in [(1, 4), (10, 30), (25, 30), (0.5, 0.6)]:
        rho = lam / mu
        assert mmc_mean_wait(lam, mu, 1) == pytest.approx(rho / (mu - lam), rel=1e-12)


def test_mean_response_is_wait_plus_mean_service_time() -> None:
    assert mmc_mean_response(200, 30, 8) == pytest.approx(mmc_mean_wait(200, 30, 8) + 1 / 30)


def test_utilisation_and_throughput_of_stable_system() -> None:
    assert mmc_utilisation(200, 30, 8) == pytest.approx(200 / 240)
    assert mmc_throughput(200, 30, 8) == 200


def test_throughput_saturates_at_capacity_when_overloaded() -> None:
    assert mmc_utilisation(300, 30, 8) == pytest.approx(1.25)
    assert mmc_throughput(300, 30, 8) == 240


def test_mean_wait_decreases_monotonically_with_servers() -> None:
    waits = [mmc_mean_wait(200, 30, c) for c in range(7, 30)]
    assert all(later < earlier for earlier, later in zip(waits, waits[1:], strict=False))
    assert waits[-1] < 1e-9


def test_erlang_c_is_a_probability_and_stable_for_many_servers() -> None:
    # The factorial formula overflows here (a**c for c=2000); the recursion must not.
    p = erlang_c(1990, 1, 2000)
    assert 0 < p < 1
    assert math.isfinite(mmc_mean_wait(1990, 1, 2000))


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((0, 30, 8), "arrival_rate"),
        ((-1, 30, 8), "arrival_rate"),
        ((float("nan"), 30, 8), "arrival_rate"),
        ((200, 0, 8), "service_rate"),
        ((200, -30, 8), "service_rate"),
        ((200, float("inf"), 8), "service_rate"),
        ((200, 30, 0), "servers"),
        ((200, 30, -2), "servers"),
        ((200, 30, 2.5), "servers"),
        ((200, 30, True), "servers"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(args: tuple, name: str) -> None:
    for func in (erlang_c, mmc_mean_wait, mmc_mean_response, mmc_utilisation, mmc_throughput):
        with pytest.raises(ValueError, match=name):
            func(*args)


@pytest.mark.parametrize(("lam", "mu", "c"), [(240, 30, 8), (300, 30, 8), (30, 30, 1)])
def test_unstable_system_raises_value_error_about_utilisation(
    lam: float, mu: float, c: int
) -> None:
    for func in (erlang_c, mmc_mean_wait, mmc_mean_response):
        with pytest.raises(ValueError, match="utilisation >= 1"):
            func(lam, mu, c)


def test_min_servers_for_stability_only() -> None:
    assert min_servers_for(200, 30) == 7  # 200/30 = 6.67 Erlangs
    assert min_servers_for(60, 30) == 3  # exactly 2 Erlangs: c=2 would be rho=1
    assert min_servers_for(1, 100) == 1


def test_min_servers_for_wait_target() -> None:
    assert min_servers_for(200, 30, max_mean_wait=0.0134) == 8  # Wq(8) = 13.32 ms
    assert min_servers_for(200, 30, max_mean_wait=0.0133) == 9
    c = min_servers_for(200, 30, max_mean_wait=0.001)
    assert mmc_mean_wait(200, 30, c) <= 0.001 < mmc_mean_wait(200, 30, c - 1)
    # A loose target is met as soon as the system is stable.
    assert min_servers_for(200, 30, max_mean_wait=1000) == 7


@pytest.mark.parametrize("bad", [0, -0.5, float("nan")])
def test_min_servers_for_rejects_unreachable_wait_target(bad: float) -> None:
    with pytest.raises(ValueError, match="max_mean_wait"):
        min_servers_for(200, 30, max_mean_wait=bad)
