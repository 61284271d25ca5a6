"""The WAL on disk: every transition is a record, written ahead, in the documented binary format;
sequence numbers strictly increase across segments, snapshots and restarts."""

from __future__ import annotations

import math
import os
import struct
import zlib
from pathlib import Path

import pytest
from conftest import crash

from simqueue import CorruptWALError, DurableQueue, Job
from simqueue.core import wal
from simqueue.core.wal import ACK, DEAD, DISPATCH, ENQUEUE, RETRY, iter_records


def records(q) -> list[wal.Record]:
    q.flush()
    return list(iter_records(q.data_dir))


def tail(q, n: int) -> list[tuple[str, str]]:
    return [(r.type_name, r.job_id) for r in records(q)[-n:]]


def test_each_operation_logs_its_record_durably_before_returning(make_queue, clock) -> None:
    q = make_queue(fsync="always", max_retry=1, task_timeout=2.0)
    steps = [
        (lambda: q.enqueue(Job("a", payload={"x": 1})), [("ENQUEUE", "a")]),
        (lambda: q.enqueue_many([Job("b"), Job("c")]), [("ENQUEUE", "b"), ("ENQUEUE", "c")]),
        (lambda: q.dispatch(7), [("DISPATCH", "a")]),
        (lambda: q.complete("a", 1), [("ACK", "a")]),
        (lambda: q.dispatch(1), [("DISPATCH", "b")]),
        (lambda: q.fail("b", 1), [("RETRY", "b")]),
        (lambda: q.dispatch(1), [("DISPATCH", "c")]),
        (lambda: (clock.advance_by(2.0), q.expire()), [("RETRY", "c")]),
        (lambda: q.dispatch(2), [("DISPATCH", "b")]),
        (lambda: q.fail("b", 2), [("DEAD", "b")]),
    ]
    for action, expected in steps:
        before = q.last_seq
        action()
        assert q.last_seq == before + len(expected)
        assert q.durable_seq == q.last_seq  # under "always" the caller sees only durable changes
        assert tail(q, len(expected)) == expected


def test_stale_results_log_nothing(make_queue, clock) -> None:
    q = make_queue(task_timeout=1.0)
    q.enqueue(Job("a"))
    q.dispatch(0)
    clock.advance_by(1.0)
    q.expire()
    q.dispatch(0)
    seq = q.last_seq
    assert q.complete("a", 1) is False and q.fail("a", 1) is None
    assert q.last_seq == seq and records(q)[-1].type == DISPATCH


def test_record_fields_match_the_format_spec(make_queue, clock) -> None:
    q = make_queue(max_retry=1, backoff=4.0, task_timeout=3.0)
    q.enqueue(Job("p", payload={"k": [1, 2]}, timeout=9.0))
    q.enqueue(Job("n"))
    t_dispatch = clock.now()
    q.dispatch(5)  # p
    q.complete("p", 1)
    q.dispatch(6)  # n
    clock.advance_by(1.0)
    q.fail("n", 1)
    clock.advance_by(10.0)
    q.dispatch(6)
    clock.advance_by(3.0)
    q.expire()
    enq_p, enq_n, disp, ack, disp_n, retry, disp_n2, dead = records(q)
    assert (enq_p.type, enq_p.attempt, enq_p.extra) == (ENQUEUE, 0, 9.0)
    assert enq_p.payload == b'{"k":[1,2]}'
    assert math.isnan(enq_n.extra) and enq_n.payload == b""
    assert (disp.type, disp.job_id, disp.attempt, disp.worker) == (DISPATCH, "p", 1, 5)
    assert disp.extra == t_dispatch + 9.0  # deadline uses the per-job timeout
    assert disp_n.extra == t_dispatch + 3.0  # default task_timeout
    assert (ack.type, ack.attempt) == (ACK, 1)
    assert (retry.type, retry.attempt, retry.reason_name) == (RETRY, 1, "failed")
    assert retry.extra == retry.time + 4.0  # ready time after backoff
    assert (disp_n2.attempt, dead.type, dead.attempt, dead.reason_name) == (2, DEAD, 2, "timeout")
    assert [r.seq for r in (enq_p, enq_n, disp, ack, disp_n, retry, disp_n2, dead)] == list(
        range(enq_p.seq, enq_p.seq + 8)
    )


def test_interrupted_reason_is_logged_by_recovery(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    q.dispatch(0)
    crash(q)
    q = make_queue()
    last = records(q)[-1]
    assert (last.type_name, last.job_id, last.reason_name, last.attempt) == (
        "RETRY",
        "a",
        "interrupted",
        1,
    )


def test_segment_bytes_match_the_documented_layout(make_queue, clock) -> None:
    q = make_queue()
    q.enqueue(Job("job-1", payload={"a": 1}, timeout=2.5))
    q.dispatch(4)
    q.close()
    (seg,) = sorted(os.listdir(q.wal_dir))
    data = Path(os.path.join(q.wal_dir, seg)).read_bytes()
    magic, version, first_seq, reserved, crc = struct.unpack_from("<6sHQII", data, 0)
    assert (magic, version, reserved) == (b"SQWAL\n", 1, 0)
    assert crc == zlib.crc32(data[:20])
    assert seg == f"{first_seq:020d}.wal" and first_seq == 1
    enq = wal.encode_record(
        ENQUEUE, 1, b"job-1", 100.0, 0, -1, 2.5, 0, b'{"a":1}'
    )  # the clock fixture starts at 100.0
    disp = wal.encode_record(DISPATCH, 2, b"job-1", 100.0, 1, 4, 102.5)
    assert data[24:] == enq + disp
    # crc covers everything after itself: size, type, seq, time, ..., payload
    crc_field, size = struct.unpack_from("<II", enq, 0)
    assert size == len(enq) - 8 == 36 + 5 + 7
    assert crc_field == zlib.crc32(enq[4:])


@pytest.mark.parametrize("field_offset", [4, 8, 9, 17, 40, 44, 48])
def test_checksum_covers_every_field(field_offset) -> None:
    rec = bytearray(wal.encode_record(ENQUEUE, 3, b"abcd", 1.0, 0, -1, 2.0, 0, b"{}"))
    good = bytes(rec)
    rec[field_offset] ^= 0x01
    scan = wal.SegmentScan("x", wal.encode_header(3) + bytes(rec), None)
    assert scan.check_header()
    assert list(scan.records()) == []
    assert scan.bad is not None and scan.bad[0] == wal.HEADER_SIZE
    clean = wal.SegmentScan("x", wal.encode_header(3) + good, None)
    assert clean.check_header() and len(list(clean.records())) == 1


def test_seq_strictly_increases_across_restarts_rolls_and_snapshots(make_queue, clock) -> None:
    seen: list[int] = []

    def check_log(q) -> None:
        seqs = [r.seq for r in records(q)]
        assert seqs == sorted(set(seqs))
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat

    n = 0
    for round_ in range(4):
        q = make_queue(segment_bytes=4096, fsync="batch")
        assert q.next_seq > max(seen, default=0)
        for _ in range(60):
            seen.append(q.enqueue(Job(f"j{n}", payload={"pad": "x" * 40})))
            n += 1
            job = q.dispatch(0)
            q.complete(job.id, job.attempt)
            seen.append(q.last_seq)
        if round_ % 2:
            q.snapshot()
        check_log(q)
        q.close()
        assert len(os.listdir(q.wal_dir)) >= 1
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False))
    firsts = [int(name.split(".")[0]) for name in sorted(os.listdir(q.wal_dir))]
    assert firsts == sorted(firsts) and firsts[0] > 1  # older segments were pruned


def test_seq_does_not_restart_when_every_segment_before_the_snapshot_is_gone(
    make_queue, clock
) -> None:
    q = make_queue(segment_bytes=4096)
    for i in range(200):
        q.enqueue(Job(f"j{i}"))
    q.snapshot()
    last = q.last_seq
    q.close()
    for name in os.listdir(q.wal_dir):
        os.remove(os.path.join(q.wal_dir, name))
    q = make_queue(segment_bytes=4096)
    assert q.next_seq == last + 1
    assert q.enqueue(Job("after")) == last + 1
    assert len(q) == 201
    q.close()
    q = make_queue(segment_bytes=4096)
    assert q.next_seq == last + 2 and "after" in q


@pytest.mark.parametrize("policy", ["never", "batch"])
def test_rolling_a_segment_makes_it_durable_so_only_the_last_can_be_torn(
    make_queue, policy
) -> None:
    q = make_queue(fsync=policy, segment_bytes=4096, batch_size=1000, flush_interval=60.0)
    for i in range(100):
        q.enqueue(Job(f"j{i}", payload={"pad": "z" * 60}))
        if policy == "batch":
            q.flush()
    segments = sorted(os.listdir(q.wal_dir))
    assert len(segments) >= 3
    rolled = [r.job_id for r in records(q) if os.path.basename(r.path) != segments[-1]]
    crash(q, "power-drop")
    q = make_queue(fsync=policy, segment_bytes=4096)
    assert all(job_id in q for job_id in rolled)


@pytest.mark.parametrize(
    "second,why",
    [
        (wal.encode_record(ACK, 2, b"j", 1.0, 1), "cannot ack from state pending"),
        (wal.encode_record(DISPATCH, 2, b"j", 1.0, 3, 0, 4.0), "record for attempt 3"),
        (wal.encode_record(DEAD, 2, b"j", 1.0, 1, -1, 0.0, 1), "cannot dead from state pending"),
        (wal.encode_record(ACK, 2, b"ghost", 1.0, 1), "unknown job id 'ghost'"),
    ],
)
def test_a_whole_record_the_state_machine_forbids_is_corruption(tmp_path, second, why) -> None:
    """Replay checks every record against jobs.TRANSITIONS and the attempt numbering; a record
    with a good checksum that breaks them is refused with file and offset, never applied."""
    first = wal.encode_record(ENQUEUE, 1, b"j", 1.0, 0, -1, float("nan"))
    (tmp_path / "wal").mkdir(parents=True)
    seg = tmp_path / "wal" / wal.segment_name(1)
    seg.write_bytes(wal.encode_header(1) + first + second)
    with pytest.raises(CorruptWALError, match=why) as info:
        DurableQueue.open(tmp_path, fsync="never")
    assert info.value.path == str(seg) and info.value.offset == wal.HEADER_SIZE + len(first)
