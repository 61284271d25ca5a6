"""The shared argument checks: each refuses with a one-line message naming the field."""

from __future__ import annotations

import math

import pytest

from simqueue.core import checks


@pytest.mark.parametrize("bad", [True, 1.0, "3", None])
def test_integer_refuses_what_is_not_an_int(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^workers must be an integer; got "):
        checks.integer("workers", bad, lo=1)


def test_integer_names_both_bounds_when_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"port must be between 0 and 65535; got 70000"):
        checks.integer("port", 70000, lo=0, hi=65535)
    with pytest.raises(ValueError, match=r"seed must be >= 0; got -1"):
        checks.integer("seed", -1, lo=0)
    assert checks.integer("seed", 5, lo=0) == 5


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1", False, 10**400])
def test_number_refuses_non_finite_and_non_numbers(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^latency must be a finite number; got "):
        checks.number("latency", bad)


def test_number_sign_rules() -> None:
    with pytest.raises(ValueError, match=r"must be non-negative; got -0.5"):
        checks.number("backoff", -0.5)
    with pytest.raises(ValueError, match=r"must be positive; got 0"):
        checks.number("timeout", 0, positive=True)
    assert checks.number("backoff", 0) == 0.0 and isinstance(checks.number("x", 2), float)


def test_probability_is_between_zero_and_one() -> None:
    with pytest.raises(ValueError, match=r"failure_rate must be between 0 and 1; got 1.5"):
        checks.probability("failure_rate", 1.5)
    assert checks.probability("failure_rate", 1) == 1.0


def test_choice_lists_the_options_in_order() -> None:
    with pytest.raises(ValueError, match=r"^fsync must be one of always, batch, never; got 'x'$"):
        checks.choice("fsync", "x", ("always", "batch", "never"))
    assert checks.choice("fsync", "never", ("always", "batch", "never")) == "never"


def test_an_empty_name_leaves_the_prefix_to_the_caller() -> None:
    with pytest.raises(ValueError, match=r"^must be an integer; got 'a'$"):
        checks.integer("", "a")
