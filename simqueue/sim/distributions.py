"""Service-time distributions and arrival processes, each drawing from an explicit
``random.Random`` stream so one seed reproduces a run and moving one slider changes one thing.

>>> import random
>>> Constant(0.25).sample(random.Random(0))
0.25
>>> parse_distribution("exponential(0.5)")
Exponential(mean=0.5)
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simqueue.core.checks import number


def _exponential_sampler(rng: random.Random, lambd: float) -> Callable[[], float]:
    rnd, log = rng.random, math.log
    return lambda: -log(1.0 - rnd()) / lambd


@dataclass(frozen=True, slots=True)
class Uniform:
    """Service time uniform on [lo, hi] seconds (the original plan's default: 0 to 0.5 s)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        number("Uniform.lo", self.lo)
        number("Uniform.hi", self.hi)
        if self.hi < self.lo:
            raise ValueError(f"Uniform.hi ({self.hi}) must be >= Uniform.lo ({self.lo})")

    def sample(self, rng: random.Random) -> float:
        return self.lo + (self.hi - self.lo) * rng.random()

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A no-argument function drawing what successive ``sample(rng)`` calls would."""
        lo, span, rnd = self.lo, self.hi - self.lo, rng.random
        return lambda: lo + span * rnd()

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2

    def to_spec(self) -> str:
        return f"uniform({self.lo}, {self.hi})"


@dataclass(frozen=True, slots=True)
class Exponential:
    """Memoryless service time with the given mean (M/M/c theory applies)."""

    mean: float

    def __post_init__(self) -> None:
        number("Exponential.mean", self.mean, positive=True)

    def sample(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.mean)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A no-argument function drawing what successive ``sample(rng)`` calls would (the
        same arithmetic as ``random.expovariate``, one call instead of three)."""
        return _exponential_sampler(rng, 1.0 / self.mean)

    def to_spec(self) -> str:
        return f"exponential({self.mean})"


@dataclass(frozen=True, slots=True)
class Constant:
    """Every attempt takes exactly ``value`` seconds."""

    value: float

    def __post_init__(self) -> None:
        number("Constant.value", self.value)

    def sample(self, rng: random.Random) -> float:
        return self.value

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        value = self.value
        return lambda: value

    @property
    def mean(self) -> float:
        return self.value

    def to_spec(self) -> str:
        return f"constant({self.value})"


@dataclass(frozen=True, slots=True)
class Poisson:
    """Arrivals at ``rate`` jobs per second, exponential gaps."""

    rate: float

    def __post_init__(self) -> None:
        number("Poisson.rate", self.rate, positive=True)

    def gap(self, rng: random.Random) -> float:
        return rng.expovariate(self.rate)

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A no-argument function drawing what successive ``gap(rng)`` calls would."""
        return _exponential_sampler(rng, self.rate)

    def to_spec(self) -> str:
        return f"poisson({self.rate})"


Distribution = Uniform | Exponential | Constant

_SPEC = re.compile(r"^\s*(\w+)\s*\(\s*([^)]*)\)\s*$")
_KINDS = {"uniform": Uniform, "exponential": Exponential, "constant": Constant, "poisson": Poisson}


def parse_distribution(spec: Any) -> Any:
    """Build a distribution from ``"uniform(0, 0.5)"``, ``"exponential(0.033)"``,
    ``"constant(0.1)"``, ``"poisson(200)"``, a number (constant), or a dict
    ``{"kind": "uniform", "lo": 0, "hi": 0.5}``. Used by config files and the CLI."""
    if isinstance(spec, Uniform | Exponential | Constant | Poisson):
        return spec
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return Constant(float(spec))
    if isinstance(spec, dict):
        args = dict(spec)
        kind = str(args.pop("kind", "")).lower()
        if kind not in _KINDS:
            raise ValueError(f"unknown distribution kind {kind!r}; use one of {', '.join(_KINDS)}")
        return _KINDS[kind](**args)
    if isinstance(spec, str):
        m = _SPEC.match(spec)
        if m and m.group(1).lower() in _KINDS:
            try:
                values = [float(a) for a in m.group(2).split(",") if a.strip()]
                return _KINDS[m.group(1).lower()](*values)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"bad distribution {spec!r}: {exc}") from None
    raise ValueError(
        f"cannot read distribution {spec!r}; write e.g. 'uniform(0, 0.5)', 'exponential(0.033)', "
        "'constant(0.1)' or 'poisson(200)'"
    )
