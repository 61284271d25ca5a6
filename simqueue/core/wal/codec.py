"""The codec this process uses: the C accelerator's framing and decoding, or the pure Python.

Framing a record and decoding the records that need no judgement are the WAL's two hot loops.
Each has a pure-Python implementation in :mod:`simqueue.core.wal.format` (:func:`frame_into_py`,
:func:`decode_plain_py`) and the same in C, in the optional accelerator
``simqueue/core/wal/_codec.c`` (loaded by :mod:`simqueue.core.wal.accel`: built when the package
is installed and a C compiler is at hand; ``SIMQUEUE_PURE_PYTHON=1`` turns it off). Both write
and read exactly the bytes the format describes (tests check them against each other and
against :func:`~simqueue.core.wal.format.encode_record`).

The writer looks :data:`frame_into` up in :mod:`simqueue.core.wal.writer`, replay looks
:data:`decode_plain` up in :mod:`simqueue.core.wal` (the package): patch those names there to
run another codec.
"""

from __future__ import annotations

from collections.abc import Callable

from simqueue.core.wal.accel import accelerated
from simqueue.core.wal.format import RawRecord, decode_plain_py, frame_into_py

#: ``frame_into(buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)``
FrameInto = Callable[[bytearray, int, int, float, int, int, float, int, bytes, bytes], None]
#: ``decode_plain(data, off, expect, limit) -> (records, off, expect)``
DecodePlain = Callable[[bytes, int, int, int], tuple[list[RawRecord], int, int]]

frame_into: FrameInto = accelerated("frame_into", frame_into_py)
decode_plain: DecodePlain = accelerated("decode_plain", decode_plain_py)
