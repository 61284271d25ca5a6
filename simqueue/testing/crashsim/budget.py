"""How hard the campaign looks: how many power-loss outcomes per crash point, which crash points,
which faults, and on how many local processes. The figures depend on everything here but
``workers`` (and on no executor: :mod:`simqueue.lab.parallel` gives results back in call order)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, TypeVar

from simqueue.lab.parallel import fan_out

R = TypeVar("R")


@dataclass(frozen=True)
class Budget:
    """:meth:`full` is ``make crashtest``; :meth:`quick` runs inside ``make test``."""

    every_byte_up_to: int = 1024  # an unsynced region this small is cut at every byte
    cuts: int = 96  # otherwise: this many cut points (record boundaries first, then inside)
    holes: int = 16  # reorder: sectors to lose per file (zeros and garbage each)
    dir_variants: int = 64  # per directory with pending operations
    stride: int = 1  # try every Nth crash point (the last one always)
    fault_every: int = 1  # error injection: every Nth write / fsync / ...
    scale: int = 3  # workloads run this many times as many rounds
    workers: int = 1

    @classmethod
    def full(cls, workers: int | None = None) -> Budget:
        return cls(workers=workers or os.cpu_count() or 1)

    @classmethod
    def quick(cls, workers: int = 1) -> Budget:
        return cls(
            every_byte_up_to=48,
            cuts=8,
            holes=3,
            dir_variants=6,
            stride=1,
            fault_every=2,
            scale=1,
            workers=workers,
        )

    def map_seeds(
        self,
        run: Callable[..., R],
        seeds: list[int],
        *args: Any,
        executor: Executor | None = None,
        progress: bool | None = None,
        desc: str = "seeds",
    ) -> Iterator[R]:
        """``run(seed, *args)`` for every seed, in seed order, on ``executor`` (default: a pool of
        ``workers`` processes, or this process when there is one): the figures never depend on
        where they ran."""
        calls = [(seed, *args) for seed in seeds]
        yield from fan_out(
            run, calls, executor=executor, workers=self.workers, progress=progress, desc=desc
        )
