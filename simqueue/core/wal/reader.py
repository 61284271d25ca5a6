"""Reading a whole log, read-only: its segments, its records for tools (``simqueue wal dump``),
and ``simqueue wal verify``'s verdict. Recovery reads the segments itself, with the same
:class:`~simqueue.core.wal.scan.SegmentScan` and the same judgement of bad bytes."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simqueue.core.errors import CorruptWALError, StorageError
from simqueue.core.storage import FileSystem
from simqueue.core.wal.format import (
    DEAD,
    DISPATCH,
    ENQUEUE,
    FIXED_SIZE,
    REASON_NAMES,
    RETRY,
    SEGMENT_SUFFIX,
    TYPE_NAMES,
)
from simqueue.core.wal.scan import SegmentScan, classify_bad, classify_bad_header


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded WAL record, for tools, notebooks and tests."""

    seq: int
    type: int
    job_id: str
    time: float
    attempt: int
    worker: int
    extra: float
    reason: int
    payload: bytes
    path: str = ""
    offset: int = 0

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"TYPE{self.type}")

    @property
    def reason_name(self) -> str:
        return REASON_NAMES.get(self.reason, "")

    @property
    def size(self) -> int:
        return FIXED_SIZE + len(self.job_id.encode()) + len(self.payload)

    def fields(self) -> dict[str, Any]:
        """The record as a plain dict (what ``simqueue wal dump --json`` prints)."""
        out: dict[str, Any] = {
            "seq": self.seq,
            "type": self.type_name,
            "job_id": self.job_id,
            "time": self.time,
            "attempt": self.attempt,
        }
        if self.type == ENQUEUE:
            out["timeout"] = None if math.isnan(self.extra) else self.extra
            out["payload"] = self.payload.decode("utf-8", "replace") if self.payload else None
        elif self.type == DISPATCH:
            out["worker"] = self.worker
            out["deadline"] = self.extra
        elif self.type == RETRY:
            out["reason"] = self.reason_name
            out["ready_at"] = self.extra
        elif self.type == DEAD:
            out["reason"] = self.reason_name
        out["file"] = os.path.basename(self.path)
        out["offset"] = self.offset
        return out


def list_segments(fs: FileSystem, wal_dir: str) -> list[tuple[int, str]]:
    """(first_seq, path) of every segment, in log order. A foreign file is corruption."""
    out = []
    for name in fs.listdir(wal_dir):
        path = os.path.join(wal_dir, name)
        stem, dot, suffix = name.partition(".")
        if dot and "." + suffix == SEGMENT_SUFFIX and stem.isdigit() and len(stem) == 20:
            out.append((int(stem), path))
        else:
            raise CorruptWALError(path, 0, "unexpected file in the WAL directory (not a segment)")
    out.sort()
    return out


def read_segment(fs: FileSystem, path: str) -> bytes:
    """A segment's bytes; an OS error (unreadable, or a directory named like a segment) is a
    :class:`StorageError` naming the path."""
    try:
        return fs.read_bytes(path)
    except OSError as exc:
        raise StorageError(f"cannot read WAL segment {path}: {exc.strerror or exc}") from exc


def _check_continues(scan: SegmentScan, expect: int | None) -> None:
    """A segment must start where the one before it ended."""
    if expect is not None and scan.first_seq != expect:
        raise CorruptWALError(
            scan.path, 0, f"segment starts at seq {scan.first_seq}, expected {expect}"
        )


def iter_records(data_dir: str, fs: FileSystem | None = None) -> Iterator[Record]:
    """Every valid record in ``data_dir``'s WAL, oldest first (read-only; takes no lock).

    A torn tail of the last segment ends the iteration quietly (recovery would cut it);
    corruption raises :class:`CorruptWALError`."""
    fs = fs or FileSystem()
    wal_dir = os.path.join(data_dir, "wal")
    if not fs.exists(wal_dir):
        return
    segments = list_segments(fs, wal_dir)
    expect: int | None = None
    for i, (_, path) in enumerate(segments):
        scan = SegmentScan(path, read_segment(fs, path), expect)
        last = i == len(segments) - 1
        if not scan.check_header():
            classify_bad_header(scan, last)
            return
        _check_continues(scan, expect)
        for r in scan.records():
            yield Record(r[1], r[0], r[7], r[2], r[3], r[4], r[5], r[6], r[8], path, r[9])
        if scan.bad is not None:
            classify_bad(scan, last)
            return
        expect = scan.expect_seq


@dataclass
class VerifyReport:
    """What ``simqueue wal verify`` found. ``status``: clean, torn or corrupt."""

    status: str
    records: int
    segments: int
    first_seq: int
    last_seq: int
    path: str = ""
    offset: int = 0
    reason: str = ""
    #: The seq of the last record the log holds, counting from where its last segment starts
    #: (a segment holding no records yet ends the log at the seq before its first).
    end_seq: int = 0

    @property
    def exit_code(self) -> int:
        return {"clean": 0, "torn": 1, "corrupt": 2}[self.status]

    def describe(self) -> str:
        head = (
            f"{self.segments} segment(s), {self.records} record(s), "
            f"seq {self.first_seq}..{self.last_seq}"
        )
        if self.status == "clean":
            return f"clean: {head}"
        if self.status == "torn":
            return (
                f"torn tail: {head}; {self.path} has {self.reason} at byte offset {self.offset}; "
                "recovery will cut it"
            )
        return f"corrupt: {self.path} at byte offset {self.offset}: {self.reason}"


def verify(data_dir: str, fs: FileSystem | None = None) -> VerifyReport:
    """Check every segment of ``data_dir`` without changing anything."""
    fs = fs or FileSystem()
    wal_dir = os.path.join(data_dir, "wal")
    count = 0
    first = last = 0
    try:
        segments = list_segments(fs, wal_dir) if fs.exists(wal_dir) else []
        expect: int | None = None
        for i, (_, path) in enumerate(segments):
            is_last = i == len(segments) - 1
            scan = SegmentScan(path, read_segment(fs, path), expect)
            if not scan.check_header():
                classify_bad_header(scan, is_last)
                return VerifyReport(
                    "torn", count, len(segments), first, last, path, 0, scan.header_bad or "",
                    end_seq=expect - 1 if expect is not None else 0,
                )  # fmt: skip
            _check_continues(scan, expect)
            for r in scan.records():
                count += 1
                first = first or r[1]
                last = r[1]
            if scan.bad is not None and classify_bad(scan, is_last) == "torn":
                return VerifyReport(
                    "torn", count, len(segments), first, last, path, scan.bad[0], scan.bad[1],
                    end_seq=scan.expect_seq - 1 if scan.expect_seq is not None else 0,
                )  # fmt: skip
            expect = scan.expect_seq
    except CorruptWALError as exc:
        return VerifyReport("corrupt", count, 0, first, last, exc.path, exc.offset, exc.reason)
    end = (expect - 1) if expect is not None else 0
    return VerifyReport("clean", count, len(segments), first, last, end_seq=end)
