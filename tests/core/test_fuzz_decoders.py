"""Fuzzing the WAL decoder and the snapshot reader: whatever the bytes, the only exceptions are
the documented ones (:class:`CorruptWALError`, :class:`CorruptSnapshotError`), and ``verify``
never raises at all. Bounded (a few hundred examples each) so it runs inside ``make test``.

Random bytes alone rarely get past a CRC, so most strategies build *valid* frames (header,
records, snapshot header line) around fuzzed contents, then maybe damage them: what a decoder
must survive is a record whose checksum holds but whose fields make no sense.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from simqueue import CorruptSnapshotError, CorruptWALError
from simqueue.core import snapshot as snap
from simqueue.core.storage import FileSystem
from simqueue.core.wal import (
    HEADER_SIZE,
    SegmentScan,
    classify_bad,
    classify_bad_header,
    encode_header,
    encode_record,
    iter_records,
    segment_name,
    verify,
)

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------------------------ WAL strategies
record_fields = st.tuples(
    st.integers(0, 7),  # type, 1..5 valid
    st.integers(0, 2),  # seq offset from the expected one (0: right)
    st.binary(max_size=12) | st.text(max_size=6).map(str.encode),  # id, maybe not UTF-8
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(0, 2**32 - 1),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 255),
    st.binary(max_size=40),
)


@st.composite
def segments(draw) -> tuple[int, bytes]:
    """A segment's bytes: a (maybe damaged) header, (maybe damaged) records, maybe junk."""
    first = draw(st.integers(1, 50))
    parts = [encode_header(first)] if draw(st.booleans()) else [draw(st.binary(max_size=30))]
    seq = first
    for rtype, skew, job_id, t, attempt, worker, reason, payload in draw(
        st.lists(record_fields, max_size=6)
    ):
        parts.append(
            encode_record(rtype, seq + skew, job_id, t, attempt, worker, 0.0, reason, payload)
        )
        seq += 1
    data = bytearray(b"".join(parts) + draw(st.binary(max_size=20)))
    for _ in range(draw(st.integers(0, 3))):  # bit flips, cuts, zeroed runs
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "zero"]))
        if how == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif how == "cut":
            del data[pos:]
        else:
            data[pos : pos + draw(st.integers(1, 64))] = bytes(64)[: len(data[pos : pos + 64])]
    return first, bytes(data)


def scan_all(path: str, data: bytes, expect: int | None, last: bool) -> None:
    scan = SegmentScan(path, data, expect)
    if not scan.check_header():
        classify_bad_header(scan, last)
        return
    for _ in scan.records():
        pass
    if scan.bad is not None:
        scan.valid_after_bad()
        classify_bad(scan, last)


@FUZZ
@given(seg=segments(), expect=st.none() | st.integers(0, 60), last=st.booleans())
def test_segment_scan_raises_only_corrupt_wal_error(seg, expect, last) -> None:
    first, data = seg
    try:
        scan_all(f"/x/{segment_name(first)}", data, expect, last)
    except CorruptWALError as exc:
        assert exc.offset >= 0 and exc.reason


@FUZZ
@given(data=st.binary(max_size=600), expect=st.none() | st.integers(0, 5))
def test_segment_scan_of_raw_bytes(data, expect) -> None:
    for blob in (data, encode_header(1) + data):
        try:
            scan_all("/x/seg.wal", blob, expect, True)
        except CorruptWALError:
            pass


@FUZZ
@given(segs=st.lists(segments(), min_size=1, max_size=3), name_junk=st.booleans())
def test_iter_records_and_verify_on_fuzzed_directories(segs, name_junk) -> None:
    with tempfile.TemporaryDirectory() as d:
        wal_dir = os.path.join(d, "wal")
        os.makedirs(wal_dir)
        for i, (first, data) in enumerate(segs):
            name = segment_name(first + 100 * i)
            if name_junk and i == len(segs) - 1:
                name = name.replace(".wal", ".wal~")
            with open(os.path.join(wal_dir, name), "wb") as f:
                f.write(data)
        try:
            for r in iter_records(d):
                assert r.seq >= 0 and r.fields()["file"]
        except CorruptWALError:
            pass
        report = verify(d)  # never raises
        assert report.status in ("clean", "torn", "corrupt")
        assert report.describe()


# ------------------------------------------------------------------------- snapshot strategies
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def snapshot_docs(draw) -> bytes:
    kind = draw(st.sampled_from(["raw", "json", "doc"]))
    if kind == "raw":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    doc = {
        "schema": 1,
        "last_seq": draw(st.integers(0, 9)),
        "time": draw(json_values),
        "chunks": draw(
            st.lists(
                st.fixed_dictionaries(
                    {"name": json_values, "bytes": json_values, "crc": json_values}
                ),
                max_size=2,
            )
            | json_values
        ),
        "counters": draw(
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3) | json_values
        ),
        "live": draw(st.integers(0, 3) | json_values),
    }
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=2)):
        doc.pop(key, None)
    rows = draw(st.binary(max_size=120))
    if draw(st.booleans()):  # well-formed live rows around fuzzed ids and states
        rows = b"".join(
            snap._ROW.pack(st_, 1, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 1, 0, len(i), 0) + i
            for st_, i in draw(
                st.lists(st.tuples(st.integers(0, 5), st.binary(max_size=6)), max_size=3)
            )
        )
    return json.dumps(doc).encode() + b"\n" + rows


def frame(magic: str, schema: int, last_seq: int, body: bytes) -> bytes:
    return f"{magic} {schema} {last_seq} {len(body)} {zlib.crc32(body):08x}\n".encode() + body


@st.composite
def snapshot_files(draw) -> tuple[bytes, bytes | None]:
    body = draw(snapshot_docs())
    last_seq = draw(st.integers(0, 9))
    data = frame("SQSNAP", draw(st.sampled_from([1, 1, 1, 0, 2])), last_seq, body)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    chunk = None
    if draw(st.booleans()):
        rows = draw(st.binary(max_size=80))
        if draw(st.booleans()):  # well-formed rows around fuzzed ids
            rows = b"".join(
                snap._ROW.pack(st_, 1, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 1, 0, len(i), 0) + i
                for st_, i in draw(
                    st.lists(st.tuples(st.integers(0, 5), st.binary(max_size=6)), max_size=3)
                )
            )
        chunk = frame("SQDONE", 1, last_seq, rows)
    return data, chunk


@FUZZ
@given(files=st.lists(snapshot_files(), min_size=1, max_size=2))
def test_snapshot_reader_raises_only_corrupt_snapshot_error(files) -> None:
    fs = FileSystem(real_fsync=False)
    with tempfile.TemporaryDirectory() as d:
        for i, (data, chunk) in enumerate(files):
            seq = 10 * (i + 1)
            if chunk is not None:
                cname = snap.chunk_name(seq)
                with open(os.path.join(d, cname), "wb") as f:
                    f.write(chunk)
                data = _point_at_chunk(data, cname, chunk)
            path = os.path.join(d, snap.snapshot_name(seq))
            with open(path, "wb") as f:
                f.write(data)
            try:
                state = snap.read_snapshot(fs, d, path)
                assert isinstance(state.live, list) and isinstance(state.finished, list)
            except CorruptSnapshotError as exc:
                assert exc.reason
            try:
                snap.snapshot_chunk_names(fs, path)
            except CorruptSnapshotError:
                pass
        try:
            snap.load_newest(fs, d)
        except CorruptSnapshotError:
            pass


def _point_at_chunk(data: bytes, name: str, chunk: bytes) -> bytes:
    """Make a well-formed snapshot list the chunk (so the chunk reader gets fuzzed too)."""
    head, nl, body = data.partition(b"\n")
    try:
        doc = json.loads(body)
    except ValueError:
        return data
    if not nl or not isinstance(doc, dict):
        return data
    doc["chunks"] = [{"name": name, "bytes": len(chunk), "crc": zlib.crc32(chunk)}]
    parts = head.decode("ascii", "replace").split(" ")
    new_body = json.dumps(doc).encode()
    try:
        return frame("SQSNAP", int(parts[1]), int(parts[2]), new_body)
    except (IndexError, ValueError):
        return data


def test_decoders_survive_a_header_only_and_empty_files(tmp_path) -> None:
    """The edges the strategies may miss: empty files, a header and nothing else."""
    for data in (b"", encode_header(1), encode_header(1)[: HEADER_SIZE - 1]):
        try:
            scan_all("/x/" + segment_name(1), data, None, True)
        except CorruptWALError:
            pass
    fs = FileSystem(real_fsync=False)
    for data in (b"", b"\n", b"SQSNAP 1 0 0 00000000\n", frame("SQSNAP", 1, 0, b"[" * 100_000)):
        path = tmp_path / snap.snapshot_name(0)
        path.write_bytes(data)
        try:
            snap.read_snapshot(fs, str(tmp_path), str(path))
        except CorruptSnapshotError:
            pass


# ------------------------------------------------------------- regressions found by the fuzzing
def test_regression_record_with_a_valid_checksum_and_a_non_utf8_job_id_is_corruption(
    tmp_path,
) -> None:
    """Found by fuzzing: ``SegmentScan.records`` decoded the id with a bare ``.decode()``, so a
    whole record (good CRC, good seq) with a non-UTF-8 id raised UnicodeDecodeError out of
    recovery, ``iter_records`` and ``verify`` (which promises never to raise)."""
    wal_dir = tmp_path / "wal"
    wal_dir.mkdir()
    good = encode_record(1, 1, b"ok", 0.0)
    bad = encode_record(1, 2, b"\x80\xff", 0.0)
    (wal_dir / segment_name(1)).write_bytes(encode_header(1) + good + bad)
    try:
        list(iter_records(str(tmp_path)))
    except CorruptWALError as exc:
        assert exc.offset == HEADER_SIZE + len(good) and "UTF-8" in exc.reason
    else:
        raise AssertionError("a non-UTF-8 job id was accepted")
    report = verify(str(tmp_path))
    assert report.status == "corrupt" and report.offset == HEADER_SIZE + len(good)


def test_regression_snapshot_body_that_does_not_fit_is_corrupt_not_a_crash(tmp_path) -> None:
    """Found by fuzzing: a snapshot whose checksum holds but whose body does not fit raised
    AttributeError (a payload field that is not a string), RecursionError (JSON nested too
    deep) or TypeError (counters not a mapping) instead of CorruptSnapshotError, which would
    have stopped recovery from falling back to the previous snapshot."""
    fs = FileSystem(real_fsync=False)
    row = ["j", 0, 0, 7, None, 0.0, None, None, None, None, 0.0, 1, ""]
    bodies = {
        "payload-not-a-string": {"last_seq": 1, "chunks": [], "live": [row]},
        "counters-not-a-mapping": {"last_seq": 1, "chunks": [], "live": [], "counters": [1]},
    }
    for name, doc in bodies.items():
        path = tmp_path / f"{name}.snap"
        path.write_bytes(frame("SQSNAP", 1, 1, json.dumps(doc).encode()))
        try:
            snap.read_snapshot(fs, str(tmp_path), str(path))
        except CorruptSnapshotError as exc:
            assert "unreadable body" in exc.reason
        else:
            raise AssertionError(f"{name} was accepted")
    path = tmp_path / "deep.snap"
    path.write_bytes(frame("SQSNAP", 1, 1, b"[" * 100_000))
    try:
        snap.read_snapshot(fs, str(tmp_path), str(path))
    except CorruptSnapshotError:
        pass
    else:
        raise AssertionError("deeply nested JSON was accepted")
