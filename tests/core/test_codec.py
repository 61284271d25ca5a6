"""The WAL codec's two implementations (the C accelerator and pure Python) are the same codec:
the same bytes written, the same records read, the same place to stop, the same recovery."""

from __future__ import annotations

import math
import os
import random
import shutil
import struct
from pathlib import Path

import pytest
from conftest import copy_dir, observe
from hypothesis import given, settings
from hypothesis import strategies as st

from simqueue import CorruptWALError, Job
from simqueue.core import replay, wal
from simqueue.core.wal import ENQUEUE, HEADER_SIZE, accel, encode_header, encode_record

try:
    from simqueue.core.wal import _codec
except ImportError:  # not built here: only the pure-Python codecs are checked
    _codec = None

PURE = ("python", wal.format.frame_into_py, wal.format.decode_plain_py)
CODECS = [PURE] + ([("c", _codec.frame_into, _codec.decode_plain)] if _codec else [])


def comparable(records: list[tuple]) -> list[tuple]:
    """Floats by their bytes, so NaN (an ENQUEUE without a timeout) compares equal to itself."""
    return [
        tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in rec) for rec in records
    ]


def test_the_accelerator_is_built_wherever_a_c_compiler_is() -> None:
    if os.environ.get("SIMQUEUE_PURE_PYTHON", "") not in ("", "0"):
        assert not accel.ACCELERATED
        return
    if not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("no C compiler on this machine: the pure-Python codec is the codec")
    assert _codec is not None, "a C compiler is here but simqueue.core.wal._codec was not built"
    assert accel.ACCELERATED and wal.frame_into is _codec.frame_into


record_fields = st.tuples(
    st.integers(1, 5),  # type
    st.integers(0, 2**64 - 1),  # seq
    st.floats(allow_nan=True, allow_infinity=True),  # time
    st.integers(0, 2**32 - 1),  # attempt
    st.integers(-(2**31), 2**31 - 1),  # worker
    st.floats(allow_nan=True, allow_infinity=True),  # extra
    st.integers(0, 255),  # reason
    st.binary(max_size=300),  # id
    st.binary(max_size=300),  # payload
)


@settings(max_examples=300, deadline=None)
@given(fields=record_fields)
def test_every_codec_frames_a_record_exactly_as_the_format_says(fields) -> None:
    rtype, seq, time, attempt, worker, extra, reason, job_id, payload = fields
    expected = encode_record(rtype, seq, job_id, time, attempt, worker, extra, reason, payload)
    for _, frame_into, _ in CODECS:
        buf = bytearray(b"prefix")
        frame_into(buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)
        assert bytes(buf) == b"prefix" + expected


@pytest.mark.parametrize(
    "field, value",
    [("attempt", -1), ("attempt", 2**32), ("worker", 2**31), ("reason", 256), ("id", b"x" * 65536)],
)
def test_every_codec_refuses_a_field_out_of_range_with_struct_error(field, value) -> None:
    args = dict(rtype=2, seq=7, time=1.0, attempt=1, worker=0, extra=0.0, reason=0, id=b"j")
    args[field] = value
    for _, frame_into, _ in CODECS:
        buf = bytearray()
        with pytest.raises(struct.error):
            frame_into(buf, *args.values(), b"")
        assert buf == bytearray()  # nothing half-written


def segment_bytes(n: int, seed: int) -> bytes:
    """A segment of ``n`` records (seq 1..n) of every type, ids of varied lengths and a payload
    on some ENQUEUEs, framed by the reference :func:`encode_record`."""
    rng = random.Random(seed)
    out = bytearray(encode_header(1))
    for seq in range(1, n + 1):
        rtype = rng.randint(1, 5)
        job_id = f"job-{rng.randrange(10 ** rng.randint(1, 12))}".encode()
        payload = b'{"n":%d}' % seq if rtype == ENQUEUE and rng.random() < 0.5 else b""
        extra = math.nan if rtype == ENQUEUE else rng.random() * 10
        out += encode_record(
            rtype, seq, job_id, rng.random() * 100, rng.randint(0, 4), rng.randint(-1, 7), extra,
            rng.randint(0, 3), payload,
        )  # fmt: skip
    return bytes(out)


def damaged(data: bytes, rng: random.Random) -> bytes:
    """One of the ways a segment goes bad: cut short, a flipped byte, a garbled stretch, a wrong
    type, a non-UTF-8 id, or zeros in place of the tail."""
    buf = bytearray(data)
    pos = rng.randrange(HEADER_SIZE, len(buf))
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(buf[:pos])
    if kind == 1:
        buf[pos] ^= 1 << rng.randrange(8)
    elif kind == 2:
        for i in range(pos, min(len(buf), pos + rng.randint(1, 64))):
            buf[i] = rng.randrange(256)
    elif kind == 3:
        buf[pos:] = bytes(len(buf) - pos)
    else:  # a record that checks out except for its id, which is not UTF-8
        buf += encode_record(2, 10**9, b"\xff\xfe", 0.0)
    return bytes(buf)


@pytest.mark.parametrize("seed", range(40))
def test_both_codecs_decode_the_same_records_and_stop_at_the_same_byte(seed) -> None:
    rng = random.Random(seed)
    data = damaged(segment_bytes(200, seed), rng)
    results = []
    for _, _, decode_plain in CODECS:
        records, off, expect = decode_plain(data, HEADER_SIZE, 1, 10**6)
        results.append((comparable(records), off, expect))
        assert off == HEADER_SIZE + sum(len(encode_record(*_fields(r))) for r in records)
    assert all(r == results[0] for r in results)
    # The records that are plain are exactly what the reading rules accept before the bad one.
    scan = wal.SegmentScan("seg", data, None)
    assert scan.check_header()
    judged: list[tuple] = []
    try:
        for rec in scan.records():
            judged.append(rec)
    except CorruptWALError:
        pass  # a corruption verdict after the plain prefix: the prefix must still agree
    assert results[0][0] == comparable(judged[: len(results[0][0])])


def _fields(rec: tuple) -> tuple:
    """A decoded record back into encode_record's arguments."""
    rtype, seq, t, attempt, worker, extra, reason, job_id, payload, _off = rec
    return rtype, seq, job_id.encode(), t, attempt, worker, extra, reason, payload


@pytest.mark.parametrize("limit", [1, 3, 64])
def test_decoding_in_batches_gives_the_records_of_one_pass(limit) -> None:
    data = segment_bytes(150, 1)
    for _, _, decode_plain in CODECS:
        whole, end, expect_end = decode_plain(data, HEADER_SIZE, 1, 10**6)
        got, off, expect = [], HEADER_SIZE, 1
        while True:
            batch, off, expect = decode_plain(data, off, expect, limit)
            assert len(batch) <= limit
            got += batch
            if len(batch) < limit:
                break
        assert comparable(got) == comparable(whole) and (off, expect) == (end, expect_end)
        assert len(whole) == 150


def build_history(make_queue, path: Path) -> None:
    """A log with every record type: retries, a dead job, completions, payloads, timeouts."""
    q = make_queue(path, max_retry=1, backoff=0.0)
    q.enqueue_many(
        [Job(f"j{i}", payload={"i": i}, timeout=2.0 if i % 2 else None) for i in range(12)]
    )
    for round_ in range(3):
        while (job := q.dispatch(round_)) is not None:
            if job.id in ("j3", "j4"):
                q.fail(job.id, job.attempt)
            else:
                q.complete(job.id, job.attempt)
    q.enqueue(Job("left-in-flight"))
    q.dispatch(5)
    q.close()


@pytest.mark.parametrize("seed", range(12))
def test_recovery_is_the_same_whichever_codec_reads_the_log(make_queue, tmp_path, seed) -> None:
    template = tmp_path / "template"
    build_history(make_queue, template)
    seg = sorted((template / "wal").iterdir())[-1]
    rng = random.Random(seed)
    if seed:  # seed 0: the intact log
        seg.write_bytes(damaged(seg.read_bytes(), rng))
    outcomes = []
    for name, _, decode_plain in CODECS:
        d = copy_dir(template, tmp_path / f"{name}")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(wal, "decode_plain", decode_plain)
            try:
                q = make_queue(d)
            except CorruptWALError as exc:
                outcomes.append(("corrupt", str(exc).replace(str(d), "DIR")))
                continue
            r = q.recovery
            outcomes.append((observe(q), r.records_replayed, r.tail_bytes_discarded))
            q.close()
    assert all(o == outcomes[0] for o in outcomes), outcomes


def test_both_codecs_write_the_same_log(make_queue, tmp_path) -> None:
    logs = []
    for name, frame_into, _ in CODECS:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(wal.writer, "frame_into", frame_into)  # where the writer looks
            build_history(make_queue, tmp_path / name)
        wal_dir = tmp_path / name / "wal"
        logs.append({p.name: p.read_bytes() for p in sorted(wal_dir.iterdir())})
    assert all(log == logs[0] for log in logs)
    q = make_queue(tmp_path / CODECS[-1][0])
    assert q.state_of("j4").value == "dead" and q.state_of("j0").value == "completed"
    assert q.recovery.jobs_interrupted == 1  # left-in-flight lost its worker at the restart
    q.close()


@pytest.mark.parametrize("batch", [4096, 7, 1])
@pytest.mark.parametrize("covered", [0, 1, 6, 7, 8, 30, 50])
def test_replay_skips_exactly_the_records_a_snapshot_covers(
    make_queue, tmp_path, monkeypatch, batch, covered
) -> None:
    """A snapshot through seq ``covered``: replay skips that many records, in whole batches
    or part of one, and applies the rest."""
    build = make_queue(tmp_path / "log")
    build.enqueue_many([Job(f"j{i}") for i in range(1, 51)])  # ENQUEUE seqs 1..50
    build.close()
    data = sorted((tmp_path / "log" / "wal").iterdir())[-1].read_bytes()
    scan = wal.SegmentScan("seg", data, None)
    assert scan.check_header()
    monkeypatch.setattr(replay, "REPLAY_BATCH", batch)
    q = make_queue(tmp_path / "empty")
    assert replay.replay_segment(q, scan, covered) == (50 - covered, covered)
    assert sorted(q.pending_ids(), key=lambda j: int(j[1:])) == [
        f"j{i}" for i in range(covered + 1, 51)
    ]
