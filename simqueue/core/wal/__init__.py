"""The write-ahead log: binary, checksummed, segmented, replayable.

One module per concept:

* :mod:`~simqueue.core.wal.format`: the on-disk format (segment header, record layout, record
  types), written down in its docstring, and the pure-Python encoder and decoder;
* :mod:`~simqueue.core.wal.codec`: which framing and decoding this process runs, the optional C
  accelerator's (:mod:`~simqueue.core.wal.accel`) or the pure Python;
* :mod:`~simqueue.core.wal.writer`: :class:`WALWriter`, appending records to segments, and the
  writing rules that keep only the last segment tearable;
* :mod:`~simqueue.core.wal.scan`: :class:`SegmentScan`, one segment's records, and the reading
  rules that tell a torn tail from unused space and from corruption;
* :mod:`~simqueue.core.wal.reader`: the whole log read-only: :func:`iter_records` (``simqueue
  wal dump``) and :func:`verify` (``simqueue wal verify``).

Every name those modules offer the rest of simqueue is importable from here. Replay looks
:data:`decode_plain` up here; the writer looks ``frame_into`` up in
:mod:`~simqueue.core.wal.writer`.
"""

from __future__ import annotations

from simqueue.core.wal import accel
from simqueue.core.wal.codec import decode_plain, frame_into
from simqueue.core.wal.format import (
    ACK,
    DEAD,
    DISPATCH,
    ENQUEUE,
    FIXED_SIZE,
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    MAX_RECORD_SIZE,
    NO_TIMEOUT,
    PREALLOCATED,
    REASON_CODES,
    REASON_NAMES,
    RECORD_HEAD,
    RETRY,
    SEGMENT_SUFFIX,
    TYPE_NAMES,
    RawRecord,
    encode_header,
    encode_record,
    segment_name,
)
from simqueue.core.wal.reader import Record, VerifyReport, iter_records, list_segments, verify
from simqueue.core.wal.scan import SegmentScan, classify_bad, classify_bad_header
from simqueue.core.wal.writer import WALWriter

__all__ = [
    "ACK",
    "DEAD",
    "DISPATCH",
    "ENQUEUE",
    "FIXED_SIZE",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_RECORD_SIZE",
    "NO_TIMEOUT",
    "PREALLOCATED",
    "REASON_CODES",
    "REASON_NAMES",
    "RECORD_HEAD",
    "RETRY",
    "SEGMENT_SUFFIX",
    "TYPE_NAMES",
    "RawRecord",
    "Record",
    "SegmentScan",
    "VerifyReport",
    "WALWriter",
    "accel",
    "classify_bad",
    "classify_bad_header",
    "decode_plain",
    "encode_header",
    "encode_record",
    "frame_into",
    "iter_records",
    "list_segments",
    "segment_name",
    "verify",
]
