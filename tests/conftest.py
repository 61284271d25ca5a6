"""Shared fixtures for the durable-core tests.

One way to make a queue (``make_queue``), one way to crash it (``crash``), one way to look at it
(``observe``). Queues default to a :class:`VirtualClock`, ``fsync="always"`` and a
:class:`FileSystem` with modeled fsync (bytes really written, durability tracked so a simulated
power loss honours it): fast, and every crash kind works. Tests about real ``os.fsync`` pass
``durability="real"``.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simqueue import DurableQueue, SimQueueError, VirtualClock
from simqueue.core.storage import FileSystem

#: Crash kinds: a process crash (kill -9) or a power cut with each way of tearing the tail.
CRASH_KINDS = ("process", "power-drop", "power-prefix", "power-garble", "power-zero")


@dataclass(frozen=True)
class Observed:
    """Everything about a queue's durable state that recovery must reproduce."""

    jobs: dict[str, tuple[str, int]]  # id -> (state, attempt)
    pending: list[str]  # dispatch order
    in_flight: list[str]  # sorted
    counts: dict[str, int]


def observe(q: DurableQueue) -> Observed:
    return Observed(
        jobs={j.id: (j.state.value, j.attempt) for j in q.jobs_info()},
        pending=q.pending_ids(),
        in_flight=sorted(q.in_flight_ids()),
        counts=q.counts(),
    )


def crash(q: DurableQueue, kind: str = "process", seed: int = 0) -> None:
    """Crash ``q`` the way ``kind`` says. ``process``: ``q.abandon()`` (user-space buffer lost,
    what reached the OS survives). ``power-<tear>``: that, then a power cut that leaves only what
    was fsynced (the unsynced tail dropped, cut, garbled or zeroed)."""
    q.abandon()
    if kind != "process":
        tear = kind.removeprefix("power-")
        q.fs.power_loss(random.Random(seed), tear)


def copy_dir(src: Path, dst: Path) -> Path:
    """A fresh copy of a data directory (the LOCK file included: it is only a flock target)."""
    shutil.copytree(src, dst)
    return dst


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(100.0)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "q"


@pytest.fixture
def make_queue(data_dir: Path, clock: VirtualClock) -> Iterator[Callable[..., DurableQueue]]:
    """``make_queue(path=None, *, fs=None, clock=None, durability="modeled", **open_kwargs)``.

    Opens (or recovers) a queue; ``fs`` defaults to a fresh power-loss-tracking FileSystem whose
    fsync is modeled, or real with ``durability="real"``. Every queue still open at the end of
    the test is abandoned, so a failing test never leaves a lock behind."""
    opened: list[DurableQueue] = []

    def make(
        path: str | os.PathLike[str] | None = None,
        *,
        fs: FileSystem | None = None,
        clock_: VirtualClock | None = None,
        durability: str = "modeled",
        **kwargs: Any,
    ) -> DurableQueue:
        kwargs.setdefault("fsync", "always")
        if fs is None:
            fs = FileSystem(real_fsync=durability == "real", track_power_loss=True)
        q = DurableQueue.open(
            path if path is not None else data_dir,
            clock=clock_ or clock,
            durability=durability,
            fs=fs,
            **kwargs,
        )
        opened.append(q)
        return q

    yield make
    for q in opened:
        try:
            q.abandon()
        except SimQueueError:
            pass


@pytest.fixture(params=CRASH_KINDS)
def crash_kind(request: pytest.FixtureRequest) -> str:
    return request.param
