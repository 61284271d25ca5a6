"""The modeled disk's queue: every fsync the queue made, charged its latency in virtual time.

The file system counts fsyncs (:class:`~simqueue.core.storage.IOStats`); after each event the
controller asks :meth:`DiskWait.charge` when the new ones are done. Fsyncs run one after another
on the disk, each taking a latency drawn from the disk profile (:mod:`simqueue.sim.disk`) on the
simulation's own seeded stream: a file's ``fdatasync`` (and a durable truncate) from the
profile's ``fdatasync``, a directory's from its ``fsync``. The disk outlives a crash of the queue.

Under ``fsync="always"`` the controller itself waits for its fsyncs; the events that reach it
meanwhile are :class:`Held` and handled in the order they came.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from simqueue.core.storage import IOStats
from simqueue.sim.disk import DiskProfile


class DiskWait:
    """When the fsyncs issued so far are done."""

    __slots__ = ("disk", "rng", "charges", "free_at", "files", "dirs")

    def __init__(self, disk: DiskProfile, rng: random.Random) -> None:
        self.disk = disk
        self.rng = rng
        #: False for a disk whose fsyncs take no time: then nothing waits for it.
        self.charges = disk.fdatasync.quantile(1.0) > 0 or disk.fsync.quantile(1.0) > 0
        self.free_at = 0.0
        #: The file and directory fsyncs charged so far (the file system's counts).
        self.files = 0
        self.dirs = 0

    def seen(self, stats: IOStats) -> None:
        """Count the fsyncs so far as charged (a recovery charges its own)."""
        self.files = stats.fsyncs
        self.dirs = stats.dir_fsyncs

    def charge(self, stats: IOStats, start: float) -> float:
        """Queue the fsyncs made since the last call behind those already queued, none
        starting before ``start``; returns when the last is done."""
        files = stats.fsyncs - self.files
        dirs = stats.dir_fsyncs - self.dirs
        self.files = stats.fsyncs
        self.dirs = stats.dir_fsyncs
        disk, rnd = self.disk, self.rng.random
        t = self.free_at if self.free_at > start else start
        if files:
            quantile = disk.fdatasync.quantile
            for _ in range(files):
                t += quantile(rnd())
        if dirs:
            quantile = disk.fsync.quantile
            for _ in range(dirs):
                t += quantile(rnd())
        self.free_at = t
        return t


class Held:
    """Events that reached a controller busy with its own fsync, in the order they came."""

    __slots__ = ("events", "draining", "armed")

    def __init__(self) -> None:
        self.events: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self.draining = False  # the held events are being handled: they run, not wait again
        self.armed = False  # a handler of the held events is scheduled

    def holds(self, now: float, busy_until: float) -> bool:
        """Whether an event arriving ``now`` must wait: the controller is busy, or events that
        came before it still wait."""
        return now < busy_until or (bool(self.events) and not self.draining)

    def run(self, free: Callable[[], bool]) -> None:
        """Handle held events, oldest first, for as long as ``free()`` says the controller is."""
        self.armed = False
        self.draining = True
        try:
            while self.events and free():
                action, args = self.events.popleft()
                action(*args)
        finally:
            self.draining = False


__all__ = ["DiskWait", "Held"]
