"""Reading the WAL back: a torn tail of the last segment is cut (durably), anything else that does
not check out is corruption, reported with file and byte offset, never skipped."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest
from conftest import copy_dir, observe

from simqueue import CorruptWALError, Job
from simqueue.core.wal import (
    ACK,
    HEADER_SIZE,
    encode_header,
    encode_record,
    iter_records,
    segment_name,
    verify,
)


def build_log(make_queue, path: Path, **kwargs) -> list:
    """A closed WAL whose last three records are ENQUEUE z, DISPATCH z, ACK z."""
    q = make_queue(path, **kwargs)
    q.enqueue_many([Job(f"j{i}", payload={"i": i}) for i in range(5)])
    while (job := q.dispatch(0)) is not None:
        q.complete(job.id, job.attempt)
    q.enqueue(Job("z", payload={"last": True}))
    q.dispatch(1)
    q.complete("z", 1)
    q.close()
    recs = list(iter_records(str(path)))
    assert [r.type_name for r in recs[-3:]] == ["ENQUEUE", "DISPATCH", "ACK"]
    return recs


def last_segment(path: Path) -> Path:
    return path / "wal" / sorted(os.listdir(path / "wal"))[-1]


def expected_state_of_z(whole: int) -> tuple[str, int] | None:
    """z after recovery when ``whole`` of its three records survived."""
    return [None, ("pending", 0), ("pending", 1), ("completed", 1)][whole]


def test_every_torn_tail_is_cut_to_the_prefix_of_whole_records(make_queue, tmp_path) -> None:
    template = tmp_path / "template"
    recs = build_log(make_queue, template)
    seg = last_segment(template)
    size = seg.stat().st_size
    ends = [r.offset + r.size for r in recs[-3:]]
    start = recs[-3].offset
    assert ends[-1] == size
    for cut in range(start, size):
        d = copy_dir(template, tmp_path / f"cut{cut}")
        os.truncate(last_segment(d), cut)
        whole = sum(1 for e in ends if e <= cut)
        good_end = ends[whole - 1] if whole else start
        q = make_queue(d)
        assert q.recovery.tail_bytes_discarded == cut - good_end
        z = q.job("z") if "z" in q else None
        assert (None if z is None else (z.state.value, z.attempt)) == expected_state_of_z(whole)
        assert sorted(i for i in observe(q).jobs if i != "z") == [f"j{i}" for i in range(5)]
        assert (d / "wal" / seg.name).stat().st_size == good_end  # the tail was really cut
        q.enqueue(Job("after"))
        q.close()
        q = make_queue(d)
        assert "after" in q and q.recovery.tail_bytes_discarded == 0
        assert verify(str(d)).status == "clean"
        q.close()
        shutil.rmtree(d)


@pytest.mark.parametrize("kind", ["zero", "garbage"])
@pytest.mark.parametrize("length", [1, 7, 44, 300, 5000])
def test_zero_or_garbage_tail_is_cut(make_queue, tmp_path, kind, length) -> None:
    d = tmp_path / "q"
    build_log(make_queue, d)
    q = make_queue(d)
    before = observe(q)
    q.close()
    seg = last_segment(d)
    size = seg.stat().st_size
    junk = bytes(length) if kind == "zero" else random.Random(length).randbytes(length)
    with open(seg, "ab") as f:
        f.write(junk)
    q = make_queue(d)
    assert q.recovery.tail_bytes_discarded == length
    assert q.recovery.torn_segment == str(seg)
    assert seg.stat().st_size == size
    assert observe(q) == before
    q.enqueue(Job("after"))
    q.close()
    assert verify(str(d)).status == "clean"


@pytest.mark.parametrize("within", [0, 3, 4, 8, 9, 20, 44, 46, -1])
def test_flipped_bit_before_valid_records_is_corruption_naming_file_and_offset(
    make_queue, tmp_path, within
) -> None:
    d = tmp_path / "q"
    recs = build_log(make_queue, d)
    victim = recs[-3]  # ENQUEUE z: two valid records follow it
    seg = Path(victim.path)
    data = bytearray(seg.read_bytes())
    pos = victim.offset + (within if within >= 0 else victim.size + within)
    data[pos] ^= 0x10
    seg.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError) as info:
        make_queue(d)
    err = info.value
    assert err.path == str(seg) and err.offset == victim.offset
    assert seg.name in str(err) and f"byte offset {victim.offset}" in str(err)
    with pytest.raises(CorruptWALError):
        list(iter_records(str(d)))
    assert verify(str(d)).status == "corrupt"
    assert seg.read_bytes() == bytes(data)  # nothing was cut or "repaired"
    # the directory is not left locked: a salvage attempt can open it (and fail the same way)
    with pytest.raises(CorruptWALError):
        make_queue(d)


def multi_segment_log(make_queue, d: Path) -> list:
    q = make_queue(d, segment_bytes=4096)
    for i in range(120):
        q.enqueue(Job(f"j{i}", payload={"pad": "p" * 30}))
    q.close()
    assert len(os.listdir(d / "wal")) >= 3
    return list(iter_records(str(d)))


@pytest.mark.parametrize("damage", ["flip", "truncate", "zero-tail"])
def test_bad_record_in_an_older_segment_is_corruption(make_queue, tmp_path, damage) -> None:
    d = tmp_path / "q"
    recs = multi_segment_log(make_queue, d)
    first = sorted(os.listdir(d / "wal"))[0]
    in_first = [r for r in recs if os.path.basename(r.path) == first]
    victim = in_first[-1]  # the last record of a segment that is not the last
    seg = d / "wal" / first
    data = bytearray(seg.read_bytes())
    if damage == "flip":
        data[victim.offset + 30] ^= 0x01
    elif damage == "truncate":
        data = data[: victim.offset + 10]
    else:
        data[victim.offset :] = bytes(len(data) - victim.offset)
    seg.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError) as info:
        make_queue(d, segment_bytes=4096)
    assert info.value.path == str(seg) and info.value.offset == victim.offset
    assert "not the last" in str(info.value)


def test_missing_middle_segment_is_corruption(make_queue, tmp_path) -> None:
    d = tmp_path / "q"
    multi_segment_log(make_queue, d)
    names = sorted(os.listdir(d / "wal"))
    os.remove(d / "wal" / names[1])
    with pytest.raises(CorruptWALError) as info:
        make_queue(d, segment_bytes=4096)
    assert info.value.path == str(d / "wal" / names[2])
    assert "expected" in str(info.value)


def test_missing_first_segment_without_snapshot_is_corruption(make_queue, tmp_path) -> None:
    d = tmp_path / "q"
    multi_segment_log(make_queue, d)
    os.remove(d / "wal" / sorted(os.listdir(d / "wal"))[0])
    with pytest.raises(CorruptWALError, match="missing"):
        make_queue(d, segment_bytes=4096)


@pytest.mark.parametrize("name", ["notes.txt", "00000000000000000001.wal.bak", "1.wal"])
def test_foreign_file_in_wal_dir_is_corruption(make_queue, tmp_path, name) -> None:
    d = tmp_path / "q"
    build_log(make_queue, d)
    (d / "wal" / name).write_bytes(b"hello")
    with pytest.raises(CorruptWALError) as info:
        make_queue(d)
    assert info.value.path == str(d / "wal" / name)


def test_bad_header_on_last_segment_holding_records_is_corruption(make_queue, tmp_path) -> None:
    d = tmp_path / "q"
    recs = build_log(make_queue, d)
    seg = Path(recs[-1].path)
    data = bytearray(seg.read_bytes())
    data[2] ^= 0x01  # magic: the header no longer checks out, but durable records follow it
    seg.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError) as info:
        make_queue(d)
    assert info.value.path == str(seg) and info.value.offset == 0
    assert seg.read_bytes() == bytes(data)  # acknowledged records were not thrown away
    with pytest.raises(CorruptWALError):
        list(iter_records(str(d)))


@pytest.mark.parametrize("keep", [0, 5, HEADER_SIZE - 1])
def test_torn_header_of_a_new_last_segment_is_discarded(make_queue, tmp_path, keep) -> None:
    """A segment whose creation never became durable (the power went while rolling)."""
    d = tmp_path / "q"
    recs = build_log(make_queue, d)
    ref = make_queue(copy_dir(d, tmp_path / "ref"))
    before = observe(ref)
    ref.close()
    nxt = recs[-1].seq + 1  # the name a roll after the last record would give
    (d / "wal" / segment_name(nxt)).write_bytes(encode_header(nxt)[:keep])
    q = make_queue(d)
    assert observe(q) == before
    assert q.recovery.tail_bytes_discarded == keep
    q.enqueue(Job("after"))
    q.close()
    assert verify(str(d)).status == "clean"


def test_a_record_that_breaks_the_state_machine_is_corruption(make_queue, tmp_path) -> None:
    """A record with a good checksum that cannot apply (ACK of a job never dispatched)."""
    d = tmp_path / "q"
    recs = build_log(make_queue, d)
    q = make_queue(d)
    q.close()
    seg = last_segment(d)
    last_seq = list(iter_records(str(d)))[-1].seq
    offset = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(encode_record(ACK, last_seq + 1, b"j4", 1.0, 1))
    with pytest.raises(CorruptWALError) as info:
        make_queue(d)
    assert info.value.offset == offset and "j4" in str(info.value)
    assert recs  # built
