"""The write-ahead log as a learner sees it: every record with where it has got to.

A record is *appended* once the writer has encoded it into its user-space buffer (lost by any
crash), *written* once it has been handed to the OS (survives a process crash) and *durable* once
an fsync covers it (survives a power cut): the three cursors of :class:`Cursors`, read from the
writer (:mod:`simqueue.core.wal.writer`). A crash marks what it took: a process crash the
records still in the buffer; a power cut the bytes past the last fsync, which
:mod:`simqueue.core.storage.durability` drops, keeps in part, garbles or zeroes, so the records
there are found again in the files and compared byte for byte. A recovery marks which records
the snapshot covered and which replay applied (:class:`~simqueue.core.recovery.RecoveryReport`).

:class:`WalView` follows one :class:`~simqueue.sim.simulation.Simulation` and reads only what
changed since its last look (each segment's new bytes, the writer's buffer), so a step view
can redraw after every event. Its records are plain values; nothing here draws.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simqueue.core.wal.format import HEADER_SIZE, REASON_NAMES, RECORD_HEAD, TYPE_NAMES

if TYPE_CHECKING:
    from simqueue.core.queue import RecoveryReport
    from simqueue.sim.simulation import Simulation

__all__ = ["CRASH_MARKS", "Cursors", "StripRecord", "WalView"]

_HEAD = RECORD_HEAD.size  # 44: crc, size and the fixed fields
#: What a crash can leave of a record: ``lost`` (none of its bytes), ``torn`` (a prefix of them),
#: ``garbled`` (its bytes are there but changed: random bytes or zeros).
CRASH_MARKS = ("lost", "torn", "garbled")


@dataclass
class StripRecord:
    """One record of the log: its decoded fields, its bytes and where they lie."""

    seq: int
    rtype: int
    time: float
    attempt: int
    worker: int
    extra: float
    reason: int
    job_id: str
    segment: str  # the segment file's name
    offset: int  # of the record's first byte in its segment
    raw: bytes  # the record as the writer framed it
    life: int  # 0 for the queue's first life, then one more per recovery
    mark: str = ""  # "" or one of CRASH_MARKS, or "snapshot" / "replayed" after a recovery
    kept: int = -1  # after a power cut: how many of the record's bytes are still in the file

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.rtype, f"type {self.rtype}")

    @property
    def size(self) -> int:
        return len(self.raw)

    def fields(self) -> dict[str, Any]:
        """The decoded fields, named as in :mod:`simqueue.core.wal.format`."""
        return {
            "type": self.type_name,
            "seq": self.seq,
            "time": self.time,
            "job": self.job_id,
            "attempt": self.attempt,
            "worker": self.worker,
            "extra": self.extra,
            "reason": REASON_NAMES.get(self.reason, str(self.reason)),
            "segment": self.segment,
            "offset": self.offset,
            "bytes": self.size,
        }

    def header(self) -> dict[str, Any]:
        """The CRC and size fields: the CRC stored, the CRC of the bytes it covers, and whether
        they agree (they do for every record the writer framed)."""
        stored, size = (
            int.from_bytes(self.raw[:4], "little"),
            int.from_bytes(self.raw[4:8], "little"),
        )
        computed = zlib.crc32(self.raw[4:])
        return {"crc": stored, "crc_computed": computed, "crc_ok": stored == computed, "size": size}


@dataclass(frozen=True)
class Cursors:
    """The last seq appended, handed to the OS, and fsynced (all three equal while crashed:
    the cursors of the life that ended)."""

    appended: int
    written: int
    durable: int


def _parse(
    data: bytes, start: int, segment: str, base: int, life: int
) -> tuple[list[StripRecord], int]:
    """The whole records in ``data[start:]`` (``base`` is ``data``'s offset in the segment);
    the records and the offset in ``data`` where parsing stopped."""
    out: list[StripRecord] = []
    off = start
    end = len(data)
    while off + _HEAD <= end:
        crc, size, rtype, seq, t, attempt, worker, extra, reason, id_len = RECORD_HEAD.unpack_from(
            data, off
        )
        stop = off + 8 + size
        if size < _HEAD - 8 or stop > end or zlib.crc32(data[off + 4 : stop]) != crc:
            break  # a partial record (still being written) or unused space
        job = data[off + _HEAD : off + _HEAD + id_len].decode("utf-8", "replace")
        raw = bytes(data[off:stop])
        out.append(
            StripRecord(
                seq, rtype, t, attempt, worker, extra, reason, job, segment, base + off, raw, life
            )
        )
        off = stop
    return out, off


def _read(path: str) -> bytes | None:
    """A file's bytes; None when a power cut undid its creation."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


@dataclass
class _SegmentRead:
    """How far one segment file has been read."""

    path: str
    offset: int = HEADER_SIZE


@dataclass
class WalView:
    """The records of one simulation's log across its lives, read as it runs."""

    sim: Simulation
    records: list[StripRecord] = field(default_factory=list)
    life: int = 0
    last_crash: dict[str, Any] | None = None
    last_recovery: RecoveryReport | None = None
    _reads: dict[str, _SegmentRead] = field(default_factory=dict)
    _by_seq: dict[int, int] = field(default_factory=dict)  # seq -> index, this life's records
    _buffered: list[StripRecord] = field(default_factory=list)
    _frozen: Cursors | None = None
    _min_seq: int = 0  # records of this life have seq >= this (the first after recovery)

    def __post_init__(self) -> None:
        self.refresh()

    # ------------------------------------------------------------------ reading
    @property
    def wal_dir(self) -> str:
        return os.path.join(self.sim.data_dir, "wal")

    def refresh(self) -> None:
        """Read what the log gained since the last call: new bytes in the files, and the
        writer's buffer (records appended, not yet written)."""
        if self.sim.crashed:
            return
        for rec in self._read_files():
            self._add(rec)
        writer = self.sim.engine.q.writer
        self._buffered = []
        if writer.segments and writer.buffered:
            path = writer.segments[-1][1]
            buffered = writer.buffered_bytes()
            base = writer.segment_size - len(buffered)  # the buffer follows the file's bytes
            recs, _ = _parse(buffered, 0, os.path.basename(path), base, self.life)
            self._buffered = recs

    def _read_files(self) -> list[StripRecord]:
        found: list[StripRecord] = []
        try:
            names = sorted(n for n in os.listdir(self.wal_dir) if n.endswith(".wal"))
        except FileNotFoundError:
            return found
        for name in names:
            state = self._reads.setdefault(name, _SegmentRead(os.path.join(self.wal_dir, name)))
            with open(state.path, "rb") as f:
                f.seek(state.offset)
                data = f.read()
            recs, used = _parse(data, 0, name, state.offset, self.life)
            state.offset += used
            found.extend(r for r in recs if r.seq >= self._min_seq)
        return found

    def _add(self, rec: StripRecord) -> None:
        if rec.seq in self._by_seq:  # already seen (read again after a crash cut the file)
            return
        self._by_seq[rec.seq] = len(self.records)
        self.records.append(rec)

    def cursors(self) -> Cursors:
        """Where the three cursors stand now."""
        if self._frozen is not None:
            return self._frozen
        q = self.sim.engine.q
        return Cursors(q.last_seq, q.written_seq, q.durable_seq)

    def strip(self, last: int | None = None) -> list[StripRecord]:
        """Every record seen so far (appended ones included), oldest first; only the ``last``
        ones if given. A segment that a snapshot made redundant and that was deleted between
        two looks (in one long ``run_until``) is not seen: its records are in that snapshot."""
        shown = self.records + self._buffered
        return shown if last is None else shown[-last:]

    def state_of(self, rec: StripRecord) -> str:
        """Where ``rec`` is: its crash or recovery mark, else appended, written or durable."""
        if rec.mark:
            return rec.mark
        c = self.cursors()
        if rec.life != self.life:
            return "durable"
        if rec.seq <= c.durable:
            return "durable"
        return "written" if rec.seq <= c.written else "appended"

    # ------------------------------------------------------------------ crash and recovery
    def crash(self, kind: str, tear: str = "drop") -> dict[str, Any]:
        """Crash the simulation and mark what the crash took from the log."""
        self.refresh()
        before = self.cursors()
        pending = list(self._buffered)
        info = self.sim.crash(kind, tear)
        self._frozen = before
        self.last_crash = info
        for rec in pending:  # the writer's buffer dies with the process
            rec.mark, rec.kept = "lost", 0
            self._add(rec)
        self._buffered = []
        if kind == "power":
            self._mark_power_cut(info["durable_seq"])
        return info

    def _mark_power_cut(self, durable: int) -> None:
        """Compare every record past the durable cursor with what is left in its file."""
        files: dict[str, bytes | None] = {}
        for rec in self.records:
            if rec.life != self.life or rec.seq <= durable or rec.mark:
                continue
            if rec.segment not in files:
                path = os.path.join(self.wal_dir, rec.segment)
                files[rec.segment] = _read(path)
            data = files[rec.segment] or b""
            kept = data[rec.offset : rec.offset + rec.size]
            rec.kept = len(kept)
            if not kept:
                rec.mark = "lost"
            elif len(kept) < rec.size:
                rec.mark = "torn"
            elif kept != rec.raw:
                rec.mark = "garbled"

    def recover(self) -> RecoveryReport:
        """Recover the simulation; mark the records the snapshot covered and those replayed
        (of every life so far). Records the crash took stay in the strip, marked; the new
        life's records follow."""
        report = self.sim.recover()
        covered, first_new = report.snapshot_last_seq, report.next_seq
        for rec in self.records:  # every life's: a record replayed before is replayed again
            if rec.mark in CRASH_MARKS:
                continue
            if rec.seq <= covered:
                rec.mark = "snapshot"
            elif rec.seq < first_new:
                rec.mark = "replayed"
            else:  # intact bytes recovery still cut: after a torn or garbled record
                rec.mark = "lost"
        self.life += 1
        self.last_recovery = report
        self._frozen = None
        self._by_seq = {}
        self._min_seq = first_new
        self._reads = {}  # recovery may have cut the files: read each again from its start
        self.refresh()
        return report
