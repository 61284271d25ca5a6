"""Snapshots: the whole queue state at one sequence number, written atomically.

Layout in ``DIR/snapshots/``::

    snap-<last_seq:020d>.snap   header line, one line of JSON (schema, last_seq, time, chunk
                                list, counters), then the live jobs (pending in dispatch order,
                                then in flight) as packed rows (struct, see ``_ROW``)
    done-<last_seq:020d>.jobs   header line + packed rows (struct, see ``_ROW``): jobs that
                                finished (COMPLETED or DEAD) since the previous snapshot
    done-<last_seq:020d>.jobs.copy   the same bytes: consecutive snapshots share chunks, so
                                a chunk is read from its copy when damaged or missing

Finished jobs never change again, so each snapshot writes only the jobs that finished since the
previous one into a new immutable *chunk* and lists every chunk it relies on (name, size, CRC,
level). Chunks are merged in tiers, as a log-structured merge tree does: a new chunk is level
0, and whenever the newest ``MERGE_FANIN`` chunks share a level they become one chunk a level
up. A finished job is rewritten once per level (a handful of times over a queue's life, not
once every few snapshots), and a snapshot lists at most ``MERGE_FANIN - 1`` chunks per level.
A snapshot's cost therefore grows with the live jobs and the recent work, not with everything
the queue has ever done.

Both kinds start with a header line (``SQSNAP``, ``SQDONE`` for chunks) that carries the
schema, ``last_seq``, the body's size and CRC, and its own CRC (:mod:`simqueue.core.snapframe`).
Writing follows SQLite's and etcd's rule: temp file, fsync, rename, fsync the directory.
Nothing here is ever unpickled or evaluated: JSON and struct only.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import zlib
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from simqueue.core.errors import CorruptSnapshotError
from simqueue.core.jobs import COMPLETED, DEAD, IN_FLIGHT, PENDING, JobRecord, JobState
from simqueue.core.snapframe import SCHEMA_VERSION, NewerSchemaError
from simqueue.core.snapframe import frame as _frame
from simqueue.core.snapframe import unframe as _unframe
from simqueue.core.storage import FileSystem

MERGE_FANIN = 16
SNAP_PREFIX, SNAP_SUFFIX = "snap-", ".snap"
CHUNK_PREFIX, CHUNK_SUFFIX = "done-", ".jobs"
TMP_SUFFIX = ".tmp"
#: A chunk's copy: ``done-<last_seq>.jobs.copy``, the same bytes.
COPY_SUFFIX = ".copy"

_STATE_CODE = {PENDING: 0, IN_FLIGHT: 1, COMPLETED: 2, DEAD: 3}
_CODE_STATE: dict[int, JobState] = {v: k for k, v in _STATE_CODE.items()}
#: Puts a snapshot's bytes in place durably and returns its path: (fs, snap_dir, name, data).
SnapshotWriter = Callable[[FileSystem, str, str, bytes], str]
#: A writer used instead of the engine's (temp file, fsync, rename, directory fsync), in the
#: context that sets it only: ``simqueue.testing.grading`` grades a learner's with it.
SNAPSHOT_WRITER: ContextVar[SnapshotWriter | None] = ContextVar("snapshot_writer", default=None)


def snapshot_name(last_seq: int) -> str:
    return f"{SNAP_PREFIX}{last_seq:020d}{SNAP_SUFFIX}"


def chunk_name(last_seq: int) -> str:
    return f"{CHUNK_PREFIX}{last_seq:020d}{CHUNK_SUFFIX}"


# One job as a packed row, in chunks (finished jobs) and after a snapshot's description line
# (live jobs): state, attempt, timeout (NaN: none), enqueued_at, first_dispatch_at (NaN: never),
# finished_at (NaN: not yet), worker, deadline, ready_at, ready_seq, reason code, id length,
# payload length; then the UTF-8 id and the payload's JSON bytes. Rows are written at every
# snapshot, so they are packed with struct (several times cheaper than JSON); struct, never
# pickle: nothing in a snapshot executes.
_ROW = struct.Struct("<BIddddiddQBHI")
_REASON_CODE = {"": 0, "failed": 1, "timeout": 2, "interrupted": 3}
_CODE_REASON = {v: k for k, v in _REASON_CODE.items()}
_NAN = math.nan


def encode_jobs(recs: list[JobRecord]) -> bytes:
    """Pack job records into rows (see ``_ROW``)."""
    pack = _ROW.pack
    parts: list[bytes] = []
    append = parts.append
    for r in recs:
        fd, fin = r.first_dispatch_at, r.finished_at
        append(
            pack(
                _STATE_CODE[r.state],
                r.attempt,
                _NAN if r.timeout is None else r.timeout,
                r.enqueued_at,
                _NAN if fd is None else fd,
                _NAN if fin is None else fin,
                r.worker,
                r.deadline,
                r.ready_at,
                r.ready_seq,
                _REASON_CODE.get(r.reason, 0),
                len(r.id_bytes),
                len(r.payload_raw),
            )
        )
        append(r.id_bytes)
        if r.payload_raw:
            append(r.payload_raw)
    return b"".join(parts)


def decode_jobs(path: str, body: bytes) -> list[JobRecord]:
    """Inverse of :func:`encode_jobs`; a row that runs past the end, or names no state, is
    corruption of ``path``."""
    out = []
    unpack = _ROW.unpack_from
    size = _ROW.size
    off = 0
    n = len(body)
    while off < n:
        if off + size > n:
            raise CorruptSnapshotError(path, f"job row cut short at byte {off}")
        (state, attempt, timeout, enq, fd, fin, worker, deadline, ready_at, ready_seq, reason,
         id_len, p_len) = unpack(body, off)  # fmt: skip
        off += size
        end = off + id_len + p_len
        if end > n or state not in _CODE_STATE:
            raise CorruptSnapshotError(path, f"bad job row ending at byte {end}")
        rec = JobRecord(
            body[off : off + id_len].decode(),
            body[off + id_len : end],
            None if timeout != timeout else timeout,
            enq,
            ready_seq,
        )
        rec.state = _CODE_STATE[state]
        rec.attempt = attempt
        rec.first_dispatch_at = None if fd != fd else fd
        rec.finished_at = None if fin != fin else fin
        rec.worker = worker
        rec.deadline = deadline
        rec.ready_at = ready_at
        rec.reason = _CODE_REASON.get(reason, "")
        out.append(rec)
        off = end
    return out


def _meta(body: bytes) -> dict[str, Any]:
    """The snapshot's first line: its JSON description."""
    nl = body.find(b"\n")
    doc = json.loads(body if nl < 0 else body[:nl])
    if not isinstance(doc, dict):
        raise ValueError("snapshot description is not a JSON object")
    return doc


def snapshot_chunk_names(fs: FileSystem, path: str) -> set[str]:
    """Names of the chunks a snapshot relies on (reads only the snapshot file)."""
    _, body, _ = _unframe(path, fs.read_bytes(path), "SQSNAP")
    try:
        return {m["name"] for m in _meta(body)["chunks"]}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CorruptSnapshotError(path, f"unreadable body: {exc}") from None


@dataclass
class SnapshotState:
    """What a snapshot holds, ready for the store to adopt."""

    last_seq: int
    time: float
    live: list[JobRecord]  # pending (in dispatch order) then in flight (in dispatch order)
    finished: list[JobRecord]
    chunks: list[dict[str, Any]]
    counters: dict[str, int]
    path: str = ""
    skipped: list[str] = field(default_factory=list)
    #: (chunk path, its good bytes) for each chunk read from its copy: damaged or missing.
    repairs: list[tuple[str, bytes]] = field(default_factory=list)


def write_chunk(
    fs: FileSystem, snap_dir: str, last_seq: int, body: bytes, level: int = 0, upto: int = 0
) -> dict[str, Any]:
    """Write a finished-jobs chunk and its copy atomically (minus the directory fsync, done by
    the caller). Its ``crc`` in the snapshot's list is the body's, the one its header line
    carries too; ``upto`` is the ordinal of the newest finished job it holds."""
    name = chunk_name(last_seq)
    path = os.path.join(snap_dir, name)
    crc = zlib.crc32(body)
    data = _frame("SQDONE", last_seq, body, crc)
    for target in (path, path + COPY_SUFFIX):
        tmp = target + TMP_SUFFIX
        fs.write_file_durably(tmp, data)
        fs.rename(tmp, target)
    return {"name": name, "bytes": len(data), "crc": crc, "level": level, "upto": upto}


_CHUNK_NAME = re.compile(r"^" + re.escape(CHUNK_PREFIX) + r"\d{20}" + re.escape(CHUNK_SUFFIX) + "$")


def read_chunk_body(
    fs: FileSystem,
    snap_dir: str,
    meta: dict[str, Any],
    repairs: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """The body of a chunk a snapshot lists, from the chunk or, if that is damaged or missing,
    from its copy (then ``(chunk path, good bytes)`` is added to ``repairs``)."""
    name = meta["name"]
    # A snapshot names files to read: only a chunk name of our own shape may become a path, so a
    # damaged or hostile snapshot cannot point the reader at a directory or outside snap_dir.
    if not isinstance(name, str) or not _CHUNK_NAME.match(name):
        raise CorruptSnapshotError(snap_dir, f"snapshot lists a chunk with a bad name {name!r:.60}")
    path = os.path.join(snap_dir, name)
    try:
        return read_chunk_file(fs, path, meta)[1]
    except CorruptSnapshotError as exc:
        try:
            data, body = read_chunk_file(fs, path + COPY_SUFFIX, meta)
        except CorruptSnapshotError as copy_exc:
            raise CorruptSnapshotError(path, f"{exc.reason}; its copy: {copy_exc.reason}") from None
    if repairs is not None:
        repairs.append((path, data))
    return body


def read_chunk_file(fs: FileSystem, path: str, meta: dict[str, Any]) -> tuple[bytes, bytes]:
    """(file bytes, body) of one copy of a chunk, checked against the snapshot's listing."""
    try:
        data = fs.read_bytes(path)
    except FileNotFoundError:
        raise CorruptSnapshotError(
            path, "finished-jobs chunk listed by the snapshot is missing"
        ) from None
    # A snapshot lists the chunk body's CRC or, in schema 1 also, the whole file's: either way
    # the chunk must be the very one the snapshot was written with. A chunk never claims a
    # newer schema than the snapshot listing it: that is damage too.
    try:
        _, body, crc = _unframe(path, data, "SQDONE")
    except NewerSchemaError as exc:
        raise CorruptSnapshotError(path, exc.reason) from None
    if len(data) != meta["bytes"] or meta["crc"] not in (crc, zlib.crc32(data)):
        raise CorruptSnapshotError(
            path, "finished-jobs chunk does not match the snapshot's checksum"
        )
    return data, body


def write_snapshot(
    fs: FileSystem,
    snap_dir: str,
    last_seq: int,
    time: float,
    live: tuple[bytes, int],
    newly_finished: list[JobRecord],
    chunks: list[dict[str, Any]],
    counters: dict[str, int],
    *,
    upto: int = 0,
    keep_from: int = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """Write chunk (if any) and snapshot durably; return (snapshot path, chunk list it uses).
    ``live`` is the live jobs' rows already encoded (:mod:`simqueue.core.capture`) and their
    count. ``upto``: how many jobs have finished (the ordinal of the newest the new chunk
    holds); chunks whose jobs all have ordinals below ``keep_from`` have left the retention
    window (:mod:`simqueue.core.retention`) and are no longer listed."""
    chunks = [m for m in chunks if m.get("upto", keep_from) >= keep_from]
    if newly_finished:
        body, level = encode_jobs(newly_finished), 0
        # Tiered merge: while this chunk would complete a run of MERGE_FANIN chunks of one
        # level, fold the run into it a level up. Rows are concatenated, never re-encoded.
        while len(chunks) >= MERGE_FANIN - 1 and all(
            m.get("level", 0) == level for m in chunks[-(MERGE_FANIN - 1) :]
        ):
            run = chunks[-(MERGE_FANIN - 1) :]
            del chunks[-(MERGE_FANIN - 1) :]
            body = b"".join([read_chunk_body(fs, snap_dir, m) for m in run] + [body])
            level += 1
        chunks.append(write_chunk(fs, snap_dir, last_seq, body, level, upto))
    meta = json.dumps(
        {
            "schema": SCHEMA_VERSION,
            "last_seq": last_seq,
            "time": time,
            "chunks": chunks,
            "counters": counters,
            "live": live[1],
        },
        separators=(",", ":"),
    ).encode()
    body = meta + b"\n" + live[0]
    substitute = SNAPSHOT_WRITER.get()
    if substitute is not None:
        data = _frame("SQSNAP", last_seq, body)
        return substitute(fs, snap_dir, snapshot_name(last_seq), data), chunks
    path = os.path.join(snap_dir, snapshot_name(last_seq))
    tmp = path + TMP_SUFFIX
    fs.write_file_durably(tmp, _frame("SQSNAP", last_seq, body))
    fs.rename(tmp, path)
    fs.fsync_dir(snap_dir)
    return path, chunks


def list_snapshots(fs: FileSystem, snap_dir: str) -> list[tuple[int, str]]:
    """(last_seq, path) of every snapshot file, newest first."""
    out = []
    for name in fs.listdir(snap_dir):
        if name.startswith(SNAP_PREFIX) and name.endswith(SNAP_SUFFIX):
            stem = name[len(SNAP_PREFIX) : -len(SNAP_SUFFIX)]
            if stem.isdigit():
                out.append((int(stem), os.path.join(snap_dir, name)))
    out.sort(reverse=True)
    return out


def read_snapshot(fs: FileSystem, snap_dir: str, path: str) -> SnapshotState:
    """Read and check one snapshot and every chunk it lists."""
    last_seq, body, _ = _unframe(path, fs.read_bytes(path), "SQSNAP")
    try:
        doc = _meta(body)
        live = decode_jobs(path, body[body.index(b"\n") + 1 :])
        if len(live) != doc["live"]:
            raise ValueError(f"{len(live)} live jobs where the snapshot lists {doc['live']}")
        chunks = doc["chunks"]
        finished: list[JobRecord] = []
        repairs: list[tuple[str, bytes]] = []
        for meta in chunks:
            cbody = read_chunk_body(fs, snap_dir, meta, repairs)
            if cbody:
                finished.extend(decode_jobs(os.path.join(snap_dir, meta["name"]), cbody))
        if doc["last_seq"] != last_seq:
            raise ValueError("last_seq in body differs from header")
        counters = dict(doc.get("counters", {}))
    except CorruptSnapshotError:
        raise
    # A body whose checksum holds but whose contents do not fit (a row field of the wrong type,
    # JSON nested too deep to parse: see tests/core/test_fuzz_decoders.py) is as unusable as a
    # torn one, and must let recovery fall back to the previous snapshot instead of aborting it.
    except (
        ValueError,
        KeyError,
        TypeError,
        IndexError,
        AttributeError,
        RecursionError,
        UnicodeDecodeError,
        struct.error,
    ) as exc:
        raise CorruptSnapshotError(path, f"unreadable body: {exc}") from None
    t = doc.get("time", 0.0)
    return SnapshotState(
        last_seq=last_seq,
        time=t if isinstance(t, float | int) and math.isfinite(t) else 0.0,
        live=live,
        finished=finished,
        chunks=chunks,
        counters=counters,
        path=path,
        repairs=repairs,
    )


def load_newest(fs: FileSystem, snap_dir: str) -> tuple[SnapshotState | None, list[str]]:
    """The newest snapshot that checks out (older ones are the fallback) and why newer ones were
    passed over. A newer-schema snapshot stops the search with an error: skipping it could lose
    what it holds."""
    skipped: list[str] = []
    for _, path in list_snapshots(fs, snap_dir):
        try:
            state = read_snapshot(fs, snap_dir, path)
        except NewerSchemaError:
            raise
        except CorruptSnapshotError as exc:
            if exc.path != path:  # one of its chunks: say which snapshot needed it
                exc = CorruptSnapshotError(path, f"chunk {exc.path}: {exc.reason}")
            skipped.append(str(exc))
            continue
        state.skipped = skipped
        return state, skipped
    return None, skipped
