"""The write-ahead log's on-disk format, and its pure-Python encoder and decoder.

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

What a reader makes of bytes that do not check out (a torn tail, unused preallocated space, or
corruption) is in :mod:`simqueue.core.wal.scan`; how the writer keeps the log that way, in
:mod:`simqueue.core.wal.writer`.

The pure-Python codec
---------------------
:func:`frame_into_py` frames a record into the writer's buffer and :func:`decode_plain_py`
decodes the records that need no judgement: the WAL's two hot loops. The optional C accelerator
does the same, byte for byte (:mod:`simqueue.core.wal.codec` chooses which one runs).
"""

from __future__ import annotations

import math
import struct
import zlib

MAGIC = b"SQWAL\n"
FORMAT_VERSION = 1
SEGMENT_SUFFIX = ".wal"

HEADER = struct.Struct("<6sHQI")  # magic, version, first_seq, flags (crc follows)
HEADER_SIZE = HEADER.size + 4
SIZE_CRC = struct.Struct("<II")  # crc, size
FIXED = struct.Struct("<BQdIidBH")  # type .. id_len
FIXED_SIZE = 8 + FIXED.size  # 44
BODY_FIXED = FIXED.size  # 36: counted in size
_SIZE_FIXED = struct.Struct("<IBQdIidBH")  # size, then the fixed fields: what the CRC covers
# The whole 44-byte record head (crc, size, then the fixed fields): one unpack for readers.
RECORD_HEAD = struct.Struct("<IIBQdIidBH")
U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
_crc32 = zlib.crc32

#: Segment header flag: allocated to its full size when created (zeros after the records are
#: unused space, see :mod:`simqueue.core.wal.scan`).
PREALLOCATED = 1

ENQUEUE, DISPATCH, ACK, RETRY, DEAD = 1, 2, 3, 4, 5
TYPE_NAMES = {ENQUEUE: "ENQUEUE", DISPATCH: "DISPATCH", ACK: "ACK", RETRY: "RETRY", DEAD: "DEAD"}
REASON_CODES = {"": 0, "failed": 1, "timeout": 2, "interrupted": 3}
REASON_NAMES = {v: k for k, v in REASON_CODES.items()}
MAX_RECORD_SIZE = 64 * 1024 * 1024
NO_TIMEOUT = math.nan

#: A decoded record as the readers pass it on:
#: ``(rtype, seq, time, attempt, worker, extra, reason, job_id, payload, offset)``.
RawRecord = tuple[int, int, float, int, int, float, int, str, bytes, int]


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
    """Frame one record, step by step as the format above reads (for tests and tools; the
    writer uses the codec's :func:`~simqueue.core.wal.codec.frame_into`)."""
    body = FIXED.pack(rtype, seq, time, attempt, worker, extra, reason, len(job_id))
    size = BODY_FIXED + len(job_id) + len(payload)
    size_b = U32.pack(size)
    crc = zlib.crc32(payload, zlib.crc32(job_id, zlib.crc32(body, zlib.crc32(size_b))))
    return U32.pack(crc) + size_b + body + job_id + payload


def encode_header(first_seq: int, flags: int = 0) -> bytes:
    """A segment header for a segment whose first record is ``first_seq``."""
    head = HEADER.pack(MAGIC, FORMAT_VERSION, first_seq, flags)
    return head + U32.pack(zlib.crc32(head))


def segment_name(first_seq: int) -> str:
    """The file name of the segment whose first record is ``first_seq``."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def frame_into_py(
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
            BODY_FIXED + n_id + len(payload),
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
    buf += U32.pack(_crc32(rec))
    buf += rec


def decode_plain_py(
    data: bytes, off: int, expect: int, limit: int
) -> tuple[list[RawRecord], int, int]:
    """Decode up to ``limit`` records from ``off`` that need no judgement (whole, checksum right,
    seq ``expect`` and on, a known type, a UTF-8 id) into :data:`RawRecord` tuples.
    Stops at the first record that is anything else; returns (records, its offset, its expected
    seq), so the caller hands the rest to :meth:`~simqueue.core.wal.scan.SegmentScan.records`,
    which judges it."""
    out: list[RawRecord] = []
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
            or size < BODY_FIXED
            or id_len > size - BODY_FIXED
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
