"""The one set of argument checks every layer uses, so a bad value gets the same one-line
message wherever it enters: ``ValueError("workers must be an integer; got 'x'")``.

Each check returns the value (normalised: ``number`` returns a float) or raises ``ValueError``
naming the field. ``name`` may be ``""`` where the caller prefixes its own context (the settings
loader says which file and key). Booleans are refused where a number is expected: ``True == 1``
in Python, but a flag passed as a count is always a mistake.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def _subject(name: str) -> str:
    return f"{name} must" if name else "must"


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is finite; an int too large for a float is not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def integer(name: str, value: Any, *, lo: int | None = None, hi: int | None = None) -> int:
    """An ``int`` (not a bool) within ``[lo, hi]`` (either bound may be open)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{_subject(name)} be an integer; got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            bound = f">= {lo}"
        elif lo is None:
            bound = f"<= {hi}"
        else:
            bound = f"between {lo} and {hi}"
        raise ValueError(f"{_subject(name)} be {bound}; got {value!r}")
    return int(value)


def number(name: str, value: Any, *, positive: bool = False) -> float:
    """A finite number that is non-negative, or positive with ``positive=True``."""
    if not is_finite_number(value):
        raise ValueError(f"{_subject(name)} be a finite number; got {value!r}")
    if value < 0 or (positive and value == 0):
        sign = "positive" if positive else "non-negative"
        raise ValueError(f"{_subject(name)} be {sign}; got {value!r}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """A number between 0 and 1 inclusive."""
    p = number(name, value)
    if p > 1:
        raise ValueError(f"{_subject(name)} be between 0 and 1; got {value!r}")
    return p


def choice(name: str, value: T, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared with ``==``; the message lists them in order)."""
    options = list(choices)
    if value not in options:
        listed = ", ".join(str(c) for c in options)
        raise ValueError(f"{_subject(name)} be one of {listed}; got {value!r}")
    return value


__all__ = ["choice", "integer", "is_finite_number", "number", "probability"]
