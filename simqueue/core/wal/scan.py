"""Reading one segment: its records, and what its bytes are when they do not check out.

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
  ever skipped silently.

The record layout is in :mod:`simqueue.core.wal.format`.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator

from simqueue.core.errors import CorruptWALError
from simqueue.core.wal.format import (
    BODY_FIXED,
    DEAD,
    ENQUEUE,
    FIXED,
    FIXED_SIZE,
    FORMAT_VERSION,
    HEADER,
    HEADER_SIZE,
    MAGIC,
    PREALLOCATED,
    RECORD_HEAD,
    SIZE_CRC,
    U32,
    U64,
    RawRecord,
)

_NOT_UTF8 = "job id is not valid UTF-8"
_RECORD_TYPES = frozenset(range(ENQUEUE, DEAD + 1))


class SegmentScan:
    """Decode one segment's bytes. Iterate :meth:`records` for :data:`RawRecord` tuples
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
        """Read the segment header: ``False`` (with ``header_bad`` saying why) for one a torn
        creation could explain, :class:`CorruptWALError` for one nothing innocent explains."""
        data = self.data
        if len(data) < HEADER_SIZE:
            self.header_bad = f"segment header is short ({len(data)} of {HEADER_SIZE} bytes)"
            return False
        magic, version, first_seq, flags = HEADER.unpack_from(data, 0)
        (crc,) = U32.unpack_from(data, HEADER.size)
        if magic != MAGIC or crc != zlib.crc32(data[: HEADER.size]):
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

    def records(self) -> Iterator[RawRecord]:
        """Every record from ``end`` on that checks out; at the first that does not, ``bad``
        is set (a tear's reason) or :class:`CorruptWALError` raised (see :meth:`_judge`)."""
        # The whole 44-byte record head in one unpack, and the CRC over a bytes slice (for
        # records this small much cheaper than a memoryview slice); the fields are trusted only
        # once every check holds. ``end`` and ``last_seq`` are stored once, when the loop stops.
        data = self.data
        n = len(data)
        off = self.end or HEADER_SIZE  # a reader that went ahead (see ``resume_at``) set it
        first = expect = self.expect_seq if self.expect_seq is not None else self.first_seq
        crc32 = zlib.crc32
        unpack_head = RECORD_HEAD.unpack_from
        head_limit = n - FIXED_SIZE  # a whole record head fits at off <= head_limit
        try:
            while off < n:
                if off <= head_limit:
                    crc, size, rtype, seq, t, attempt, worker, extra, reason, id_len = unpack_head(
                        data, off
                    )
                    end = off + 8 + size
                    if (
                        size >= BODY_FIXED
                        and end <= n
                        and seq == expect
                        and rtype in _RECORD_TYPES
                        and id_len <= size - BODY_FIXED
                        and crc32(data[off + 4 : end]) == crc
                    ):
                        id_start = off + FIXED_SIZE
                        id_end = id_start + id_len
                        try:
                            job_id = data[id_start:id_end].decode()
                        except UnicodeDecodeError:  # whole but nonsensical: corruption
                            raise CorruptWALError(self.path, off, _NOT_UTF8) from None
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
                        continue
                self.bad = self._judge(off, expect)
                break
        finally:
            self.end = off
            if expect != first:
                self.last_seq = expect - 1
            self.expect_seq = expect

    def _judge(self, off: int, expect: int) -> tuple[int, str]:
        """The record at ``off`` failed a check of :meth:`records`: return ``(off, reason)``
        for a failure a torn write explains, raise :class:`CorruptWALError` for the others.
        Checks in the order of the reading rules, each with its own message."""
        data = self.data
        n = len(data)
        if off > n - FIXED_SIZE:
            return off, "record header cut short"
        crc, size, rtype, seq, _t, _a, _w, _e, _r, id_len = RECORD_HEAD.unpack_from(data, off)
        end = off + 8 + size
        if size < BODY_FIXED or end > n:
            return off, f"record size {size} runs past the end of the segment"
        if zlib.crc32(data[off + 4 : end]) != crc:
            return off, "checksum mismatch"
        # A record whose checksum holds was written whole: a torn write cannot explain a wrong
        # sequence number or type, so these are corruption, never a tail to cut.
        if seq != expect:
            raise CorruptWALError(
                self.path, off, f"sequence number {seq} where {expect} was expected"
            )
        # The one check left (records() calls this only for a record that failed one).
        raise CorruptWALError(self.path, off, f"unknown record type {rtype} or id length {id_len}")

    def resume_at(self, off: int, expect: int) -> None:
        """A reader has checked and used every record before ``off`` (the last of them with
        seq ``expect - 1``): :meth:`records` goes on from there."""
        if off > HEADER_SIZE:
            self.last_seq = expect - 1
        self.end = off
        self.expect_seq = expect

    def valid_after_bad(self) -> int | None:
        """Offset of the first valid record that continues the log after the bad one, else
        ``None``.

        A torn tail has nothing valid after it; a flipped bit, an overwritten record or a
        zeroed page usually does, however many records the damage spans. Every offset up to
        the segment's end is a candidate: a regular expression finds, at C speed, the ones whose
        type byte is a known type and whose seq has the right high bytes; only those are
        checked in full (seq after the last good one, and no higher than the bytes between
        could hold, then the checksum). Linear in the segment's size."""
        if self.bad is None:
            return None
        data = self.data
        bad = self.bad[0]
        expect = self.expect_seq if self.expect_seq is not None else self.first_seq
        highest = expect + (len(data) - bad) // FIXED_SIZE  # records are >= FIXED_SIZE bytes
        found: int | None = None
        for top in range(expect >> 24, (highest >> 24) + 1):
            for m in _candidates(top).finditer(data, bad + 1 + 8):
                cand = m.start() - 8
                if found is not None and cand >= found:
                    break
                (seq,) = U64.unpack_from(data, cand + 9)
                if expect <= seq <= expect + (cand - bad) // FIXED_SIZE and _valid_record_at(
                    data, cand, seq
                ):
                    found = cand
                    break
        return found


def _candidates(top: int) -> re.Pattern[bytes]:
    """A known type byte followed, 4 bytes on, by the 5 high bytes ``top`` of a seq (a record's
    type is at offset 8, its seq at 9..16)."""
    high = re.escape(top.to_bytes(5, "little"))
    return re.compile(b"[\\x%02x-\\x%02x](?=[\\x00-\\xff]{3}" % (ENQUEUE, DEAD) + high + b")")


def _valid_record_at(data: bytes, off: int, seq: int) -> bool:
    if off + FIXED_SIZE > len(data):
        return False
    crc, size = SIZE_CRC.unpack_from(data, off)
    end = off + 8 + size
    if size < BODY_FIXED or end > len(data):
        return False
    if zlib.crc32(data[off + 4 : end]) != crc:
        return False
    found: int = FIXED.unpack_from(data, off + 8)[1]
    return found == seq


def classify_bad(scan: SegmentScan, last_segment: bool) -> str:
    """Return ``"unused"`` for the zero tail of a preallocated last segment, ``"torn"`` for a
    tail recovery may cut, else raise :class:`CorruptWALError`."""
    if scan.bad is None:
        raise ValueError("classify_bad needs a scan that stopped at a bad record")
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
