"""Audit of snapshots and counters: one damaged file never takes both kept snapshots with it, a
damaged header line is corruption (so the fallback is used), never a newer schema, and the
counters are rebuilt from the durable state after a crash."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

from conftest import copy_dir, crash, observe

from simqueue import Job
from simqueue.core import snapshot as snap
from simqueue.core.jobs import DEAD

COUNTERS = ("failures", "timeouts", "interruptions", "dispatches", "stale_results")


def _work(q, clock, start: int, n: int = 12) -> None:
    """Completions, failures, timeouts (explicit and by deadline), a job run until DEAD, and a
    stale result, with jobs left pending and in flight."""
    q.enqueue(Job(f"doomed{start}"))
    while q.state_of(f"doomed{start}") is not DEAD:
        job = q.dispatch(0)
        if job is None:
            clock.advance_by(100.0)
            continue
        q.fail(job.id, job.attempt)
    q.enqueue_many([Job(f"j{i}", timeout=1.0) for i in range(start, start + n)])
    for k in range(n - 2):
        job = q.dispatch(k % 3)
        if job is None:
            break
        if k % 4 == 0:
            q.complete(job.id, job.attempt)
            q.complete(job.id, job.attempt)  # a stale result
        elif k % 4 == 1:
            q.fail(job.id, job.attempt)
        elif k % 4 == 2:
            q.fail(job.id, job.attempt, reason="timeout")
    clock.advance_by(2.0)
    q.expire()
    for w in range(2):
        q.dispatch(w)  # left in flight


def _counters(q) -> dict[str, int]:
    return {name: getattr(q, name) for name in COUNTERS}


def _two_snapshots(q, clock, then: int = 0) -> Path:
    """Work, a snapshot, more work, the newest snapshot (returned), ``then`` more jobs, closed."""
    _work(q, clock, 0)
    q.snapshot()
    _work(q, clock, 100)
    newest = Path(q.snapshot())
    if then:
        _work(q, clock, 200, n=then)
    q.close()
    return newest


def _shared_chunk_dir(make_queue, clock, data_dir: Path) -> tuple[Path, object]:
    """Two kept snapshots that both list the first one's chunk, a log pruned behind the older."""
    q = make_queue(segment_bytes=4096)
    _work(q, clock, 0)
    first = Path(q.snapshot())
    _work(q, clock, 100)
    q.snapshot()
    _work(q, clock, 200, n=4)
    q.close()
    expected = observe(make_queue(copy_dir(data_dir, data_dir.parent / "ref")))
    return data_dir / "snapshots" / snap.chunk_name(int(first.name[5:25])), expected


def test_a_damaged_chunk_shared_by_both_kept_snapshots_loses_no_job(
    make_queue, clock, data_dir
) -> None:
    shared, expected = _shared_chunk_dir(make_queue, clock, data_dir)
    data = bytearray(shared.read_bytes())
    data[len(data) - 3] ^= 0x10
    shared.write_bytes(bytes(data))
    assert observe(make_queue()) == expected


def test_a_shared_chunk_deleted_outright_loses_no_job(make_queue, clock, data_dir) -> None:
    shared, expected = _shared_chunk_dir(make_queue, clock, data_dir)
    shared.unlink()
    assert observe(make_queue()) == expected
    # Recovery put the damaged file back: a second fault now is survivable again.
    assert shared.exists()


def test_a_flipped_bit_in_a_chunk_header_is_not_read_as_a_newer_schema(
    make_queue, clock, data_dir
) -> None:
    shared, expected = _shared_chunk_dir(make_queue, clock, data_dir)
    data = bytearray(shared.read_bytes())
    data[len("SQDONE ")] ^= 0x02  # the schema digit
    shared.write_bytes(bytes(data))
    assert observe(make_queue()) == expected


def test_every_flipped_bit_of_the_snapshot_header_line_falls_back_never_newer_schema(
    make_queue, clock, data_dir
) -> None:
    newest = _two_snapshots(make_queue(), clock, then=4)
    pristine = copy_dir(data_dir, data_dir.parent / "pristine")
    expected = observe(make_queue(copy_dir(pristine, data_dir.parent / "ref")))
    head_len = newest.read_bytes().index(b"\n") + 1
    for bit in range(head_len * 8):
        shutil.rmtree(data_dir)
        copy_dir(pristine, data_dir)
        data = bytearray(newest.read_bytes())
        data[bit // 8] ^= 1 << (bit % 8)
        newest.write_bytes(bytes(data))
        q = make_queue()  # never NewerSchemaError for a damaged header
        assert observe(q) == expected, f"bit {bit}"
        assert q.recovery.snapshot != str(newest), f"bit {bit}"
        assert q.recovery.snapshots_skipped, f"bit {bit}"
        assert str(newest) in q.recovery.snapshots_skipped[0], f"bit {bit}"
        q.abandon()


def test_counters_are_rebuilt_from_the_log_after_a_crash_and_a_second_recovery(
    make_queue, clock
) -> None:
    q = make_queue()
    _work(q, clock, 0)
    before = _counters(q)
    in_flight = len(q.in_flight_ids())
    assert before["failures"] and before["timeouts"] and in_flight
    crash(q)
    q = make_queue()
    once = _counters(q)
    assert q.recovery.jobs_interrupted == in_flight
    want = dict(before, interruptions=before["interruptions"] + in_flight, stale_results=0)
    assert once == want
    crash(q)  # nothing in flight now: the second recovery interrupts nothing
    q = make_queue()
    assert _counters(q) == want


def test_counters_survive_snapshot_then_more_work_then_a_crash(make_queue, clock) -> None:
    q = make_queue()
    _work(q, clock, 0)
    crash(q)
    q = make_queue()  # interruptions logged by this recovery
    _work(q, clock, 100)
    q.snapshot()
    _work(q, clock, 200)
    before = _counters(q)
    in_flight = len(q.in_flight_ids())
    crash(q)
    q = make_queue()
    after = _counters(q)
    # Stale results leave no record: only those up to the snapshot are known after a crash.
    assert before["stale_results"] > after["stale_results"] > 0
    for name in ("failures", "timeouts", "dispatches"):
        assert after[name] == before[name], name
    assert after["interruptions"] == before["interruptions"] + in_flight
    crash(q)
    q = make_queue()
    assert _counters(q) == after


def _legacy_frame(magic: bytes, last_seq: bytes, body: bytes) -> bytes:
    return b"%s 1 %s %d %08x\n" % (magic, last_seq, len(body), zlib.crc32(body)) + body


def _as_schema_1(snap_dir: Path) -> None:
    """Rewrite a directory's snapshots and chunks as schema 1 wrote them: a header line with no
    checksum of its own, and no chunk copies."""
    sizes = {}
    for path in sorted(snap_dir.iterdir()):
        head, _, body = path.read_bytes().partition(b"\n")
        parts = head.split(b" ")
        if path.name.endswith(snap.COPY_SUFFIX):
            path.unlink()
        elif parts[0] == b"SQDONE":
            path.write_bytes(_legacy_frame(parts[0], parts[2], body))
            sizes[path.name] = path.stat().st_size
    for path in snap_dir.glob("snap-*.snap"):
        head, _, body = path.read_bytes().partition(b"\n")
        meta, _, rows = body.partition(b"\n")
        doc = json.loads(meta)
        for chunk in doc["chunks"]:
            chunk["bytes"] = sizes[chunk["name"]]
        doc["schema"] = 1
        body = json.dumps(doc, separators=(",", ":")).encode() + b"\n" + rows
        path.write_bytes(_legacy_frame(b"SQSNAP", head.split(b" ")[2], body))


def test_a_schema_1_directory_is_read_and_its_chunks_get_copies(
    make_queue, clock, data_dir
) -> None:
    shared, expected = _shared_chunk_dir(make_queue, clock, data_dir)
    _as_schema_1(data_dir / "snapshots")
    q = make_queue()
    assert observe(q) == expected and not q.recovery.snapshots_skipped
    q.close()
    copy = shared.with_name(shared.name + snap.COPY_SUFFIX)
    assert copy.read_bytes() == shared.read_bytes()
    shared.unlink()  # now survivable
    assert observe(make_queue()) == expected


def test_a_damaged_schema_digit_of_a_schema_1_header_falls_back(
    make_queue, clock, data_dir
) -> None:
    newest = _two_snapshots(make_queue(), clock)
    expected = observe(make_queue(copy_dir(data_dir, data_dir.parent / "ref")))
    _as_schema_1(data_dir / "snapshots")
    data = bytearray(newest.read_bytes())
    data[len("SQSNAP ")] ^= 0x02  # "1" -> "3"
    newest.write_bytes(bytes(data))
    q = make_queue()
    assert observe(q) == expected
    assert q.recovery.snapshot != str(newest) and "damaged" in q.recovery.snapshots_skipped[0]
