"""The crash-consistency campaign: every crash point of real workloads, every way a power cut may
leave the bytes that were not yet fsynced, recovered and checked against DESIGN.md's invariants.

``python -m simqueue.testing.crashsim`` (``make crashtest``) runs it all and prints a table;
``tests/test_crash_campaign.py`` runs a bounded version inside ``make test``.

How it works
============

1. **Record.** A workload (:data:`WORKLOADS`) drives a fresh :class:`~simqueue.DurableQueue` on a
   :class:`RecordingFileSystem`, which writes down every mutating operation with what it takes to
   replay it: a write's offset and bytes, an fsync, a directory fsync, a rename's two names, a
   truncation's size, a delete, a mkdir. After each call the workload makes, a :class:`Mark`
   notes what it was told: the queue's ``durable_seq`` and ``written_seq``. *Acknowledged* means
   what the workload saw durable under the fsync policy (``durable_seq``); everything that
   reached the OS (``written_seq``) must also survive a process crash.
2. **Replay.** A :class:`Disk` model replays the operations one at a time. After ``k`` of them it
   knows, per file, the bytes written and how many of them an fsync made durable, and per
   directory, the entries the last directory fsync made durable and the creates, renames and
   deletes since then.
3. **Power loss.** At every crash point ``k`` (before the first operation, after each one),
   :func:`outcomes` lists the disk states a power cut at that moment may leave (the fault model
   below). A state met before (same bytes, same promises) is not tried twice.
4. **Recover and check.** Each state is written into a scratch directory and opened, which is
   recovery. :func:`check_recovery` compares the result with an independent model of the log
   (:func:`model_state`) and with the promises made; then the power is cut once more (whatever
   recovery did not fsync is dropped) and the directory is opened again: the second recovery
   must give the same state and have nothing left to decide.

The fault model (outcome families)
==================================

``drop``
    Every unsynced byte and every directory change since the last directory fsync is lost.
``process``
    Everything written survives (a ``kill -9``; also a power cut that happened to flush it all).
    Here every record that reached the OS is promised, not only the fsynced ones.
``prefix`` / ``torn``
    One file keeps its unsynced bytes up to a cut point: at a record or write boundary
    (``prefix``) or inside a record (``torn``). Small unsynced regions are cut at every byte,
    larger ones at every record boundary plus sampled points inside records.
``garble`` / ``zero``
    The file grew, but the new bytes are garbage or zeros (the size reached the disk, the data
    did not).
``reorder``
    The disk persisted a later unsynced 512-byte sector and lost an earlier one: a hole of zeros
    or garbage with valid records after it. Recovery refuses such a segment by default
    (:class:`~simqueue.CorruptWALError`); the campaign counts it as *needs salvage* and checks
    that ``DurableQueue.open(..., salvage=True)`` then loses nothing acknowledged.
``dir-prefix`` / ``dir-reorder``
    Directory operations not yet made durable by a directory fsync survive as a prefix of their
    order, or independently of each other (one dropped, the others kept; or only one kept), with
    file data either all kept or all dropped.

The checks (each violation names the crash point, the operation before it and the outcome):
no acknowledged record lost (``recovered seq >= acknowledged seq``; every acknowledged ENQUEUE
present), no COMPLETED without an ACK in the recovered log, no durably ACKed job left to run
again, attempts never below a durable DISPATCH, DEAD final, FIFO order by readiness, the state
equal to the recovered prefix of the log with in-flight attempts ended as interrupted, sequence
numbers contiguous on disk and never reused for different records, and the same state after a
second recovery (for the ``recovery`` workload, a recovery that crashed and ran again must end
exactly where an uninterrupted one does).

Error injection (:func:`fault_campaign`) reruns each workload with ``EIO`` or ``ENOSPC`` instead
of its Nth write, Nth fsync (and Nth create, rename, delete, directory fsync, truncate, mkdir),
or a short write of its Nth write: the first failure must surface as
:class:`~simqueue.StorageError` naming the OS error, every later call must raise
:class:`~simqueue.QueueStoppedError`, and reopening (after a process crash, and after a power
cut) must recover consistently without losing what was acknowledged before the failure.

Standard library only, like the engine.
"""

from __future__ import annotations

import argparse
import bisect
import errno as errno_mod
import hashlib
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.errors import CorruptWALError, QueueStoppedError, StorageError
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue
from simqueue.core.storage import FileHandle, FileSystem
from simqueue.testing.faults import MUTATING_OPS, FaultyFileSystem

#: The unit a disk may persist out of order (a sector; see the ``reorder`` family).
SECTOR = 512
DATA_DIR = "q"  # the queue's directory inside each scratch root
CHUNKS = 24  # crash points are split into this many runs (one per worker task)

FAMILIES = (
    "drop",
    "process",
    "prefix",
    "torn",
    "garble",
    "zero",
    "reorder",
    "dir-prefix",
    "dir-reorder",
)


# ---------------------------------------------------------------------------------- the trace
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


@dataclass(frozen=True, slots=True)
class LogRec:
    """A WAL record as the workload wrote it (decoded from the trace, independently of wal.py)."""

    seq: int
    type: int
    job_id: str
    time: float
    attempt: int
    extra: float
    reason: int


@dataclass
class Trace:
    """A recorded workload: the operations, the promises and the log they wrote."""

    workload: str
    params: dict[str, Any]  # DurableQueue.open keyword arguments, also used to recover
    ops: list[Op]
    marks: list[Mark]
    log: dict[int, LogRec]
    initial_files: dict[str, bytes | None] = field(default_factory=dict)
    start_time: float = 0.0
    reference: State | None = None  # "recovery": what recovering the initial directory gives
    open_ends_at: int = 0  # operations done when the first open returned
    written_upto: list[int] = field(default_factory=list)  # highest seq written after k ops
    scale: int = 1  # the workload's rounds multiplier (error injection reruns it the same)

    def mark_at(self, k: int) -> Mark:
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


def decode_records(data: bytes) -> list[LogRec]:
    """The whole records in one write (the writer hands whole records to the OS). Decoded from
    the format in :mod:`simqueue.core.wal`'s docstring, not with its reader, so a reader bug cannot
    hide from the checks."""
    out: list[LogRec] = []
    if data.startswith(wal.MAGIC):
        return out  # a segment header, written on its own
    off, n = 0, len(data)
    while off + 44 <= n:
        crc, size = struct.unpack_from("<II", data, off)
        end = off + 8 + size
        if size < 36 or end > n or zlib.crc32(data[off + 4 : end]) != crc:
            break
        rtype, seq, t, attempt, _w, extra, reason, id_len = struct.unpack_from(
            "<BQdIidBH", data, off + 8
        )
        job_id = data[off + 44 : off + 44 + id_len].decode()
        out.append(LogRec(seq, rtype, job_id, t, attempt, extra, reason))
        off = end
    return out


class RecordingFileSystem(FaultyFileSystem):
    """A :class:`~simqueue.testing.faults.FaultyFileSystem` (modeled fsync, power-loss tracking,
    faults
    on request) that also keeps :attr:`trace`: every operation that went ahead, replayable."""

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


# ------------------------------------------------------------------------------ the disk model
_DIR = -1


class Disk:
    """What the disk holds after a prefix of a trace, and what a power cut could take away.

    Files are inodes: ``data`` (everything written) of which the first ``synced`` bytes are
    durable (the engine only appends; a truncation is always fsynced), plus the unsynced writes
    as ``(start, end)`` spans. Directories map names to inodes; ``dur`` holds the entries as of
    the last directory fsync, ``pending`` the operations since."""

    def __init__(self, initial: dict[str, bytes | None]) -> None:
        self.data: list[bytearray] = []
        self.synced: list[int] = []
        self.spans: list[list[tuple[int, int]]] = []
        self.cur: dict[str, dict[str, int]] = {"": {}}
        self.dur: dict[str, dict[str, int]] = {"": {}}
        self.pending: dict[str, list[tuple]] = {"": []}
        for path in sorted(initial, key=lambda p: (p.count(os.sep), p)):
            parent, name = os.path.split(path)
            content = initial[path]
            if content is None:
                target = _DIR
                self.cur[path], self.dur[path], self.pending[path] = {}, {}, []
            else:
                target = self._new(bytes(content))
                self.synced[target] = len(content)
            self.cur[parent][name] = target
            self.dur[parent][name] = target

    def _new(self, content: bytes = b"") -> int:
        self.data.append(bytearray(content))
        self.synced.append(0)
        self.spans.append([])
        return len(self.data) - 1

    def _ino(self, path: str) -> int:
        parent, name = os.path.split(path)
        return self.cur[parent][name]

    def apply(self, op: Op) -> None:
        kind = op.kind
        parent, name = os.path.split(op.path)
        if kind == "write":
            ino = self._ino(op.path)
            buf = self.data[ino]
            if op.offset != len(buf):
                raise ValueError(f"the model knows appends only: {op.describe()}")
            buf += op.data
            self.spans[ino].append((op.offset, len(buf)))
        elif kind == "fsync":
            ino = self._ino(op.path)
            self.synced[ino] = len(self.data[ino])
            self.spans[ino] = []
        elif kind == "truncate":  # truncate_durably: cut and fsync
            ino = self._ino(op.path)
            del self.data[ino][op.size :]
            self.synced[ino] = op.size
            self.spans[ino] = []
        elif kind == "fsync_dir":
            self.dur[op.path] = dict(self.cur[op.path])
            self.pending[op.path] = []
        elif kind == "create":
            ino = self._new()
            self.cur[parent][name] = ino
            self.pending[parent].append(("create", name, ino))
        elif kind == "mkdir":
            self.cur[parent][name] = _DIR
            self.pending[parent].append(("mkdir", name, _DIR))
            self.cur[op.path], self.dur[op.path], self.pending[op.path] = {}, {}, []
        elif kind == "rename":
            parent2, name2 = os.path.split(op.path2)
            if parent2 != parent:
                raise ValueError(f"the model knows renames within a directory only: {op}")
            ino = self.cur[parent].pop(name)
            self.cur[parent][name2] = ino
            self.pending[parent].append(("rename", name, name2, ino))
        elif kind == "remove":
            ino = self.cur[parent].pop(name)
            self.pending[parent].append(("remove", name, ino))
        else:
            raise ValueError(f"unknown operation {kind!r}")

    # -- what a power cut may leave ----------------------------------------------------------
    def unsynced_files(self) -> list[tuple[int, str]]:
        """(inode, current path) of every reachable file with unsynced bytes."""
        out = []
        for d, entries in self.cur.items():
            for name, ino in entries.items():
                if ino != _DIR and len(self.data[ino]) > self.synced[ino]:
                    out.append((ino, os.path.join(d, name)))
        return sorted(out, key=lambda x: x[1])

    def pending_dirs(self) -> list[str]:
        return sorted(d for d, ops in self.pending.items() if ops)

    def materialize(
        self,
        dirs_all: bool,
        files_all: bool,
        dir_ops: dict[str, list[tuple]] | None = None,
        contents: dict[int, bytes] | None = None,
    ) -> dict[str, bytes | None]:
        """The files (path -> bytes) and directories (path -> None) after a power cut in which
        pending directory operations survive if ``dirs_all`` (or as ``dir_ops`` says for some
        directories) and unsynced bytes survive if ``files_all`` (or as ``contents`` says)."""
        entries: dict[str, dict[str, int]] = {}
        for d, durable in self.dur.items():
            chosen = dir_ops.get(d) if dir_ops and d in dir_ops else None
            if chosen is None:
                chosen = self.pending[d] if dirs_all else []
            entries[d] = _apply_dir_ops(durable, chosen) if chosen else durable
        out: dict[str, bytes | None] = {}
        stack = [""]
        while stack:
            d = stack.pop()
            for name, target in entries.get(d, {}).items():
                path = os.path.join(d, name)
                if target == _DIR:
                    out[path] = None
                    stack.append(path)
                elif contents and target in contents:
                    out[path] = contents[target]
                elif files_all:
                    out[path] = bytes(self.data[target])
                else:
                    out[path] = bytes(self.data[target][: self.synced[target]])
        return out


def _apply_dir_ops(durable: dict[str, int], ops: Iterable[tuple]) -> dict[str, int]:
    entries = dict(durable)
    for op in ops:
        kind = op[0]
        if kind in ("create", "mkdir"):
            entries[op[1]] = op[2]
        elif kind == "rename":  # the new entry names the inode whether or not its create landed
            _, src, dst, ino = op
            if entries.get(src) == ino:
                del entries[src]
            entries[dst] = ino
        elif kind == "remove" and entries.get(op[1]) == op[2]:
            del entries[op[1]]
    return entries


def state_digest(files: dict[str, bytes | None]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(files):
        content = files[path]
        h.update(path.encode() + (b"/D" if content is None else b"/F%d:" % len(content)))
        if content:
            h.update(content)
    return h.digest()


def write_state(root: str, files: dict[str, bytes | None]) -> None:
    """Lay a materialized state out under ``root`` (emptied first)."""
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    for path in sorted(files, key=lambda p: (p.count(os.sep), p)):
        full = os.path.join(root, path)
        content = files[path]
        if content is None:
            os.makedirs(full, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(content)


def read_state(root: str) -> dict[str, bytes | None]:
    """The inverse of :func:`write_state` (the LOCK file is left out: it is only a flock)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for name in filenames:
            if name == "LOCK":
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.normpath(os.path.join(rel, name))] = f.read()
    return out


# -------------------------------------------------------------------------------- the outcomes
@dataclass(frozen=True)
class Budget:
    """How hard to look. :meth:`full` is ``make crashtest``; :meth:`quick` runs in ``make test``."""

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


@dataclass(frozen=True)
class Outcome:
    family: str
    label: str
    files: dict[str, bytes | None]


def _record_spans(buf: bytearray | bytes) -> list[tuple[int, int]]:
    """(start, end) of the records in a WAL segment's bytes (by their size fields)."""
    spans: list[tuple[int, int]] = []
    if bytes(buf[: len(wal.MAGIC)]) != wal.MAGIC:
        return spans
    off = wal.HEADER_SIZE
    while off + 8 <= len(buf):
        (size,) = struct.unpack_from("<I", buf, off + 4)
        end = off + 8 + size
        if size < 36 or end > len(buf):
            break
        spans.append((off, end))
        off = end
    return spans


def _spread(items: list[Any], n: int) -> list[Any]:
    """At most ``n`` items, evenly spread, first and last included."""
    if len(items) <= n:
        return list(items)
    if n <= 1:
        return items[-1:]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def outcomes(disk: Disk, k: int, budget: Budget) -> Iterator[Outcome]:
    """Every disk state (by family) a power cut after ``k`` operations may leave."""
    yield Outcome(
        "drop", "unsynced bytes and directory changes lost", disk.materialize(False, False)
    )
    yield Outcome("process", "everything written kept", disk.materialize(True, True))
    for ino, path in disk.unsynced_files():
        buf = disk.data[ino]
        ds, cs = disk.synced[ino], len(buf)
        rng = random.Random(f"{k}/{path}")
        head = bytes(buf[:ds])
        records = [(s, e) for s, e in _record_spans(buf) if e > ds and s < cs]
        bounds = {e for _, e in disk.spans[ino]} | {e for _, e in records}
        bounds = {b for b in bounds if ds < b < cs}
        if cs - ds <= budget.every_byte_up_to:
            cuts = list(range(ds + 1, cs))
        else:
            inside: set[int] = set()
            for s, e in records:
                inside |= {s + 1, s + 8, s + 20, (s + e) // 2, e - 1}
            inside = {c for c in inside if ds < c < cs} - bounds
            cuts = _spread(sorted(bounds), max(1, budget.cuts // 2))
            cuts += _spread(sorted(inside), budget.cuts - len(cuts))
            if not records:  # not a WAL segment: sample the region
                cuts += sorted(rng.sample(range(ds + 1, cs), min(budget.cuts, cs - ds - 1)))
        for c in sorted(set(cuts)):
            yield Outcome(
                "prefix" if c in bounds else "torn",
                f"{path}: kept {c - ds} of {cs - ds} unsynced bytes",
                disk.materialize(True, False, contents={ino: bytes(buf[:c])}),
            )
        ends = sorted({cs, ds + (cs - ds + 1) // 2} | set(_spread(sorted(bounds), 2)))
        for c in ends:
            n = c - ds
            yield Outcome(
                "garble",
                f"{path}: {n} unsynced bytes came back as garbage",
                disk.materialize(True, False, contents={ino: head + rng.randbytes(n)}),
            )
            yield Outcome(
                "zero",
                f"{path}: {n} unsynced bytes came back as zeros",
                disk.materialize(True, False, contents={ino: head + bytes(n)}),
            )
        # Sectors of the unsynced region; losing one while a later one survives leaves a hole.
        edges = [ds] + list(range((ds // SECTOR + 1) * SECTOR, cs, SECTOR)) + [cs]
        sectors = list(zip(edges, edges[1:], strict=False))
        for i in _spread(list(range(len(sectors) - 1)), budget.holes):
            a, b = sectors[i]
            tail = bytes(buf[b:cs])
            for fill in ("zeros", "garbage"):
                hole = bytes(b - a) if fill == "zeros" else rng.randbytes(b - a)
                yield Outcome(
                    "reorder",
                    f"{path}: unsynced bytes {a}..{b} lost ({fill}), later ones kept",
                    disk.materialize(True, False, contents={ino: bytes(buf[:a]) + hole + tail}),
                )
            yield Outcome(
                "reorder",
                f"{path}: unsynced bytes {ds}..{b} lost (zeros), later ones kept",
                disk.materialize(True, False, contents={ino: head + bytes(b - ds) + tail}),
            )
    for d in disk.pending_dirs():
        ops = disk.pending[d]
        n = len(ops)
        variants: list[tuple[str, str, list[tuple]]] = []
        for j in range(1, n):
            variants.append(("dir-prefix", f"first {j} of {n} changes in {d or '.'}", ops[:j]))
        if n >= 2:
            for i in range(n):
                kept = ops[:i] + ops[i + 1 :]
                variants.append(("dir-reorder", f"{d or '.'}: all but {_op_name(ops[i])}", kept))
                variants.append(("dir-reorder", f"{d or '.'}: only {_op_name(ops[i])}", [ops[i]]))
        for family, label, chosen in _spread(variants, budget.dir_variants):
            for data in (True, False):
                yield Outcome(
                    family,
                    f"{label}; file data {'kept' if data else 'dropped'}",
                    disk.materialize(data, data, dir_ops={d: chosen}),
                )


def _op_name(op: tuple) -> str:
    return f"{op[0]} {op[1]}" + (f"->{op[2]}" if op[0] == "rename" else "")


# ----------------------------------------------------------------------------- model and checks
State = tuple[tuple[tuple[str, str, int, str], ...], tuple[str, ...]]


def observe(q: DurableQueue) -> State:
    """Jobs as (id, state, attempt, reason), and the pending ids in dispatch order."""
    jobs = tuple(sorted((i.id, i.state.value, i.attempt, i.reason or "") for i in q.jobs_info()))
    return jobs, tuple(q.pending_ids())


def model_state(
    log: dict[int, LogRec], upto: int, now: float, max_retry: int, backoff: float
) -> tuple[State, int]:
    """What recovering a log that ends at ``upto`` must give: the records applied in order,
    then each attempt still in flight ended as interrupted (retry or DEAD) at ``now``, in order
    of deadline. Written from DESIGN.md, not from the store. Returns (state, interruptions)."""
    jobs: dict[str, list[Any]] = {}  # id -> [state, attempt, ready_at, ready_seq, reason, deadline]
    for seq in range(1, upto + 1):
        r = log.get(seq)
        if r is None:
            raise KeyError(
                f"the recovered log runs through seq {upto}, but seq {seq} was never written"
            )
        if r.type == wal.ENQUEUE:
            if r.job_id in jobs:
                raise KeyError(f"seq {seq} enqueues {r.job_id} twice")
            jobs[r.job_id] = ["pending", 0, r.time, seq, "", 0.0]
            continue
        j = jobs.get(r.job_id)
        if j is None:
            raise KeyError(f"seq {seq} is about {r.job_id}, never enqueued")
        if r.type == wal.DISPATCH:
            j[0], j[1], j[5] = "in_flight", r.attempt, r.extra
        elif r.type == wal.ACK:
            j[0] = "completed"
        elif r.type == wal.RETRY:
            j[0], j[2], j[3], j[4] = "pending", r.extra, seq, wal.REASON_NAMES.get(r.reason, "")
        elif r.type == wal.DEAD:
            j[0], j[4] = "dead", wal.REASON_NAMES.get(r.reason, "")
    seq = upto
    in_flight = sorted((j[5], i) for i, j in jobs.items() if j[0] == "in_flight")
    for _, job_id in in_flight:
        seq += 1
        j = jobs[job_id]
        if j[1] >= max_retry + 1:
            j[0], j[4] = "dead", "interrupted"
        else:
            j[0], j[2], j[3], j[4] = "pending", now + backoff * 2 ** (j[1] - 1), seq, "interrupted"
    state = tuple(sorted((i, j[0], j[1], j[4]) for i, j in jobs.items()))
    pending = tuple(
        i for _, _, i in sorted((j[2], j[3], i) for i, j in jobs.items() if j[0] == "pending")
    )
    return (state, pending), len(in_flight)


@dataclass
class Expect:
    """What one recovery is held to."""

    log: dict[int, LogRec]
    acked: int  # every record with seq <= this was promised
    written_max: int  # no record beyond this had been written
    now: float
    max_retry: int
    backoff: float
    reference: State | None = None


def check_recovery(q: DurableQueue, exp: Expect) -> tuple[list[str], State]:
    """Every invariant of DESIGN.md that a freshly recovered ``q`` must meet, as sentences."""
    out: list[str] = []
    k = q.recovery.next_seq - 1 if q.recovery is not None else 0
    if k < exp.acked:
        out.append(
            f"acknowledged records lost: recovered through seq {k}, seq {exp.acked} was promised"
        )
    if k > exp.written_max:
        out.append(
            f"recovered through seq {k}, but only {exp.written_max} records were ever written"
        )
    got = observe(q)
    jobs = {j[0]: j for j in got[0]}
    for seq in range(1, exp.acked + 1):
        r = exp.log.get(seq)
        if r is None:
            continue
        j = jobs.get(r.job_id)
        if j is None:
            if r.type == wal.ENQUEUE:
                out.append(f"acknowledged job {r.job_id} (ENQUEUE seq {seq}) is missing")
        elif r.type == wal.ACK and j[1] != "completed":
            out.append(
                f"job {r.job_id} had a durable ACK (seq {seq}) but is {j[1]}: it would run again"
            )
        elif r.type == wal.DEAD and j[1] != "dead":
            out.append(
                f"job {r.job_id} was durably DEAD (seq {seq}) but is {j[1]}: DEAD must be final"
            )
        elif r.type == wal.DISPATCH and j[2] < r.attempt:
            out.append(
                f"job {r.job_id}: durable attempt {r.attempt}, now attempt {j[2]}: "
                "attempts went back"
            )
    acks = {r.job_id for s, r in exp.log.items() if s <= k and r.type == wal.ACK}
    for job_id, state, _, _ in got[0]:
        if state == "completed" and job_id not in acks:
            out.append(f"job {job_id} is COMPLETED without an ACK in the recovered log")
    try:
        expected, interrupted = model_state(exp.log, k, exp.now, exp.max_retry, exp.backoff)
    except KeyError as exc:
        out.append(str(exc.args[0]))
    else:
        if expected[0] != got[0]:
            want = dict((j[0], j[1:]) for j in expected[0])
            have = dict((j[0], j[1:]) for j in got[0])
            diff = sorted(i for i in set(want) | set(have) if want.get(i) != have.get(i))
            shown = ", ".join(f"{i}: {have.get(i)} (log says {want.get(i)})" for i in diff[:3])
            out.append(f"state differs from the recovered log applied in order: {shown}")
        elif expected[1] != got[1]:
            out.append(
                f"FIFO order lost: pending {list(got[1])[:6]}, log says {list(expected[1])[:6]}"
            )
        if q.recovery is not None and q.recovery.jobs_interrupted != interrupted:
            out.append(f"{q.recovery.jobs_interrupted} interruptions, the log says {interrupted}")
        if q.last_seq != k + interrupted:
            out.append(f"last seq {q.last_seq} after recovery, expected {k + interrupted}")
    if exp.reference is not None and got != exp.reference:
        out.append(
            "a recovery that crashed and ran again ended elsewhere than one that did not crash"
        )
    if q.durable_seq != q.last_seq:
        out.append(f"recovered state not durable: durable seq {q.durable_seq} < last {q.last_seq}")
    try:
        records = list(wal.iter_records(q.data_dir))
    except CorruptWALError as exc:
        out.append(f"the WAL does not read back after recovery: {exc}")
    else:
        if records and records[-1].seq != q.last_seq:
            out.append(f"the WAL ends at seq {records[-1].seq}, the queue at {q.last_seq}")
        for r in records:
            m = exp.log.get(r.seq)
            if r.seq <= k and (
                m is None or (m.type, m.job_id, m.attempt) != (r.type, r.job_id, r.attempt)
            ):
                out.append(f"seq {r.seq} on disk is {r.type_name} {r.job_id}, not what was written")
                break
    return out, got


def recover_and_check(
    root: str, exp: Expect, params: dict[str, Any], *, hole: bool = False
) -> tuple[str, list[str]]:
    """Recover ``root``/q, check it, cut the power again, recover again. Returns a status
    (``ok``, ``salvaged`` or ``violation``) and the violations. ``hole``: the state may have a
    hole with valid records after it (a ``reorder`` outcome), which needs ``salvage=True``."""
    data_dir = os.path.join(root, DATA_DIR)
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    status = "ok"
    q = None
    try:
        try:
            q = DurableQueue.open(data_dir, fs=fs, clock=VirtualClock(exp.now), **params)
        except CorruptWALError as exc:
            if not hole or "valid record follows" not in exc.reason:
                return "violation", [f"recovery refused a state a power cut can leave: {exc}"]
            status = "salvaged"
            q = DurableQueue.open(
                data_dir, fs=fs, clock=VirtualClock(exp.now), salvage=True, **params
            )
            if q.recovery is None or q.recovery.salvage_offset is None:
                return "violation", ["salvage=True opened the directory but reported no cut"]
        problems, got = check_recovery(q, exp)
        q.abandon()
        fs.power_loss(random.Random(0), "drop")
        q = DurableQueue.open(data_dir, fs=fs, clock=VirtualClock(exp.now), **params)
        if observe(q) != got:
            problems.append("a second recovery (after a power cut) gave a different state")
        if q.recovery is not None and q.recovery.jobs_interrupted:
            problems.append(
                "the second recovery found in-flight jobs: the first did not log its decisions"
            )
    except Exception as exc:  # anything else is a finding, with where it came from
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        problems = [f"recovery raised {exc!r} at {os.path.basename(tb.filename)}:{tb.lineno}"]
    finally:
        if q is not None:
            q.abandon()
    return ("violation" if problems else status), problems


# ---------------------------------------------------------------------------- the workloads
class Driver:
    """Runs a workload's steps against a queue, writing a :class:`Mark` after each call.

    ``strict`` (recording): any error propagates. Otherwise (error injection) the first
    :class:`StorageError` stops the run: the queue must say it stopped, and every kind of call
    must then raise :class:`QueueStoppedError`; anything else is written to ``violations``."""

    def __init__(
        self,
        fs: RecordingFileSystem,
        data_dir: str,
        params: dict[str, Any],
        clock: VirtualClock,
        *,
        strict: bool = True,
        acked: int = 0,
    ) -> None:
        self.fs = fs
        self.data_dir = data_dir
        self.params = params
        self.clock = clock
        self.strict = strict
        self.q: DurableQueue | None = None
        self.marks = [Mark(0, "start", acked, acked, clock.now())]
        self.error: StorageError | None = None
        self.error_step = ""
        self.violations: list[str] = []
        self.open_ends_at = 0
        self.prefix = "j"  # job ids: prefix + counter
        self.scale = 1  # workloads run ``scale`` times as many rounds
        self._n = 0

    def _call(self, step: str, fn: Callable[[], Any]) -> Any:
        if self.error is not None:
            return None
        try:
            out = fn()
        except StorageError as exc:
            if self.strict:
                raise
            self._stopped(step, exc)
            return None
        q = self.q
        if q is not None:
            self.marks.append(
                Mark(len(self.fs.trace), step, q.durable_seq, q.written_seq, self.clock.now())
            )
        return out

    def _stopped(self, step: str, exc: StorageError) -> None:
        self.error, self.error_step = exc, step
        q = self.q
        if q is None:
            return
        if not q.stopped:
            self.violations.append(f"{step} raised StorageError but the queue did not stop")
        probes: list[tuple[str, Callable[[], Any]]] = [
            ("enqueue", lambda: q.enqueue(Job("probe-after-error"))),
            ("dispatch", lambda: q.dispatch(0)),
            ("complete", lambda: q.complete("probe", 1)),
            ("fail", lambda: q.fail("probe", 1)),
            ("expire", q.expire),
            ("snapshot", q.snapshot),
            ("sync", q.sync),
            ("flush", q.flush),
            ("tick", q.tick),
        ]
        for name, probe in probes:
            try:
                probe()
            except QueueStoppedError:
                continue
            except Exception as other:
                self.violations.append(f"{name} after the storage error raised {other!r}")
            else:
                self.violations.append(f"{name} succeeded after the queue stopped")

    # -- the steps workloads are made of ------------------------------------------------------
    def open(self) -> None:
        def do() -> DurableQueue:
            self.q = DurableQueue.open(self.data_dir, fs=self.fs, clock=self.clock, **self.params)
            return self.q

        self._call("open", do)
        self.open_ends_at = len(self.fs.trace)

    def enqueue(self, n: int, pad: int = 0, timeout: float | None = None) -> None:
        jobs = []
        for _ in range(n):
            self._n += 1
            payload = {"n": self._n, "pad": "x" * pad} if pad else None
            jobs.append(Job(f"{self.prefix}{self._n:03d}", payload=payload, timeout=timeout))
        self._call(f"enqueue {len(jobs)}", lambda: self.q.enqueue_many(jobs))

    def dispatch(self, worker: int = 0) -> tuple[str, int] | None:
        job = self._call("dispatch", lambda: self.q.dispatch(worker))
        return (job.id, job.attempt) if job is not None else None

    def complete(self, job: tuple[str, int] | None) -> None:
        if job is not None:
            self._call(f"complete {job[0]}", lambda: self.q.complete(*job))

    def fail(self, job: tuple[str, int] | None) -> None:
        if job is not None:
            self._call(f"fail {job[0]}", lambda: self.q.fail(*job))

    def expire(self) -> None:
        self._call("expire", lambda: self.q.expire())

    def snapshot(self) -> None:
        self._call("snapshot", lambda: self.q.snapshot())

    def sync(self) -> None:
        self._call("sync", lambda: self.q.sync())

    def flush(self) -> None:
        self._call("flush", lambda: self.q.flush())

    def tick(self) -> None:
        self._call("tick", lambda: self.q.tick())

    def close(self) -> None:
        self._call("close", lambda: self.q.close())

    def advance(self, dt: float) -> None:
        self.clock.advance_by(dt)

    def abandon(self) -> None:
        if self.q is not None:
            self.q.abandon()


def _steady(d: Driver) -> None:
    d.open()
    for rnd in range(10 * d.scale):
        d.enqueue(2, pad=30 + 25 * (rnd % 3))
        job = d.dispatch(rnd % 3)
        if rnd % 4 == 1:
            d.fail(job)
        elif rnd % 4 != 3:  # every fourth one is left to time out
            d.complete(job)
        d.advance(0.8)
        if rnd % 3 == 2:
            d.expire()
        d.tick()
        if rnd % 4 == 3:
            d.snapshot()
    d.dispatch(0)  # the crash finds a job in flight and records in the OS, not on disk
    d.flush()


def _snapshot_race(d: Driver) -> None:
    d.open()
    for rnd in range(5 * d.scale):
        d.enqueue(3, pad=150)  # "never": handed to the OS, not fsynced
        d.complete(d.dispatch(0))
        d.dispatch(1)  # left in flight across the snapshot
        d.snapshot()
        d.enqueue(2, pad=220)  # appends racing the snapshot that just made the WAL durable
        if rnd % 5 == 2:
            d.snapshot()  # nothing new but the appends: the next snapshot right behind
            d.snapshot()  # same seq again: a rename over an existing snapshot
        d.advance(0.5)


def _segment_roll(d: Driver) -> None:
    d.open()
    for rnd in range(9 * d.scale):
        d.enqueue(3, pad=300)  # ~350-byte records in 4 KiB segments: a roll every few rounds
        d.complete(d.dispatch(rnd % 2))
        d.advance(0.2)
        if rnd % 3 == 0 and rnd:
            d.snapshot()  # from the second on, each deletes several covered segments at once
    d.dispatch(0)


def _recovery_pre(d: Driver) -> None:
    """Builds the directory the ``recovery`` workload opens (it is not itself a workload)."""
    d.open()
    d.enqueue(1, pad=60)
    d.fail(d.dispatch(1))  # j001: attempt 1 failed, ready again after the backoff
    d.advance(1.0)
    d.enqueue(5, pad=60)
    last = d.dispatch(0)  # j001's last attempt (max_retry=1): interrupted, it goes DEAD
    d.complete(d.dispatch(2))
    d.snapshot()  # j001 is in flight in the snapshot
    for _ in range(d.scale):
        d.enqueue(4, pad=90)
        d.dispatch(3)  # in flight in the WAL only
    d.sync()
    d.enqueue(2, pad=120)  # with the dispatch below: 3 records, under the batch size of 4
    d.dispatch(1)
    d.flush()  # reached the OS, never fsynced: the power cut tears it
    if last != ("j001", 2):
        raise AssertionError(f"the recovery workload's set-up drifted: {last}")


def _recovery(d: Driver) -> None:
    d.open()  # the recovery under test: cut the torn tail, interrupt in-flight jobs, sync
    d.prefix = "after"
    for _ in range(d.scale):
        d.enqueue(2, pad=40)
        d.complete(d.dispatch(0))
        d.snapshot()
    d.close()


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    params: dict[str, Any]
    steps: Callable[[Driver], None]
    prepare: Callable[[str, int], tuple[dict[str, bytes | None], dict[int, LogRec], int]] | None = (
        None
    )


def _prepare_recovery(
    scratch: str, scale: int = 1
) -> tuple[dict[str, bytes | None], dict[int, LogRec], int]:
    """Run :func:`_recovery_pre`, then cut the power so the last segment is torn inside a record.
    Returns the directory (as files), the log it holds, and its last valid seq."""
    pre = record(
        Workload("recovery-pre", "", WORKLOADS["recovery"].params, _recovery_pre), scratch, scale
    )
    disk = Disk({})
    for op in pre.ops:
        disk.apply(op)
    contents = {}
    for ino, _path in disk.unsynced_files():
        buf, ds = disk.data[ino], disk.synced[ino]
        spans = [s for s in _record_spans(buf) if s[1] > ds]
        cut = spans[len(spans) // 2][0] + 13 if spans else ds  # inside a record: torn
        contents[ino] = bytes(buf[:cut])
    if not contents:
        raise AssertionError("the recovery workload's directory has no torn tail")
    files = disk.materialize(True, False, contents=contents)
    k0 = max((r.seq for r in _readable_records(files)), default=0)
    log = {s: r for s, r in pre.log.items() if s <= k0}
    return files, log, k0


def _readable_records(files: dict[str, bytes | None]) -> list[LogRec]:
    out = []
    for path in sorted(files):
        content = files[path]
        if path.endswith(wal.SEGMENT_SUFFIX) and content:
            out += decode_records(content[wal.HEADER_SIZE :])
    return out


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "steady",
            "steady processing with snapshots: group commit (batch of 3), retries, timeouts, "
            "DEAD jobs, a snapshot every fourth round",
            dict(
                fsync="batch",
                batch_size=3,
                flush_interval=0.5,
                max_retry=1,
                backoff=0.25,
                task_timeout=2.0,
                segment_bytes=64 * 1024,
            ),
            _steady,
        ),
        Workload(
            "snapshot-race",
            "snapshots racing appends: fsync=never, appends handed to the OS right before and "
            "after each snapshot, snapshots back to back (pruning) and at the same seq",
            dict(fsync="never", max_retry=2, task_timeout=5.0, segment_bytes=64 * 1024),
            _snapshot_race,
        ),
        Workload(
            "segment-roll",
            "segment rolls: fsync=always, 4 KiB segments, ~350-byte records; the second "
            "snapshot deletes several covered segments at once",
            dict(fsync="always", max_retry=2, task_timeout=5.0, segment_bytes=4096),
            _segment_roll,
        ),
        Workload(
            "recovery",
            "recovery itself: open a directory with a torn tail, a snapshot and in-flight jobs "
            "(one on its last attempt), then carry on and close",
            dict(
                fsync="batch",
                batch_size=4,
                flush_interval=0.5,
                max_retry=1,
                backoff=0.5,
                task_timeout=3.0,
                segment_bytes=64 * 1024,
            ),
            _recovery,
            _prepare_recovery,
        ),
    )
}


def record(workload: Workload | str, scratch: str, scale: int = 1) -> Trace:
    """Run ``workload`` once on a :class:`RecordingFileSystem` under ``scratch``, ``scale``
    times as many rounds as its plain version."""
    wl = WORKLOADS[workload] if isinstance(workload, str) else workload
    initial: dict[str, bytes | None] = {}
    base_log: dict[int, LogRec] = {}
    k0 = 0
    if wl.prepare is not None:
        initial, base_log, k0 = wl.prepare(scratch, scale)
    root = os.path.join(scratch, f"record-{wl.name}")
    write_state(root, initial)
    start = 1000.0 if wl.prepare is not None else 100.0
    reference = None
    if wl.prepare is not None:  # what an uninterrupted recovery of the initial state gives
        ref_root = os.path.join(scratch, f"reference-{wl.name}")
        write_state(ref_root, initial)
        fs = FileSystem(real_fsync=False, track_power_loss=True)
        q = DurableQueue.open(
            os.path.join(ref_root, DATA_DIR), fs=fs, clock=VirtualClock(start), **wl.params
        )
        reference = observe(q)
        q.abandon()
        shutil.rmtree(ref_root)
    clock = VirtualClock(start)
    fs = RecordingFileSystem(root, clock)
    d = Driver(fs, os.path.join(root, DATA_DIR), wl.params, clock, strict=True, acked=k0)
    d.scale = scale
    try:
        wl.steps(d)
    finally:
        d.abandon()
        shutil.rmtree(root, ignore_errors=True)
    trace = Trace(
        wl.name,
        dict(wl.params),
        list(fs.trace),
        d.marks,
        {},
        initial,
        start,
        reference,
        d.open_ends_at,
    )
    trace.log, trace.written_upto = _log_of(fs.trace, base_log, k0)
    trace.scale = scale
    return trace


def _log_of(ops: list[Op], base: dict[int, LogRec], k0: int) -> tuple[dict[int, LogRec], list[int]]:
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


# ---------------------------------------------------------------------------- the campaign
@dataclass
class Violation:
    workload: str
    crash_point: int
    after: str  # the operation just before the crash (or the injected fault)
    family: str
    outcome: str
    problems: list[str]

    def describe(self) -> str:
        return (
            f"[{self.workload}] crash point {self.crash_point} (after {self.after}), "
            f"{self.family}: {self.outcome}: " + "; ".join(self.problems)
        )


@dataclass
class WorkloadResult:
    """The figures for one workload."""

    workload: str
    description: str = ""
    ops: int = 0
    op_counts: dict[str, int] = field(default_factory=dict)
    crash_points: int = 0
    outcomes: int = 0  # generated, duplicates included
    states: int = 0  # distinct disk states recovered
    recoveries_ok: int = 0
    acked_jobs_checked: int = 0  # acknowledged ENQUEUEs looked for, summed over recoveries
    needs_salvage: int = 0
    salvaged_ok: int = 0
    by_family: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: WorkloadResult) -> None:
        self.crash_points += other.crash_points
        self.outcomes += other.outcomes
        self.states += other.states
        self.recoveries_ok += other.recoveries_ok
        self.acked_jobs_checked += other.acked_jobs_checked
        self.needs_salvage += other.needs_salvage
        self.salvaged_ok += other.salvaged_ok
        self.by_family = dict(Counter(self.by_family) + Counter(other.by_family))
        self.violations += other.violations


def crash_points(trace: Trace, budget: Budget) -> list[int]:
    n = len(trace.ops)
    points = set(range(0, n + 1, budget.stride)) | {n}
    return sorted(points)


def scratch_dir(prefix: str) -> str:
    """A fresh temporary directory, in memory (``/dev/shm``) when there is one: fsync is
    modeled here, and thousands of recoveries go several times faster without a disk journal."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def run_crash_points(trace: Trace, points: list[int], budget: Budget) -> WorkloadResult:
    """Try every outcome at each of ``points`` (sorted). Runs in a worker process too."""
    res = WorkloadResult(trace.workload)
    scratch = scratch_dir("simqueue-crashsim-")
    root = os.path.join(scratch, "state")
    seen: set[tuple] = set()
    enqueues = sorted(s for s, r in trace.log.items() if r.type == wal.ENQUEUE)
    disk = Disk(trace.initial_files)
    done = 0
    try:
        for k in points:
            while done < k:
                disk.apply(trace.ops[done])
                done += 1
            res.crash_points += 1
            mark = trace.mark_at(k)
            after = trace.ops[k - 1].describe() if k else "nothing"
            reference = trace.reference if k < trace.open_ends_at else None
            for out in outcomes(disk, k, budget):
                res.outcomes += 1
                acked = max(mark.durable, mark.written) if out.family == "process" else mark.durable
                key = (state_digest(out.files), acked, reference is not None)
                if key in seen:
                    continue
                seen.add(key)
                res.states += 1
                res.by_family[out.family] = res.by_family.get(out.family, 0) + 1
                exp = Expect(
                    trace.log,
                    acked,
                    trace.written_upto[k],
                    trace.time_at(k),
                    trace.params.get("max_retry", 3),
                    trace.params.get("backoff", 0.0),
                    reference,
                )
                write_state(root, out.files)
                status, problems = recover_and_check(
                    root, exp, trace.params, hole=out.family == "reorder"
                )
                if status == "violation":
                    res.violations.append(
                        Violation(trace.workload, k, after, out.family, out.label, problems)
                    )
                    continue
                res.recoveries_ok += 1
                res.acked_jobs_checked += bisect.bisect_right(enqueues, acked)
                if status == "salvaged":
                    res.needs_salvage += 1
                    res.salvaged_ok += 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def crash_campaign(
    trace: Trace, budget: Budget, progress: Callable[[str], None] | None = None
) -> WorkloadResult:
    """Every crash point of ``trace`` x every outcome, on ``budget.workers`` processes."""
    t0 = time.perf_counter()
    points = crash_points(trace, budget)
    wl = WORKLOADS.get(trace.workload)
    total = WorkloadResult(
        trace.workload, wl.description if wl else "", len(trace.ops), trace.op_counts()
    )
    # A fixed number of contiguous chunks: neighbouring crash points share most disk states
    # (tried once per chunk), and the figures do not depend on the number of workers.
    size = -(-len(points) // CHUNKS)
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    if budget.workers <= 1:
        for i, chunk in enumerate(chunks):
            total.merge(run_crash_points(trace, chunk, budget))
            _report(progress, total, i + 1, len(chunks), t0)
    else:
        with ProcessPoolExecutor(budget.workers) as pool:
            futures = [pool.submit(run_crash_points, trace, c, budget) for c in chunks]
            for i, fut in enumerate(as_completed(futures)):
                total.merge(fut.result())
                _report(progress, total, i + 1, len(chunks), t0)
    total.violations.sort(key=lambda v: (v.crash_point, v.family, v.outcome))
    total.seconds = time.perf_counter() - t0
    return total


def _report(progress: Callable[[str], None] | None, r: WorkloadResult, i: int, n: int, t0: float):
    if progress is not None:
        progress(
            f"  {r.workload:<14} {i:>3}/{n} chunks  {r.crash_points:>5} crash points  "
            f"{r.states:>6} states  {len(r.violations)} violations  "
            f"{time.perf_counter() - t0:6.1f} s"
        )


# ---------------------------------------------------------------------------- error injection
@dataclass(frozen=True)
class FaultSpec:
    kind: str  # "fail" or "short"
    op: str
    n: int  # 0-based index among operations of that kind, counted from the start of the run
    errno: int = errno_mod.EIO
    keep: int | None = None  # short write: bytes that land (None: half)

    def describe(self) -> str:
        if self.kind == "short":
            keep = "half" if self.keep is None else f"{self.keep} bytes"
            return f"short write ({keep}, then ENOSPC) on write #{self.n}"
        return f"{errno_mod.errorcode[self.errno]} on {self.op} #{self.n}"


@dataclass
class FaultResult:
    workload: str
    injections: int = 0
    fired: int = 0
    stopped_cleanly: int = 0  # StorageError, then QueueStoppedError for every call
    reopened_ok: int = 0  # both views (process crash, power cut) recovered and checked
    by_kind: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: FaultResult) -> None:
        self.injections += other.injections
        self.fired += other.fired
        self.stopped_cleanly += other.stopped_cleanly
        self.reopened_ok += other.reopened_ok
        self.by_kind = dict(Counter(self.by_kind) + Counter(other.by_kind))
        self.violations += other.violations


def fault_specs(trace: Trace, budget: Budget) -> list[FaultSpec]:
    counts = trace.op_counts()
    specs: list[FaultSpec] = []
    every = budget.fault_every
    for op in MUTATING_OPS:
        for n in range(0, counts.get(op, 0), every if op in ("write", "fsync") else 1):
            codes = (
                (errno_mod.EIO, errno_mod.ENOSPC) if op in ("write", "fsync") else (errno_mod.EIO,)
            )
            specs += [FaultSpec("fail", op, n, code) for code in codes]
    for n in range(0, counts.get("write", 0), every):
        specs += [FaultSpec("short", "write", n, errno_mod.ENOSPC, keep) for keep in (0, None)]
    return specs


def run_faults(trace: Trace, specs: list[FaultSpec]) -> FaultResult:
    """Rerun the workload once per fault; check fail-stop, then reopen and check recovery."""
    res = FaultResult(trace.workload)
    wl = WORKLOADS[trace.workload]
    scratch = scratch_dir("simqueue-faults-")
    try:
        for spec in specs:
            res.injections += 1
            problems, fired, stopped, reopened = _one_fault(trace, wl, spec, scratch)
            res.fired += fired
            res.stopped_cleanly += stopped
            res.reopened_ok += reopened
            if fired:
                key = (
                    "short write"
                    if spec.kind == "short"
                    else f"{spec.op} {errno_mod.errorcode[spec.errno]}"
                )
                res.by_kind[key] = res.by_kind.get(key, 0) + 1
            if problems:
                res.violations.append(
                    Violation(
                        trace.workload, spec.n, spec.describe(), "fault", spec.describe(), problems
                    )
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def _one_fault(
    trace: Trace, wl: Workload, spec: FaultSpec, scratch: str
) -> tuple[list[str], bool, bool, bool]:
    root = os.path.join(scratch, "run")
    write_state(root, trace.initial_files)
    clock = VirtualClock(trace.start_time)
    fs = RecordingFileSystem(root, clock)
    if spec.kind == "short":
        fs.short_write_at(spec.n, keep=spec.keep, errno=spec.errno)
    else:
        fs.fail_at(spec.op, spec.n, spec.errno)
    d = Driver(
        fs,
        os.path.join(root, DATA_DIR),
        trace.params,
        clock,
        strict=False,
        acked=trace.marks[0].durable,
    )
    d.scale = trace.scale
    problems: list[str] = []
    try:
        wl.steps(d)
    except Exception as exc:
        problems.append(f"the failure escaped as {exc!r}, not StorageError")
    finally:
        d.abandon()
    if not fs.fired:
        return problems, False, False, False
    if d.error is None and not problems:
        problems.append(f"the injected fault ({fs.fired[0]}) was never reported")
    elif d.error is not None and os.strerror(spec.errno) not in str(d.error):
        problems.append(f"the StorageError does not name the OS error: {d.error}")
    problems += d.violations
    stopped = not problems
    # What survives: a process crash right now (files as they are), or a power cut.
    last = d.marks[-1]
    log, upto = _log_of(
        fs.trace,
        {s: r for s, r in trace.log.items() if s <= trace.marks[0].durable},
        trace.marks[0].durable,
    )
    params = trace.params
    views = []
    proc_root = os.path.join(scratch, "process")
    write_state(proc_root, read_state(root))
    views.append(("process crash", proc_root, max(last.durable, last.written)))
    fs.power_loss(random.Random(spec.n), "drop")
    views.append(("power cut", root, last.durable))
    reopened = True
    for view, where, acked in views:
        exp = Expect(
            log,
            acked,
            upto[-1],
            clock.now(),
            params.get("max_retry", 3),
            params.get("backoff", 0.0),
        )
        status, found = recover_and_check(where, exp, params)
        if status == "violation":
            reopened = False
            problems += [f"after a {view}: {p}" for p in found]
    return problems, True, stopped, reopened


def fault_campaign(
    trace: Trace, budget: Budget, progress: Callable[[str], None] | None = None
) -> FaultResult:
    t0 = time.perf_counter()
    specs = fault_specs(trace, budget)
    total = FaultResult(trace.workload)
    n_chunks = max(1, min(len(specs), budget.workers * 4))
    chunks = [specs[i::n_chunks] for i in range(n_chunks)]
    if budget.workers <= 1:
        for chunk in chunks:
            total.merge(run_faults(trace, chunk))
    else:
        with ProcessPoolExecutor(budget.workers) as pool:
            for fut in as_completed([pool.submit(run_faults, trace, c) for c in chunks]):
                total.merge(fut.result())
    total.seconds = time.perf_counter() - t0
    if progress is not None:
        progress(
            f"  {trace.workload:<14} {total.fired:>5} faults fired of {total.injections:>5}  "
            f"{len(total.violations)} violations  {total.seconds:6.1f} s"
        )
    return total


# ---------------------------------------------------------------------------- the whole thing
@dataclass
class CampaignSummary:
    """Everything :func:`run_campaign` found; :meth:`table` is what ``make crashtest`` prints."""

    budget: Budget
    workloads: list[WorkloadResult] = field(default_factory=list)
    faults: list[FaultResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> list[Violation]:
        return [v for w in self.workloads for v in w.violations] + [
            v for f in self.faults for v in f.violations
        ]

    def table(self) -> str:
        lines = [
            "Crash points x power-loss outcomes (recovered, then checked, then recovered again)",
            f"{'workload':<14} {'ops':>5} {'crash pts':>9} {'outcomes':>9} {'states':>7} "
            f"{'recovered':>9} {'salvage':>8} {'acked jobs':>10} {'violations':>10} "
            f"{'seconds':>8}",
        ]
        for w in self.workloads:
            lines.append(
                f"{w.workload:<14} {w.ops:>5} {w.crash_points:>9} {w.outcomes:>9} {w.states:>7} "
                f"{w.recoveries_ok:>9} {w.needs_salvage:>8} {w.acked_jobs_checked:>10} "
                f"{len(w.violations):>10} {w.seconds:>8.1f}"
            )
        if self.workloads:
            fam: Counter[str] = Counter()
            for w in self.workloads:
                fam.update(w.by_family)
            lines.append(
                "states by outcome family: "
                + ", ".join(f"{f} {fam[f]}" for f in FAMILIES if fam.get(f))
            )
        if self.faults:
            lines += [
                "",
                "Injected errors (fail-stop, then reopen after a process crash and a power cut)",
                f"{'workload':<14} {'injected':>8} {'fired':>6} {'stopped ok':>10} "
                f"{'reopened ok':>11} {'violations':>10} {'seconds':>8}",
            ]
            for f in self.faults:
                lines.append(
                    f"{f.workload:<14} {f.injections:>8} {f.fired:>6} {f.stopped_cleanly:>10} "
                    f"{f.reopened_ok:>11} {len(f.violations):>10} {f.seconds:>8.1f}"
                )
            kinds: Counter[str] = Counter()
            for f in self.faults:
                kinds.update(f.by_kind)
            lines.append(
                "faults fired by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            )
        lines.append("")
        lines.append(
            f"violations: {len(self.violations)}   lost acknowledged jobs: {self.lost_acknowledged}"
            f" (of {sum(w.acked_jobs_checked for w in self.workloads)} checked)   "
            f"total {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    @property
    def lost_acknowledged(self) -> int:
        """Acknowledged jobs found missing after a recovery, over every crash and fault."""
        return sum(
            1
            for v in self.violations
            for p in v.problems
            if "acknowledged job" in p or "acknowledged records lost" in p
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": asdict(self.budget),
            "workloads": [asdict(w) for w in self.workloads],
            "faults": [asdict(f) for f in self.faults],
            "seconds": self.seconds,
        }


def run_campaign(
    budget: Budget | None = None,
    workloads: Iterable[str] | None = None,
    *,
    faults: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CampaignSummary:
    """Record each workload, run its crash campaign and (``faults``) its error injection."""
    budget = budget or Budget.full()
    t0 = time.perf_counter()
    summary = CampaignSummary(budget)
    names = list(workloads or WORKLOADS)
    scratch = scratch_dir("simqueue-record-")
    try:
        traces = [record(name, scratch, budget.scale) for name in names]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for trace in traces:
        if progress is not None:
            progress(f"{trace.workload}: {len(trace.ops)} operations {trace.op_counts()}")
        summary.workloads.append(crash_campaign(trace, budget, progress))
    if faults:
        if progress is not None:
            progress("error injection")
        for trace in traces:
            summary.faults.append(fault_campaign(trace, budget, progress))
    summary.seconds = time.perf_counter() - t0
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simqueue.testing.crashsim",
        description="Crash-consistency campaign: every crash point x every power-loss outcome.",
    )
    parser.add_argument("--quick", action="store_true", help="the bounded budget of make test")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--no-faults", action="store_true", help="skip error injection")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    args = parser.parse_args(argv)
    workers = args.workers or os.cpu_count() or 1
    budget = Budget.quick(workers) if args.quick else Budget.full(workers)
    print(
        f"simqueue crash campaign ({'quick' if args.quick else 'full'} budget, {workers} workers)"
    )
    summary = run_campaign(
        budget, args.workload, faults=not args.no_faults, progress=lambda s: print(s, flush=True)
    )
    print()
    print(summary.table())
    for v in summary.violations[:50]:
        print(v.describe())
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(summary.as_dict(), f, indent=1, default=str)
    return 1 if summary.violations else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
