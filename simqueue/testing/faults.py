"""Fault injection for the storage layer: crash, fail or tear the disk at a chosen operation.

The fault model
===============

Every mutating thing the WAL and the snapshot code do to the disk goes through
:class:`simqueue.core.storage.FileSystem`, which calls ``before(op, path)`` first, with ``op`` one
of :data:`MUTATING_OPS`. :class:`FaultyFileSystem` counts those calls, records them, and can make
one of them go wrong in three ways:

* **Crash** (:meth:`FaultyFileSystem.crash_at`): :class:`~simqueue.core.errors.SimulatedCrash` is
  raised *before* the chosen operation, so it never happens and nothing after it does either.
  That is a process dying (or the power going) between two system calls. The test then abandons
  the queue (``q.abandon()``: user-space buffers lost, descriptors closed) and, to model a power
  cut rather than a ``kill -9``, calls :meth:`~simqueue.core.storage.FileSystem.power_loss`,
  which leaves the files as the disk would: unsynced tails dropped, cut, garbled or zeroed,
  directory changes never fsynced undone. That needs ``track_power_loss=True`` (or
  ``real_fsync=False``).
* **I/O error** (:meth:`FaultyFileSystem.fail_at`): ``OSError(errno)`` (``EIO`` by default,
  ``ENOSPC`` for a full disk) instead of the chosen operation. The engine must treat it as
  fail-stop: stop accepting work, never retry its way into a false success.
* **Short write** (:meth:`FaultyFileSystem.short_write_at`): only a prefix of the data reaches the
  file, then ``OSError`` (a disk that filled up mid-write) or a crash (the power went mid-write).

Counting is 0-based and starts when the fault is armed: ``crash_at(0)`` crashes before the very
next mutating operation, ``crash_at(3)`` lets three through and crashes before the fourth;
``fail_at("fsync", 1)`` lets one fsync through and fails the second. A fault fires once and is
then disarmed, unless ``persistent=True`` (a disk that stays broken).

:attr:`FaultyFileSystem.ops` lists every ``(op, path)`` that went ahead, in order. Running a
scenario once and measuring ``len(fs.ops)`` around a call gives the crash points to enumerate::

    fs = FaultyFileSystem(real_fsync=False)
    ...                                  # build the scenario
    before = len(fs.ops); q.snapshot(); n_ops = len(fs.ops) - before
    for n in range(n_ops):               # on a fresh copy of the scenario each time
        fs.crash_at(n)
        with pytest.raises(SimulatedCrash):
            q.snapshot()
        q.abandon(); fs.power_loss(random.Random(n), "drop")

Standard library only, like the rest of the engine.
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections import Counter
from dataclasses import dataclass

from simqueue.core.checks import choice, integer
from simqueue.core.errors import SimulatedCrash
from simqueue.core.storage import FileHandle, FileSystem

#: The operation kinds :meth:`FileSystem.before` is called with.
MUTATING_OPS = ("mkdir", "fsync_dir", "create", "write", "fsync", "truncate", "rename", "remove")


@dataclass
class _Fault:
    """One armed fault: fires when ``remaining`` matching operations have gone by."""

    action: str  # "crash", "fail" or "short"
    op: str | None  # None: any mutating operation
    remaining: int
    errno: int = errno_mod.EIO
    persistent: bool = False
    keep: int | None = None  # short write: bytes that reach the file (None: half)
    crash: bool = False  # short write: then crash instead of raising OSError

    def matches(self, op: str) -> bool:
        return self.op is None or self.op == op


class FaultyFileSystem(FileSystem):
    """A :class:`FileSystem` that records its mutating operations and fails on request."""

    def __init__(self, *, real_fsync: bool = True, track_power_loss: bool = False) -> None:
        super().__init__(real_fsync=real_fsync, track_power_loss=track_power_loss)
        self.ops: list[tuple[str, str]] = []
        self.counts: Counter[str] = Counter()
        self.fired: list[str] = []
        self._faults: list[_Fault] = []

    # -- arming -------------------------------------------------------------------------------
    def crash_at(self, n: int, op: str | None = None) -> None:
        """Raise :class:`SimulatedCrash` before the ``n``-th (0-based) next mutating operation,
        counting only operations of kind ``op`` if given."""
        self._arm(_Fault("crash", _check_op(op), _check_n(n)))

    def fail_at(
        self, op: str, n: int = 0, errno: int = errno_mod.EIO, *, persistent: bool = False
    ) -> None:
        """Raise ``OSError(errno)`` instead of the ``n``-th (0-based) next operation of kind
        ``op`` (and of every later one if ``persistent``)."""
        self._arm(_Fault("fail", _check_op(op), _check_n(n), errno, persistent))

    def short_write_at(
        self,
        n: int = 0,
        keep: int | None = None,
        errno: int = errno_mod.ENOSPC,
        *,
        crash: bool = False,
    ) -> None:
        """Let only ``keep`` bytes (default: half) of the ``n``-th (0-based) next write reach the
        file, then raise ``OSError(errno)``, or :class:`SimulatedCrash` if ``crash``."""
        if keep is not None:
            integer("keep", keep, lo=0)
        self._arm(_Fault("short", "write", _check_n(n), errno, keep=keep, crash=crash))

    def disarm(self) -> None:
        """Forget every armed fault (the disk is healthy again)."""
        self._faults.clear()

    @property
    def armed(self) -> bool:
        return bool(self._faults)

    def _arm(self, fault: _Fault) -> None:
        self._faults.append(fault)

    # -- the hook -------------------------------------------------------------------------------
    def before(self, op: str, path: str) -> None:
        fault = self._due(op, ("crash", "fail"))
        if fault is not None:
            self.fired.append(f"{fault.action} before {op} {path}")
            if fault.action == "crash":
                raise SimulatedCrash(f"simulated crash before {op} of {path}")
            raise OSError(fault.errno, os.strerror(fault.errno), path)
        self.ops.append((op, path))
        self.counts[op] += 1

    def write(self, handle: FileHandle, data: bytes) -> None:
        short = self._due("write", ("short",))
        if short is None:
            super().write(handle, data)
            return
        # The other faults still apply to this write, and it is recorded like any other.
        self.before("write", handle.path)
        keep = len(data) // 2 if short.keep is None else min(short.keep, len(data))
        view = memoryview(data)[:keep]
        while view:
            n = os.write(handle.fd, view)
            handle.size += n
            view = view[n:]
        self.stats.writes += 1
        self.stats.bytes_written += keep
        self.fired.append(f"short write {keep} of {len(data)} bytes to {handle.path}")
        if short.crash:
            raise SimulatedCrash(f"simulated crash after {keep} of {len(data)} bytes")
        raise OSError(short.errno, os.strerror(short.errno), handle.path)

    def _due(self, op: str, actions: tuple[str, ...]) -> _Fault | None:
        """Count ``op`` against every armed fault of these kinds; return the one that fires."""
        due = None
        for fault in list(self._faults):
            if fault.action not in actions or not fault.matches(op):
                continue
            if fault.remaining > 0:
                fault.remaining -= 1
                continue
            if due is None:
                due = fault
                if not fault.persistent:
                    self._faults.remove(fault)
        return due


def _check_op(op: str | None) -> str | None:
    return choice("op", op, (*MUTATING_OPS, None))


def _check_n(n: int) -> int:
    return integer("n", n, lo=0)


__all__ = ["FaultyFileSystem", "MUTATING_OPS"]
