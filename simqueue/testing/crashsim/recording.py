"""Recording a workload: every mutating file-system operation, replayable, and what the workload
was told after each of its calls.

A workload drives a fresh :class:`~simqueue.core.queue.DurableQueue` on a
:class:`RecordingFileSystem`, which writes down each operation with what it takes to replay it: a
write's offset and bytes, an fsync, a directory fsync, a rename's two names, a truncation's size, a
delete, a mkdir. After each call a :class:`Mark` notes the queue's ``durable_seq`` (acknowledged
under the fsync policy: must survive any crash) and ``written_seq`` (reached the OS: must survive
a process crash).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.storage import FileHandle
from simqueue.testing.crashsim.model import LogRec, State, decode_records
from simqueue.testing.faults import FaultyFileSystem


@dataclass(frozen=True, slots=True)
class Op:
    """One mutating file-system operation, replayable. Paths are relative to the scratch root."""

    kind: str  # mkdir create write fsync fsync_dir truncate rename remove
    path: str
    time: float  # the workload's clock when it happened (a crash here recovers at this time)
    path2: str = ""  # rename: the new name
    offset: int = 0  # write: where the bytes landed
    data: bytes = b""  # write: the bytes
    size: int = 0  # truncate: the new size

    def describe(self) -> str:
        if self.kind == "write":
            return f"write {len(self.data)} bytes at {self.offset} of {self.path}"
        if self.kind == "rename":
            return f"rename {self.path} -> {self.path2}"
        if self.kind == "truncate":
            return f"truncate {self.path} to {self.size}"
        return f"{self.kind} {self.path or '.'}"


@dataclass(frozen=True, slots=True)
class Mark:
    """What the workload had been told when ``at`` operations were done."""

    at: int
    step: str
    durable: int  # acknowledged under "always"/"batch": must survive any crash
    written: int  # reached the OS: must survive a process crash
    time: float


@dataclass
class Trace:
    """A recorded workload: the operations, the promises and the log they wrote."""

    workload: str
    params: dict[str, Any]  # DurableQueue.open keyword arguments, also used to recover
    ops: list[Op]
    marks: list[Mark]
    log: dict[int, LogRec] = field(default_factory=dict)
    initial_files: dict[str, bytes | None] = field(default_factory=dict)
    start_time: float = 0.0
    reference: State | None = None  # "recovery": what recovering the initial directory gives
    open_ends_at: int = 0  # operations done when the first open returned
    written_upto: list[int] = field(default_factory=list)  # highest seq written after k ops
    scale: int = 1  # the workload's rounds multiplier (error injection reruns it the same)

    def mark_at(self, k: int) -> Mark:
        """The last mark made when at most ``k`` operations were done."""
        best = self.marks[0]
        for m in self.marks:
            if m.at > k:
                break
            best = m
        return best

    def time_at(self, k: int) -> float:
        return self.ops[k - 1].time if k > 0 else self.start_time

    def op_counts(self) -> dict[str, int]:
        return dict(Counter(op.kind for op in self.ops))


def log_written(
    ops: list[Op], base: dict[int, LogRec], k0: int
) -> tuple[dict[int, LogRec], list[int]]:
    """The log the WAL writes among ``ops`` hold (on top of ``base``, which ends at ``k0``), and
    after each prefix of ``ops`` the highest seq written so far."""
    log = dict(base)
    upto = [k0]
    high = k0
    for op in ops:
        if op.kind == "write" and op.path.endswith(wal.SEGMENT_SUFFIX):
            for r in decode_records(op.data):
                log[r.seq] = r
                high = max(high, r.seq)
        upto.append(high)
    return log, upto


class RecordingFileSystem(FaultyFileSystem):
    """A :class:`~simqueue.testing.faults.FaultyFileSystem` (modeled fsync, power-loss tracking,
    faults on request) that also keeps :attr:`trace`: every operation that went ahead."""

    def __init__(self, root: str, clock: VirtualClock | None = None) -> None:
        super().__init__(real_fsync=False, track_power_loss=True)
        self.root = os.path.abspath(root)
        self.clock = clock
        self.trace: list[Op] = []

    def _rel(self, path: str) -> str:
        rel = os.path.relpath(os.path.abspath(path), self.root)
        return "" if rel == "." else rel

    def _add(self, kind: str, path: str, **kw: Any) -> None:
        now = self.clock.now() if self.clock is not None else 0.0
        self.trace.append(Op(kind, self._rel(path), now, **kw))

    def before(self, op: str, path: str) -> None:
        super().before(op, path)
        if op == "mkdir":  # makedirs calls os.mkdir itself, right after this hook
            self._add("mkdir", path)

    def create(self, path: str) -> FileHandle:
        handle = super().create(path)
        self._add("create", path)
        return handle

    def write(self, handle: FileHandle, data: bytes) -> None:
        start = handle.size
        try:
            super().write(handle, data)
        finally:  # a short write is recorded with the bytes that did land
            if handle.size > start:
                self._add(
                    "write", handle.path, offset=start, data=bytes(data[: handle.size - start])
                )

    def fsync(self, handle: FileHandle) -> None:
        super().fsync(handle)
        self._add("fsync", handle.path)

    def fsync_dir(self, path: str) -> None:
        super().fsync_dir(path)
        self._add("fsync_dir", path)

    def truncate_durably(self, path: str, size: int) -> None:
        super().truncate_durably(path, size)
        self._add("truncate", path, size=size)

    def rename(self, src: str, dst: str) -> None:
        super().rename(src, dst)
        self._add("rename", src, path2=self._rel(dst))

    def remove(self, path: str) -> None:
        super().remove(path)
        self._add("remove", path)
