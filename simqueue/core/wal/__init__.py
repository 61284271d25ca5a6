"""The write-ahead log: binary, checksummed, segmented, replayable.

On-disk format (all integers little-endian)
===========================================

The log is a directory of *segment* files, ``DIR/wal/<first_seq:020d>.wal``, each named by the
sequence number of its first record, so ``ls`` shows them in log order.

Segment header, 24 bytes::

    magic      6 bytes   b"SQWAL\\n"
    version    u16       FORMAT_VERSION (1)
    first_seq  u64       seq of the first record this segment will hold (matches the name)
    flags      u32       bit 0 (PREALLOCATED): the file was allocated to its full size up front,
                         so zeros after the last record are unused space; other bits 0
    crc        u32       CRC-32 of the 20 bytes above

Record, 44 bytes of fixed fields then the job id and the payload::

    crc        u32   CRC-32 (zlib/IEEE) of every byte after this field, size through payload
    size       u32   number of bytes after this field (36 + id_len + payload length)
    type       u8    1 ENQUEUE, 2 DISPATCH, 3 ACK, 4 RETRY, 5 DEAD
    seq        u64   strictly increasing by exactly 1 across segments and restarts
    time       f64   clock time the transition happened
    attempt    u32   the attempt this record is about (0 for ENQUEUE)
    worker     i32   worker id for DISPATCH, else -1
    extra      f64   ENQUEUE: job timeout (NaN = none); DISPATCH: deadline; RETRY: ready time
    reason     u8    RETRY/DEAD: 1 failed, 2 timeout, 3 interrupted; else 0
    id_len     u16   length of the UTF-8 job id
    id         id_len bytes
    payload    the rest (ENQUEUE only): the job's payload as compact JSON, empty for none

Reading rules (LevelDB's and etcd's, made strict)
-------------------------------------------------
* A record whose checksum, size or sequence number does not check out, in the *last* segment,
  with nothing valid after it, is a **torn tail**: what a power cut leaves behind. Recovery keeps
  the valid prefix and truncates the file there (durably) before appending again.
* In the last segment of a PREALLOCATED segment, a tail of nothing but zero bytes after the last
  valid record is **unused space**, not a tear: recovery cuts it (durably) without reporting it
  as discarded, and ``verify`` calls the log clean. A zero tail in a segment without the flag is
  a torn tail as above; so is any tail with a non-zero byte in it.
* Anything else is **corruption**: a bad record followed by a valid one, a bad record in an older
  segment, a gap or a repeat in the sequence numbers, a bad header. It raises
  :class:`~simqueue.core.errors.CorruptWALError` naming the file and the byte offset. Nothing is
  ever
  skipped silently.

The codec, in C and in Python
-----------------------------
Framing a record and decoding the records that need no judgement are the WAL's two hot loops.
Each has a pure-Python implementation here (:func:`_frame_into_py`, :func:`_decode_plain_py`) and
the same in C, in the optional accelerator ``simqueue/_codec.c`` (see
:mod:`simqueue.core.wal.accel`:
built when the package is installed and a C compiler is at hand; ``SIMQUEUE_PURE_PYTHON=1`` turns
it off). Both write and read exactly the bytes described above (tests check them against each
other and against :func:`encode_record`).

Writing rules
-------------
Records are encoded into a user-space buffer; :meth:`WALWriter.flush` hands the buffer to the OS
(survives a process crash) and :meth:`WALWriter.sync` also fsyncs it (survives a power cut). A
new segment is made durable (header fsynced, directory fsynced) before any record goes into it,
and the old segment is fsynced before the switch, so only the last segment can ever be torn.

Under real fsync, a new segment is also allocated to its full size when it is created
(``posix_fallocate``, flag PREALLOCATED) and records are written into that space: an append then
never changes the file's size, so its fsync (an ``fdatasync``) does not have to make a new size
durable too (``fsync="always"`` before and after: ``docs/performance-history.md``). The
unused space is cut off (``ftruncate``, fsynced) when the segment is finished or the log is
closed, before any newer segment exists, so only the last segment ever has it. Modeled
durability, which only simulates fsync, does not preallocate.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simqueue.core.errors import CorruptWALError
from simqueue.core.storage import FileHandle, FileSystem
from simqueue.core.wal.accel import accelerated

MAGIC = b"SQWAL\n"
FORMAT_VERSION = 1
SEGMENT_SUFFIX = ".wal"

_HEADER = struct.Struct("<6sHQI")  # magic, version, first_seq, flags (crc follows)
HEADER_SIZE = _HEADER.size + 4
_SIZE_CRC = struct.Struct("<II")  # crc, size
_FIXED = struct.Struct("<BQdIidBH")  # type .. id_len
FIXED_SIZE = 8 + _FIXED.size  # 44
_BODY_FIXED = _FIXED.size  # 36: counted in size
_SIZE_FIXED = struct.Struct("<IBQdIidBH")  # size, then the fixed fields: what the CRC covers
# The whole 44-byte record head (crc, size, then the fixed fields): one unpack for readers.
RECORD_HEAD = struct.Struct("<IIBQdIidBH")
_U32 = struct.Struct("<I")
_crc32 = zlib.crc32
_U64 = struct.Struct("<Q")

#: Segment header flag: allocated to its full size when created (zeros after the records are
#: unused space, see the reading rules).
PREALLOCATED = 1

ENQUEUE, DISPATCH, ACK, RETRY, DEAD = 1, 2, 3, 4, 5
TYPE_NAMES = {ENQUEUE: "ENQUEUE", DISPATCH: "DISPATCH", ACK: "ACK", RETRY: "RETRY", DEAD: "DEAD"}
REASON_CODES = {"": 0, "failed": 1, "timeout": 2, "interrupted": 3}
REASON_NAMES = {v: k for k, v in REASON_CODES.items()}
MAX_RECORD_SIZE = 64 * 1024 * 1024
NO_TIMEOUT = math.nan

# How far past a bad record we look for a record that continues the log (see _valid_after).
_RESYNC_WINDOW = 64


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


def encode_record(
    rtype: int,
    seq: int,
    job_id: bytes,
    time: float,
    attempt: int = 0,
    worker: int = -1,
    extra: float = 0.0,
    reason: int = 0,
    payload: bytes = b"",
) -> bytes:
    """Frame one record (used by tests and tools; the writer inlines the same steps)."""
    body = _FIXED.pack(rtype, seq, time, attempt, worker, extra, reason, len(job_id))
    size = _BODY_FIXED + len(job_id) + len(payload)
    size_b = _U32.pack(size)
    crc = zlib.crc32(payload, zlib.crc32(job_id, zlib.crc32(body, zlib.crc32(size_b))))
    return _U32.pack(crc) + size_b + body + job_id + payload


def encode_header(first_seq: int, flags: int = 0) -> bytes:
    head = _HEADER.pack(MAGIC, FORMAT_VERSION, first_seq, flags)
    return head + _U32.pack(zlib.crc32(head))


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


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


def _frame_into_py(
    buf: bytearray,
    rtype: int,
    seq: int,
    time: float,
    attempt: int,
    worker: int,
    extra: float,
    reason: int,
    job_id: bytes,
    payload: bytes,
) -> None:
    """Append one framed record to ``buf`` (the pure-Python codec; see the module docstring)."""
    n_id = len(job_id)
    rec = (
        _SIZE_FIXED.pack(
            _BODY_FIXED + n_id + len(payload),
            rtype,
            seq,
            time,
            attempt,
            worker,
            extra,
            reason,
            n_id,
        )
        + job_id
        + payload
    )
    buf += _U32.pack(_crc32(rec))
    buf += rec


def _decode_plain_py(
    data: bytes, off: int, expect: int, limit: int
) -> tuple[list[tuple], int, int]:
    """Decode up to ``limit`` records from ``off`` that need no judgement (whole, checksum right,
    seq ``expect`` and on, a known type, a UTF-8 id) into :meth:`SegmentScan.records` tuples.
    Stops at the first record that is anything else; returns (records, its offset, its expected
    seq), so the caller hands the rest to :meth:`SegmentScan.records`, which judges it."""
    out: list[tuple] = []
    append = out.append
    n = len(data)
    unpack_head = RECORD_HEAD.unpack_from
    crc32 = _crc32
    head_limit = n - FIXED_SIZE
    while off <= head_limit and len(out) < limit:
        crc, size, rtype, seq, t, attempt, worker, extra, reason, id_len = unpack_head(data, off)
        end = off + 8 + size
        if (
            end > n
            or seq != expect
            or size < _BODY_FIXED
            or id_len > size - _BODY_FIXED
            or not ENQUEUE <= rtype <= DEAD
            or crc32(data[off + 4 : end]) != crc
        ):
            break
        id_end = off + FIXED_SIZE + id_len
        try:
            job_id = data[off + FIXED_SIZE : id_end].decode()
        except UnicodeDecodeError:
            break
        append((rtype, seq, t, attempt, worker, extra, reason, job_id, data[id_end:end], off))
        expect = seq + 1
        off = end
    return out, off, expect


#: The codec this process uses: the C accelerator's when it is in use (see :mod:`.accel`).
frame_into = accelerated("frame_into", _frame_into_py)
decode_plain = accelerated("decode_plain", _decode_plain_py)


class SegmentScan:
    """Decode one segment's bytes. Iterate :meth:`records` for tuples
    ``(rtype, seq, time, attempt, worker, extra, reason, job_id, payload, offset)``; after the
    iteration ``end`` is the offset just past the last good record and ``bad`` is ``None`` or
    ``(offset, reason)`` for the first record that did not check out."""

    def __init__(self, path: str, data: bytes, expect_seq: int | None) -> None:
        self.path = path
        self.data = data
        self.expect_seq = expect_seq
        self.first_seq = 0
        self.last_seq = 0
        self.end = 0
        self.bad: tuple[int, str] | None = None
        self.header_bad: str | None = None
        self.flags = 0

    def check_header(self) -> bool:
        data = self.data
        if len(data) < HEADER_SIZE:
            self.header_bad = f"segment header is short ({len(data)} of {HEADER_SIZE} bytes)"
            return False
        magic, version, first_seq, flags = _HEADER.unpack_from(data, 0)
        (crc,) = _U32.unpack_from(data, _HEADER.size)
        if magic != MAGIC or crc != zlib.crc32(data[: _HEADER.size]):
            self.header_bad = "bad segment header (magic or checksum)"
            return False
        if version != FORMAT_VERSION:
            raise CorruptWALError(
                self.path,
                0,
                f"segment format version {version}, this simqueue reads {FORMAT_VERSION}",
            )
        name_seq = os.path.basename(self.path).split(".")[0]
        if name_seq.isdigit() and int(name_seq) != first_seq:
            raise CorruptWALError(
                self.path, 0, f"header says first seq {first_seq}, file name says {int(name_seq)}"
            )
        self.first_seq = first_seq
        self.flags = flags
        self.end = HEADER_SIZE
        if self.expect_seq is None:
            self.expect_seq = first_seq
        return True

    def records(self) -> Iterator[tuple]:
        # The whole 44-byte record head in one unpack, and the CRC over a bytes slice (for
        # records this small much cheaper than a memoryview slice); the fields are trusted only
        # once the checksum holds. Same checks, same order, same messages as the reading rules.
        # ``end`` and ``last_seq`` are stored once, when the loop stops, not per record.
        data = self.data
        n = len(data)
        off = self.end or HEADER_SIZE  # a reader that went ahead (see ``resume_at``) set it
        first = expect = self.expect_seq if self.expect_seq is not None else self.first_seq
        crc32 = zlib.crc32
        unpack_head = RECORD_HEAD.unpack_from
        head_limit = n - FIXED_SIZE  # a whole record head fits at off <= head_limit
        try:
            while off < n:
                if off > head_limit:
                    self.bad = (off, "record header cut short")
                    break
                crc, size, rtype, seq, t, attempt, worker, extra, reason, id_len = unpack_head(
                    data, off
                )
                end = off + 8 + size
                if size < _BODY_FIXED or end > n:
                    self.bad = (off, f"record size {size} runs past the end of the segment")
                    break
                if crc32(data[off + 4 : end]) != crc:
                    self.bad = (off, "checksum mismatch")
                    break
                # A record whose checksum holds was written whole: a torn write cannot explain a
                # wrong sequence number or type, so these are corruption, never a tail to cut.
                if seq != expect:
                    raise CorruptWALError(
                        self.path, off, f"sequence number {seq} where {expect} was expected"
                    )
                if not ENQUEUE <= rtype <= DEAD or id_len > size - _BODY_FIXED:
                    raise CorruptWALError(
                        self.path, off, f"unknown record type {rtype} or id length {id_len}"
                    )
                id_start = off + FIXED_SIZE
                id_end = id_start + id_len
                try:
                    job_id = data[id_start:id_end].decode()
                except UnicodeDecodeError:  # whole but nonsensical, like a bad type: corruption
                    raise CorruptWALError(self.path, off, "job id is not valid UTF-8") from None
                yield (
                    rtype,
                    seq,
                    t,
                    attempt,
                    worker,
                    extra,
                    reason,
                    job_id,
                    data[id_end:end] if id_end < end else b"",
                    off,
                )
                expect = seq + 1
                off = end
        finally:
            self.end = off
            if expect != first:
                self.last_seq = expect - 1
            self.expect_seq = expect

    def resume_at(self, off: int, expect: int) -> None:
        """A reader has checked and used every record before ``off`` (the last of them with
        seq ``expect - 1``): :meth:`records` goes on from there."""
        if off > HEADER_SIZE:
            self.last_seq = expect - 1
        self.end = off
        self.expect_seq = expect

    def valid_after_bad(self) -> int | None:
        """Offset of a valid record that continues the log after the bad one, else ``None``.

        A torn tail has nothing valid after it; a flipped bit or an overwritten record usually
        does. Candidates are found by searching for the next sequence numbers' bytes (C-speed),
        then checked in full, so a long garbage tail costs little."""
        if self.bad is None:
            return None
        data = self.data
        start = self.bad[0] + 1
        base = self.expect_seq if self.expect_seq is not None else self.first_seq
        for seq in range(base, base + _RESYNC_WINDOW):
            needle = _U64.pack(seq)
            pos = data.find(needle, start + 9)
            while pos != -1:
                cand = pos - 9
                if cand >= start and _valid_record_at(data, cand, seq):
                    return cand
                pos = data.find(needle, pos + 1)
        return None


def _valid_record_at(data: bytes, off: int, seq: int) -> bool:
    if off + FIXED_SIZE > len(data):
        return False
    crc, size = _SIZE_CRC.unpack_from(data, off)
    end = off + 8 + size
    if size < _BODY_FIXED or end > len(data):
        return False
    if zlib.crc32(data[off + 4 : end]) != crc:
        return False
    return _FIXED.unpack_from(data, off + 8)[1] == seq


class WALWriter:
    """Appends records to the newest segment. Single-threaded; callers serialise access."""

    def __init__(
        self,
        fs: FileSystem,
        wal_dir: str,
        next_seq: int,
        segment_bytes: int,
        segments: list[tuple[int, str]],
    ) -> None:
        self.fs = fs
        self.wal_dir = wal_dir
        self.segment_bytes = segment_bytes
        self.segments = list(segments)  # (first_seq, path), oldest first, including current
        self.next_seq = next_seq
        self.written_seq = next_seq - 1  # handed to the OS
        self.durable_seq = next_seq - 1  # fsynced
        self.bytes_total = 0
        self._buf = bytearray()
        self._handle: FileHandle | None = None
        self._closed_sizes: dict[str, int] = {}  # segments no longer appended to never change

    def bytes_on_disk(self) -> int:
        """Bytes in every segment still on disk plus the buffer, without a stat per call."""
        total = len(self._buf)
        current = self._handle
        for _, path in self.segments:
            if current is not None and path == current.path:
                total += current.size
                continue
            size = self._closed_sizes.get(path)
            if size is None:
                try:
                    size = self.fs.size(path)
                except FileNotFoundError:
                    size = 0
                self._closed_sizes[path] = size
            total += size
        return total

    # -- segments ---------------------------------------------------------------------------
    def open_new_segment(self) -> None:
        """Start a segment at ``next_seq``: header written and fsynced, directory fsynced."""
        path = os.path.join(self.wal_dir, segment_name(self.next_seq))
        handle = self.fs.create(path)
        prealloc = self.fs.can_preallocate
        self.fs.write(handle, encode_header(self.next_seq, PREALLOCATED if prealloc else 0))
        if prealloc:
            self.fs.preallocate(handle, self.segment_bytes)
        self.fs.fsync(handle)
        self.fs.fsync_dir(self.wal_dir)
        self._handle = handle
        self.segments.append((self.next_seq, path))

    def roll(self) -> None:
        """Finish the current segment durably and start the next one."""
        # Not ``sync()``: that rolls a full segment, and the segment being finished is full.
        self._write_and_fsync()
        if self._handle is not None:
            self.fs.release_preallocation(self._handle)  # before any newer segment exists
            self.fs.close(self._handle)
        self.open_new_segment()

    @property
    def segment_size(self) -> int:
        return self._handle.size + len(self._buf) if self._handle else 0

    # -- appending --------------------------------------------------------------------------
    def append(
        self,
        rtype: int,
        job_id: bytes,
        time: float,
        attempt: int = 0,
        worker: int = -1,
        extra: float = 0.0,
        reason: int = 0,
        payload: bytes = b"",
    ) -> int:
        """Encode one record into the buffer and return its seq. Not yet visible to the OS."""
        seq = self.next_seq
        self.next_seq = seq + 1
        frame_into(self._buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)
        return seq

    @property
    def buffered(self) -> int:
        return self.next_seq - 1 - self.written_seq

    def flush(self) -> None:
        """Hand buffered records to the OS: they now survive a process crash."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self.fs.write(self._handle, data)
            self.bytes_total += len(data)
        self.written_seq = self.next_seq - 1
        if self._handle.size >= self.segment_bytes:
            self.roll()

    def sync(self) -> None:
        """Flush and fsync: everything appended so far survives a power cut."""
        self._write_and_fsync()
        if self._handle.size >= self.segment_bytes:
            self.roll()

    def _write_and_fsync(self) -> None:
        """Write the buffer to the current segment and fsync it, without rolling."""
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self.fs.write(self._handle, data)
            self.bytes_total += len(data)
        self.written_seq = self.next_seq - 1
        if self.durable_seq < self.written_seq:
            self.fs.fsync(self._handle)
            self.durable_seq = self.written_seq

    def close(self, release: bool = True) -> None:
        """Close the current segment; with ``release`` (after a successful final sync) first cut
        its unused preallocated space, so a cleanly closed log ends at its last record."""
        if self._handle is not None:
            if release:
                self.fs.release_preallocation(self._handle)
            self.fs.close(self._handle)
            self._handle = None

    def abandon(self) -> None:
        """A process crash: user-space buffer lost, file descriptor closed by the kernel."""
        self._buf.clear()
        self.close(release=False)  # a killed process cuts nothing: its zeros stay

    def delete_segments_through(self, seq: int) -> list[str]:
        """Delete segments whose every record has seq <= ``seq`` (never the current one).

        Oldest first, each deletion made durable (directory fsync) before the next: a power cut
        may persist unsynced deletions in any order, and losing an older one while a newer one
        sticks would leave a gap in the log that recovery must refuse as corruption. Found by
        the crash campaign (:mod:`simqueue.testing.crashsim`)."""
        removed = []
        while len(self.segments) > 1 and self.segments[1][0] - 1 <= seq:
            _, path = self.segments.pop(0)
            self._closed_sizes.pop(path, None)
            self.fs.remove(path)
            self.fs.fsync_dir(self.wal_dir)
            removed.append(path)
        return removed


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
        scan = SegmentScan(path, fs.read_bytes(path), expect)
        last = i == len(segments) - 1
        if not scan.check_header():
            classify_bad_header(scan, last)
            return
        if expect is not None and scan.first_seq != expect:
            raise CorruptWALError(
                path, 0, f"segment starts at seq {scan.first_seq}, expected {expect}"
            )
        for r in scan.records():
            yield Record(r[1], r[0], r[7], r[2], r[3], r[4], r[5], r[6], r[8], path, r[9])
        if scan.bad is not None:
            classify_bad(scan, last)
            return
        expect = scan.expect_seq


def classify_bad(scan: SegmentScan, last_segment: bool) -> str:
    """Return ``"unused"`` for the zero tail of a preallocated last segment, ``"torn"`` for a
    tail recovery may cut, else raise :class:`CorruptWALError`."""
    assert scan.bad is not None
    offset, reason = scan.bad
    if last_segment and scan.flags & PREALLOCATED and _all_zero(scan.data, scan.end):
        return "unused"
    if not last_segment:
        raise CorruptWALError(scan.path, offset, f"{reason} (in a segment that is not the last)")
    later = scan.valid_after_bad()
    if later is not None:
        raise CorruptWALError(
            scan.path, offset, f"{reason}, and a valid record follows at byte offset {later}"
        )
    return "torn"


def _all_zero(data: bytes, start: int) -> bool:
    return not data[start:].strip(b"\x00")


def classify_bad_header(scan: SegmentScan, last_segment: bool) -> str:
    """Return ``"torn"`` for a segment whose creation never became durable, else raise
    :class:`CorruptWALError`.

    A new segment's header is fsynced (and its directory entry too) before any record goes into
    it, so a power cut can tear a header only while the file holds nothing else. A bad header
    with bytes after it (records that were durable) is corruption: dropping the file would
    silently lose acknowledged records."""
    reason = scan.header_bad or "bad header"
    if not last_segment:
        raise CorruptWALError(scan.path, 0, f"{reason} (in a segment that is not the last)")
    if not _all_zero(scan.data, HEADER_SIZE):
        raise CorruptWALError(
            scan.path,
            0,
            f"{reason}, and {len(scan.data) - HEADER_SIZE} bytes of records follow it",
        )
    return "torn"


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
            scan = SegmentScan(path, fs.read_bytes(path), expect)
            if not scan.check_header():
                classify_bad_header(scan, is_last)
                return VerifyReport(
                    "torn", count, len(segments), first, last, path, 0, scan.header_bad or ""
                )
            if expect is not None and scan.first_seq != expect:
                raise CorruptWALError(
                    path, 0, f"segment starts at seq {scan.first_seq}, expected {expect}"
                )
            for r in scan.records():
                count += 1
                first = first or r[1]
                last = r[1]
            if scan.bad is not None and classify_bad(scan, is_last) == "torn":
                return VerifyReport(
                    "torn", count, len(segments), first, last, path, scan.bad[0], scan.bad[1]
                )
            expect = scan.expect_seq
    except CorruptWALError as exc:
        return VerifyReport("corrupt", count, 0, first, last, exc.path, exc.offset, exc.reason)
    return VerifyReport("clean", count, len(segments), first, last)
