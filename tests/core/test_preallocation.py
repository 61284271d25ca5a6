"""Preallocated WAL segments (real fsync): a new segment is allocated to its full size and
flagged, records are written into that space, the unused zeros are cut when the segment is
finished or the log closed, and recovery after a kill tells those zeros from a torn tail."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from conftest import CRASH_KINDS, crash

from simqueue import Job, QueueStoppedError, StorageError
from simqueue.core import wal
from simqueue.core.wal import HEADER_SIZE, PREALLOCATED

SEGMENT = 64 * 1024

pytestmark = pytest.mark.skipif(
    not hasattr(os, "posix_fallocate"), reason="this OS cannot preallocate files"
)


def segments(path: Path) -> list[Path]:
    return sorted((path / "wal").iterdir())


def header_flags(seg: Path) -> int:
    scan = wal.SegmentScan(str(seg), seg.read_bytes(), None)
    assert scan.check_header()
    return scan.flags


def written(q) -> int:
    return q.writer._handle.size


def test_a_new_segment_under_real_fsync_is_allocated_to_full_size_and_flagged(
    make_queue, data_dir
) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    seg = segments(data_dir)[-1]
    assert seg.stat().st_size == SEGMENT and header_flags(seg) & PREALLOCATED
    for i in range(20):
        q.enqueue(Job(f"j{i}", payload={"i": i}))
    assert seg.stat().st_size == SEGMENT  # the appends did not change the file's size
    assert HEADER_SIZE < written(q) < SEGMENT
    # Read while the queue is open: the zeros after the records are unused space, not a tear.
    assert [r.job_id for r in wal.iter_records(str(data_dir))] == [f"j{i}" for i in range(20)]
    assert wal.verify(str(data_dir)).status == "clean"


def test_a_clean_close_cuts_the_unused_space(make_queue, data_dir) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    q.enqueue_many([Job(f"j{i}") for i in range(10)])
    end = written(q)
    q.close()
    assert segments(data_dir)[-1].stat().st_size == end
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert q.recovery.tail_bytes_discarded == 0 and q.recovery.torn_segment is None
    assert len(q) == 10


def test_a_killed_queue_recovers_without_calling_its_unused_space_torn(
    make_queue, data_dir
) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    for i in range(30):
        q.enqueue(Job(f"j{i}"))
    job = q.dispatch(0)
    q.complete(job.id, job.attempt)
    end = written(q)
    q.abandon()  # kill -9: nothing is cut
    seg = segments(data_dir)[-1]
    assert seg.stat().st_size == SEGMENT
    assert wal.verify(str(data_dir)).status == "clean"
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    r = q.recovery
    assert r.tail_bytes_discarded == 0 and r.torn_segment is None
    assert r.records_replayed == 32 and len(q) == 30
    assert q.state_of("j0").value == "completed"
    assert seg.stat().st_size == end  # cut durably, so it can be an older segment from now on


def test_a_torn_record_before_the_zeros_is_still_a_torn_tail(make_queue, data_dir) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    q.enqueue_many([Job(f"j{i}") for i in range(5)])
    end = written(q)
    q.abandon()
    seg = segments(data_dir)[-1]
    with open(seg, "r+b") as f:  # half a record reached the disk, the rest of the space is zeros
        f.seek(end)
        f.write(wal.encode_record(wal.ENQUEUE, 6, b"half", 1.0)[:30])
    assert wal.verify(str(data_dir)).status == "torn"
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert q.recovery.torn_segment == str(seg)
    assert q.recovery.tail_bytes_discarded == SEGMENT - end
    assert len(q) == 5


def test_zeros_after_the_records_of_a_segment_without_the_flag_are_a_torn_tail(
    make_queue, data_dir
) -> None:
    q = make_queue(segment_bytes=SEGMENT)  # modeled durability: nothing is preallocated
    q.enqueue_many([Job(f"j{i}") for i in range(5)])
    q.close()
    seg = segments(data_dir)[-1]
    assert not header_flags(seg) & PREALLOCATED
    with open(seg, "ab") as f:
        f.write(bytes(1000))
    q = make_queue(segment_bytes=SEGMENT)
    assert q.recovery.tail_bytes_discarded == 1000 and q.recovery.torn_segment == str(seg)
    assert len(q) == 5


def test_a_finished_segment_is_cut_to_its_records_before_the_next_one_exists(
    make_queue, data_dir
) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    payload = {"pad": "x" * 2000}
    for i in range(100):  # about three segments' worth
        q.enqueue(Job(f"j{i}", payload=payload))
    segs = segments(data_dir)
    assert len(segs) >= 3
    for seg in segs[:-1]:  # finished: exactly their records, no zeros left to misread
        data = seg.read_bytes()
        scan = wal.SegmentScan(str(seg), data, None)
        assert scan.check_header()
        assert sum(1 for _ in scan.records()) > 0 and scan.bad is None and scan.end == len(data)
    assert segs[-1].stat().st_size == SEGMENT
    q.abandon()
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert q.recovery.tail_bytes_discarded == 0 and len(q) == 100


@pytest.mark.parametrize("kind", CRASH_KINDS)
def test_every_crash_of_a_preallocated_log_keeps_every_acknowledged_job(
    make_queue, data_dir, kind
) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    for i in range(40):
        q.enqueue(Job(f"j{i}"))  # fsync="always": each acknowledged when enqueue returns
    crash(q, kind, seed=len(kind))
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert all(f"j{i}" in q for i in range(40))
    q.close()
    q = make_queue(durability="real", segment_bytes=SEGMENT)  # and the second recovery agrees
    assert q.recovery.tail_bytes_discarded == 0 and len(q) == 40


def test_modeled_durability_never_preallocates(make_queue, data_dir) -> None:
    q = make_queue(segment_bytes=SEGMENT)
    q.enqueue(Job("j"))
    assert segments(data_dir)[-1].stat().st_size == written(q)


def test_a_file_system_without_fallocate_gets_plain_appending_segments(
    make_queue, data_dir, monkeypatch
) -> None:
    def unsupported(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(os, "posix_fallocate", unsupported)
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    q.enqueue_many([Job(f"j{i}") for i in range(5)])
    assert segments(data_dir)[-1].stat().st_size == written(q)  # nothing allocated ahead
    q.abandon()
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert q.recovery.tail_bytes_discarded == 0 and len(q) == 5


def test_no_space_for_a_new_segment_stops_the_queue_with_a_clear_error(
    make_queue, data_dir, monkeypatch
) -> None:
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    q.enqueue(Job("before"))

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(StorageError, match="No space left on device"):
        for i in range(200):  # until the segment rolls and the next one cannot be allocated
            q.enqueue(Job(f"j{i}", payload={"pad": "x" * 1000}))
    with pytest.raises(QueueStoppedError, match="No space left on device"):
        q.enqueue(Job("after"))  # fail-stop: nothing more is accepted, and it says why
    q.abandon()
    monkeypatch.undo()
    q = make_queue(durability="real", segment_bytes=SEGMENT)
    assert "before" in q and "after" not in q
