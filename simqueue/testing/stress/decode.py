"""An independent decoder of a data directory: the WAL segments and the newest snapshot, read
from the formats written down in the docstrings of :mod:`simqueue.core.wal.format`,
:mod:`simqueue.core.snapshot` and :mod:`simqueue.core.snapframe`, without their readers (no
``wal.scan``, no ``wal.reader``, no ``snapshot.read_snapshot``), so a reader bug cannot hide an
acknowledgement the files do not hold.

:func:`decode_dir` gives every job the files hold (the newest snapshot whose checksum holds,
then the WAL after it) and every *problem*: a record out of sequence, a job enqueued twice, a job
completed twice, a record about a job never enqueued, a damaged non-last segment, a snapshot
beyond the end of the log. Each problem names the file and the byte offset.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

ENQUEUE, DISPATCH, ACK, RETRY, DEAD = 1, 2, 3, 4, 5
_MAGIC = b"SQWAL\n"
_HEADER = struct.Struct("<6sHQI")  # magic, version, first_seq, flags; a u32 CRC follows
_HEADER_SIZE = _HEADER.size + 4
_HEAD = struct.Struct("<IIBQdIidBH")  # crc, size, type, seq, time, attempt, worker, extra,
#                                       reason, id_len: the 44 bytes before the job id
_BODY_FIXED = _HEAD.size - 8  # counted in size
_SEGMENT = re.compile(r"^(\d{20})\.wal$")
_SNAP = re.compile(r"^snap-(\d{20})\.snap$")
# A job row of a snapshot or chunk: state, attempt, timeout, enqueued_at, first_dispatch_at,
# finished_at, worker, deadline, ready_at, ready_seq, reason, id length, payload length.
_ROW = struct.Struct("<BIddddiddQBHI")
_STATES = {0: "pending", 1: "in_flight", 2: "completed", 3: "dead"}


@dataclass(frozen=True, slots=True)
class Rec:
    """One WAL record and where it is."""

    seq: int
    type: int
    job_id: str
    attempt: int
    path: str
    offset: int


@dataclass
class Decoded:
    """What a data directory holds, by this decoder."""

    jobs: dict[str, list[Any]] = field(default_factory=dict)  # id -> [state, attempt]
    records: list[Rec] = field(default_factory=list)
    enqueue_seq: dict[str, int] = field(default_factory=dict)  # ENQUEUEs still in the WAL
    ack_seqs: dict[str, list[int]] = field(default_factory=dict)
    snapshot_seq: int = 0
    snapshot_path: str | None = None
    log_end: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def decode_segments(wal_dir: str, out: Decoded) -> None:
    """Every record of every segment, in order; seqs must run on by exactly 1."""
    names = sorted(n for n in _listdir(wal_dir) if _SEGMENT.match(n))
    expect: int | None = None
    for k, name in enumerate(names):
        path = os.path.join(wal_dir, name)
        with open(path, "rb") as fh:
            data = fh.read()
        last = k == len(names) - 1
        first = _segment_header(path, data, int(name[:20]), last, out)
        if first is None:
            continue
        if expect is not None and first != expect:
            out.problems.append(f"{path}: segment starts at seq {first}; seq {expect} expected")
        expect = _segment_records(path, data, first, last, out)
        out.log_end = expect - 1


def _segment_header(path: str, data: bytes, named: int, last: bool, out: Decoded) -> int | None:
    if len(data) < _HEADER_SIZE or data.count(0, 0, _HEADER_SIZE) == _HEADER_SIZE:
        if last and data.count(0) == len(data):
            out.notes.append(f"{path}: an empty last segment ({len(data)} zero bytes)")
            return None
        out.problems.append(f"{path}: segment header cut short or zeroed ({len(data)} bytes)")
        return None
    magic, version, first, _flags = _HEADER.unpack_from(data, 0)
    (crc,) = struct.unpack_from("<I", data, _HEADER.size)
    if magic != _MAGIC or version != 1 or zlib.crc32(data[: _HEADER.size]) != crc:
        out.problems.append(f"{path}: bad segment header at byte 0: {data[:_HEADER_SIZE]!r}")
        return None
    if first != named:
        out.problems.append(f"{path}: header says first seq {first}, the name says {named}")
    return int(first)


def _segment_records(path: str, data: bytes, expect: int, last: bool, out: Decoded) -> int:
    """Decode the records of one segment from ``expect`` on; the seq after its last one."""
    off, n = _HEADER_SIZE, len(data)
    while off < n:
        if data[off : off + 8] == bytes(8) and data.count(0, off) == n - off:
            break  # unused (preallocated) space
        whole, bad = _bad_record(data, off, expect)
        if bad:
            where = f"{path}: byte {off}: {bad}"
            if last and not whole:
                out.notes.append(f"torn tail: {where} ({n - off} bytes to the end)")
            else:
                out.problems.append(where)
            break
        _crc, size, rtype, seq, _t, attempt, _w, _x, _r, id_len = _HEAD.unpack_from(data, off)
        job_id = data[off + _HEAD.size : off + _HEAD.size + id_len].decode("utf-8", "replace")
        out.records.append(Rec(seq, rtype, job_id, attempt, path, off))
        expect = seq + 1
        off += 8 + size
    return expect


def _bad_record(data: bytes, off: int, expect: int) -> tuple[bool, str]:
    """Whether the record at ``off`` is whole (its checksum holds), and why it does not check
    out ('' if it does). Only a record that is not whole may be a torn tail."""
    n = len(data)
    if off + _HEAD.size > n:
        return False, f"record head cut short ({n - off} bytes)"
    crc, size, rtype, seq, *_rest, id_len = _HEAD.unpack_from(data, off)
    if size < _BODY_FIXED or id_len > size - _BODY_FIXED or off + 8 + size > n:
        return False, f"record size {size} does not fit"
    if zlib.crc32(data[off + 4 : off + 8 + size]) != crc:
        return False, "checksum mismatch"
    if not ENQUEUE <= rtype <= DEAD:
        return True, f"unknown record type {rtype}"
    if seq != expect:
        return True, f"a whole record with seq {seq} where seq {expect} was expected"
    return True, ""


def decode_snapshot(snap_dir: str, out: Decoded) -> None:
    """The newest snapshot whose checksums hold (older ones are the fallback): its jobs."""
    names = sorted((n for n in _listdir(snap_dir) if _SNAP.match(n)), reverse=True)
    for name in names:
        path = os.path.join(snap_dir, name)
        try:
            last_seq, jobs = _read_snapshot(snap_dir, path, out)
        except (ValueError, KeyError, TypeError, OSError, struct.error) as exc:
            out.notes.append(f"{path}: passed over: {exc}")
            continue
        out.snapshot_seq, out.snapshot_path, out.jobs = last_seq, path, jobs
        return


def _read_snapshot(snap_dir: str, path: str, out: Decoded) -> tuple[int, dict[str, list[Any]]]:
    last_seq, body = _unframe(path, b"SQSNAP")
    nl = body.index(b"\n")
    meta = json.loads(body[:nl])
    jobs: dict[str, list[Any]] = {}
    where = f"{path} (live jobs)"
    _rows(body, nl + 1, jobs, where, out)
    if sum(1 for _ in jobs) != meta["live"]:
        raise ValueError(f"{len(jobs)} live rows where the description says {meta['live']}")
    for chunk in meta["chunks"]:
        name = chunk["name"]
        if not re.match(r"^done-\d{20}\.jobs$", name):
            raise ValueError(f"a chunk with a bad name {name!r}")
        cpath = os.path.join(snap_dir, name)
        try:
            _seq, cbody = _unframe(cpath, b"SQDONE")
        except (ValueError, OSError) as exc:  # a chunk may have a copy (snapshot schema 2)
            out.notes.append(f"{cpath}: {exc}; reading its copy")
            cpath += ".copy"
            _seq, cbody = _unframe(cpath, b"SQDONE")
        _rows(cbody, 0, jobs, cpath, out)
    return last_seq, jobs


def _unframe(path: str, magic: bytes) -> tuple[int, bytes]:
    """Header line ``MAGIC schema last_seq body_bytes crc32hex`` (from schema 2 on, then the
    CRC-32 of the line before its last space): (last_seq, checked body)."""
    with open(path, "rb") as fh:
        data = fh.read()
    nl = data.index(b"\n", 0, 200)
    parts = data[:nl].split(b" ")
    if parts[0] != magic or len(parts) not in (5, 6):
        raise ValueError(f"bad header line {data[:nl][:60]!r}")
    head, _, own = data[:nl].rpartition(b" ")
    if len(parts) == 6 and int(own, 16) != zlib.crc32(head):
        raise ValueError(f"header line checksum mismatch: {data[:nl][:60]!r}")
    body = data[nl + 1 :]
    if len(body) != int(parts[3]) or zlib.crc32(body) != int(parts[4], 16):
        raise ValueError(f"the body ({len(body)} bytes) does not match its header line")
    return int(parts[2]), body


def _rows(body: bytes, off: int, jobs: dict[str, list[Any]], where: str, out: Decoded) -> None:
    n = len(body)
    while off < n:
        state, attempt, *_mid, id_len, p_len = _ROW.unpack_from(body, off)
        start = off + _ROW.size
        job_id = body[start : start + id_len].decode()
        if job_id in jobs:
            out.problems.append(f"{where}: job {job_id} twice (row at byte {off})")
        jobs[job_id] = [_STATES[state], attempt]
        off = start + id_len + p_len
    if off != n:
        raise ValueError(f"{where}: the last row runs past the end")


def apply_log(out: Decoded) -> None:
    """The WAL after the snapshot, applied to its jobs; and what the whole WAL must not hold."""
    s = out.snapshot_seq
    if out.records and out.records[0].seq > s + 1:
        r = out.records[0]
        out.problems.append(
            f"the log starts at seq {r.seq} ({r.path}); the snapshot covers only through {s}"
        )
    if out.log_end < s and (out.records or out.snapshot_path):
        out.problems.append(
            f"snapshot {out.snapshot_path} is at seq {s}, the log ends at {out.log_end}"
        )
    for r in out.records:
        where = f"seq {r.seq} ({r.path} byte {r.offset})"
        if r.type == ENQUEUE:
            _enqueue(out, r, where)
        elif r.type == ACK:
            out.ack_seqs.setdefault(r.job_id, []).append(r.seq)
            if len(out.ack_seqs[r.job_id]) == 2:
                out.problems.append(f"job {r.job_id} has a second ACK at {where}")
        if r.seq <= s:
            continue
        job = out.jobs.get(r.job_id)
        if job is None:
            out.problems.append(f"{where} is about job {r.job_id}, which was never enqueued")
        elif r.type != ENQUEUE:
            _transition(out, job, r, where)


_AFTER = {DISPATCH: "in_flight", ACK: "completed", RETRY: "pending", DEAD: "dead"}
_NAMES = {DISPATCH: "DISPATCH", ACK: "ACK", RETRY: "RETRY", DEAD: "DEAD"}


def _transition(out: Decoded, job: list[Any], r: Rec, where: str) -> None:
    """Apply one record to its job: a DISPATCH starts the next attempt of a pending job; ACK,
    RETRY and DEAD end the attempt in flight. Anything else is a problem."""
    state, attempt = job
    if r.type == DISPATCH:
        ok = state == "pending" and r.attempt == attempt + 1
    else:
        ok = state == "in_flight" and r.attempt == attempt
    if not ok:
        out.problems.append(
            f"{where}: {_NAMES[r.type]} of job {r.job_id} attempt {r.attempt}, but the job is "
            f"{state} at attempt {attempt}"
        )
    job[0], job[1] = _AFTER[r.type], r.attempt


def _enqueue(out: Decoded, r: Rec, where: str) -> None:
    prev = out.enqueue_seq.setdefault(r.job_id, r.seq)
    if prev != r.seq:
        out.problems.append(f"job {r.job_id} enqueued twice: seq {prev} and {where}")
    if r.seq > out.snapshot_seq:
        if r.job_id in out.jobs:
            out.problems.append(
                f"job {r.job_id}: ENQUEUE at {where}, but snapshot {out.snapshot_path} already "
                "holds it"
            )
        else:
            out.jobs[r.job_id] = ["pending", 0]
    elif r.job_id not in out.jobs:
        out.problems.append(
            f"job {r.job_id}: enqueued at {where}, not in snapshot {out.snapshot_path} at seq "
            f"{out.snapshot_seq}"
        )


def decode_dir(data_dir: str) -> Decoded:
    """Decode ``data_dir`` (read only): snapshot, WAL, and the jobs they hold together."""
    out = Decoded()
    decode_snapshot(os.path.join(data_dir, "snapshots"), out)
    decode_segments(os.path.join(data_dir, "wal"), out)
    apply_log(out)
    return out


def audit(data_dir: str, acked: list[str]) -> tuple[Decoded, list[str]]:
    """The decoded directory and every violation: its problems, then each acknowledged job
    that it does not hold."""
    d = decode_dir(data_dir)
    missing = [i for i in acked if i not in d.jobs]
    bad = list(d.problems)
    if missing:
        bad.append(f"{len(missing)} acknowledged job(s) missing from {data_dir}: {missing[:10]}")
    return d, bad


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []
