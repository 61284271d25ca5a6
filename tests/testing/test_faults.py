"""The fault injector itself: it counts, records and fails exactly where it is told to."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from simqueue.core.errors import SimulatedCrash
from simqueue.testing.faults import MUTATING_OPS, FaultyFileSystem


def write_file(fs: FaultyFileSystem, path: str, data: bytes = b"abcdef") -> None:
    fs.write_file_durably(path, data)


def test_records_every_mutating_operation_in_order(tmp_path) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write_file(fs, a)
    fs.rename(a, b)
    fs.fsync_dir(str(tmp_path))
    fs.truncate_durably(b, 2)
    fs.remove(b)
    assert fs.ops == [
        ("create", a),
        ("write", a),
        ("fsync", a),
        ("rename", b),
        ("fsync_dir", str(tmp_path)),
        ("truncate", b),
        ("remove", b),
    ]
    assert fs.counts["write"] == 1 and set(fs.counts) <= set(MUTATING_OPS)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_crash_at_counts_from_zero_and_stops_before_the_operation(tmp_path, n) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    path = str(tmp_path / "f")
    fs.crash_at(n)
    with pytest.raises(SimulatedCrash):
        write_file(fs, path)
    assert len(fs.ops) == n
    assert os.path.exists(path) == (n >= 1)
    if n == 2:  # written, the fsync never happened
        assert Path(path).read_bytes() == b"abcdef" and fs.unsynced_bytes() == 6
    assert not fs.armed


def test_crash_at_can_count_one_kind_of_operation(tmp_path) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    fs.crash_at(1, op="fsync")
    write_file(fs, str(tmp_path / "a"))
    with pytest.raises(SimulatedCrash):
        write_file(fs, str(tmp_path / "b"))
    assert [op for op, _ in fs.ops] == ["create", "write", "fsync", "create", "write"]


@pytest.mark.parametrize("code", [errno.EIO, errno.ENOSPC])
def test_fail_at_raises_oserror_once_unless_persistent(tmp_path, code) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    fs.fail_at("create", 0, code)
    with pytest.raises(OSError) as info:
        write_file(fs, str(tmp_path / "a"))
    assert info.value.errno == code
    write_file(fs, str(tmp_path / "a"))  # one-shot
    fs.fail_at("write", 0, code, persistent=True)
    for name in ("b", "c"):
        with pytest.raises(OSError):
            write_file(fs, str(tmp_path / name))
    fs.disarm()
    write_file(fs, str(tmp_path / "d"))


@pytest.mark.parametrize(("keep", "crash"), [(0, False), (4, False), (None, True)])
def test_short_write_leaves_a_prefix_then_raises(tmp_path, keep, crash) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    path = str(tmp_path / "f")
    handle = fs.create(path)
    fs.short_write_at(0, keep=keep, crash=crash)
    with pytest.raises(SimulatedCrash if crash else OSError):
        fs.write(handle, b"0123456789")
    fs.close(handle)
    expect = b"01234" if keep is None else b"0123456789"[:keep]
    assert Path(path).read_bytes() == expect
    assert handle.size == len(expect)


def test_crash_then_power_loss_leaves_only_what_was_synced(tmp_path) -> None:
    fs = FaultyFileSystem(real_fsync=False)
    path = str(tmp_path / "f")
    handle = fs.create(path)
    fs.fsync_dir(str(tmp_path))
    fs.write(handle, b"durable")
    fs.fsync(handle)
    fs.short_write_at(0, crash=True)
    with pytest.raises(SimulatedCrash):
        fs.write(handle, b"lost-lost-")
    fs.close(handle)
    fs.power_loss(random.Random(0), "drop")
    assert Path(path).read_bytes() == b"durable"


def test_bad_arguments_are_refused() -> None:
    fs = FaultyFileSystem(real_fsync=False)
    with pytest.raises(ValueError):
        fs.crash_at(-1)
    with pytest.raises(ValueError):
        fs.fail_at("chmod", 0)
    with pytest.raises(ValueError):
        fs.short_write_at(0, keep=-2)
