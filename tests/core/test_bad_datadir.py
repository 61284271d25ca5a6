"""Bad data directories: each gets a clear error that names what is wrong, and nothing on disk
is changed or lost, so the directory opens with everything in it once the problem is gone.

Extends, without repeating: test_wal_tail (foreign *files* in ``wal/``), test_snapshot (a
newer-schema newest snapshot with an older one to fall back on; a damaged newest snapshot) and
test_lock (a second opener is refused).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import copy_dir, observe

import simqueue
from simqueue import (
    CorruptSnapshotError,
    CorruptWALError,
    DataDirLockedError,
    Job,
    StorageError,
)
from simqueue.core import snapshot as snap
from simqueue.core.wal import HEADER_SIZE, iter_records, verify
from simqueue.testing.crashsim import read_state
from simqueue.testing.faults import FaultyFileSystem


def populated(make_queue, d: Path, clock, *, torn: bool = True, **kwargs):
    """A directory with a snapshot, finished and pending jobs, one in flight, a torn tail, and
    the state a healthy recovery of it gives (recovered from a copy, so ``d`` is untouched)."""
    q = make_queue(d, **kwargs)
    q.enqueue_many([Job(f"j{i}", payload={"i": i}) for i in range(6)])
    q.complete(*_job(q.dispatch(0)))
    q.snapshot()
    q.enqueue_many([Job(f"k{i}", payload={"pad": "p" * 50}) for i in range(3)])
    q.complete(*_job(q.dispatch(1)))
    q.dispatch(2)
    q.abandon()
    if torn:
        with open(last_segment(d), "ab") as f:
            f.write(b"\x13\x00torn")
    ref = make_queue(copy_dir(d, d.parent / f"{d.name}-ref"), **kwargs)
    expected = observe(ref)
    ref.abandon()
    return expected


def _job(job):
    return job.id, job.attempt


def last_segment(d: Path) -> Path:
    return d / "wal" / sorted(os.listdir(d / "wal"))[-1]


def unchanged(d: Path, before: dict) -> None:
    assert read_state(str(d)) == before, "the refused open changed the directory"


# --------------------------------------------------------------------------- foreign entries
@pytest.mark.parametrize("entry", ["dir:lost+found", "file:.nfs000000000001", "file:.#00001.wal"])
def test_foreign_entry_in_wal_dir_is_refused_before_anything_is_touched(
    make_queue, data_dir, clock, entry
) -> None:
    expected = populated(make_queue, data_dir, clock)
    kind, name = entry.split(":")
    path = data_dir / "wal" / name
    if kind == "dir":
        path.mkdir()
    else:
        path.write_bytes(b"not a segment")
    before = read_state(str(data_dir))
    with pytest.raises(CorruptWALError) as info:
        make_queue(data_dir)
    assert info.value.path == str(path) and "not a segment" in str(info.value)
    unchanged(data_dir, before)  # the torn tail was not cut, nothing was logged
    assert verify(str(data_dir)).status == "corrupt"
    with pytest.raises(CorruptWALError):  # and the directory was not left locked
        make_queue(data_dir)
    shutil.rmtree(path) if kind == "dir" else path.unlink()
    assert observe(make_queue(data_dir)) == expected


def test_foreign_files_in_the_snapshot_dir_are_ignored_and_kept(make_queue, data_dir, clock):
    expected = populated(make_queue, data_dir, clock)
    foreign = {
        "README": b"notes",
        "snap-latest.snap": b"SQSNAP garbage",
        "snap-00000000000000000099.snap.bak": b"x",
        "notes.jobs": b"y",
    }
    for name, data in foreign.items():
        (data_dir / "snapshots" / name).write_bytes(data)
    q = make_queue(data_dir)
    assert observe(q) == expected
    for _ in range(3):  # snapshots prune old snapshots and chunks: never someone else's files
        q.enqueue(Job(f"x{q.last_seq}"))
        q.snapshot()
    q.close()
    for name, data in foreign.items():
        assert (data_dir / "snapshots" / name).read_bytes() == data


# ------------------------------------------------------------------------------ newer versions
def _bump_schema(path: Path, schema: int) -> bytes:
    head, _, body = path.read_bytes().partition(b"\n")
    parts = head.split(b" ")
    data = snap._frame(parts[0].decode(), int(parts[2]), body, schema=schema)  # checksums right
    path.write_bytes(data)
    return data


def test_the_only_snapshot_from_a_newer_schema_is_refused_even_with_a_full_wal(
    make_queue, data_dir, clock
) -> None:
    """No fallback exists, and replaying the WAL from scratch is not one either: a newer simqueue
    may have written records this one would misread. Nothing is cut or logged (only leftover
    ``.tmp`` files of an interrupted snapshot would go: they never held anything durable)."""
    populated(make_queue, data_dir, clock)
    (newest,) = (data_dir / "snapshots").glob("snap-*.snap")
    _bump_schema(newest, snap.SCHEMA_VERSION + 1)
    for chunk in (data_dir / "snapshots").glob("done-*.jobs"):  # its chunks came along with it
        _bump_schema(chunk, snap.SCHEMA_VERSION + 1)
    before = read_state(str(data_dir))
    with pytest.raises(CorruptSnapshotError) as info:
        make_queue(data_dir)
    assert info.value.path == str(newest)
    assert f"schema version {snap.SCHEMA_VERSION + 1}" in str(info.value)
    assert f"reads up to {snap.SCHEMA_VERSION}" in str(info.value)
    unchanged(data_dir, before)


def test_a_wal_segment_from_a_newer_format_is_refused(make_queue, data_dir, clock) -> None:
    import struct
    import zlib

    populated(make_queue, data_dir, clock, torn=False)
    seg = last_segment(data_dir)
    data = bytearray(seg.read_bytes())
    struct.pack_into("<H", data, 6, 2)  # version
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(bytes(data[: HEADER_SIZE - 4])))
    seg.write_bytes(bytes(data))
    before = read_state(str(data_dir))
    with pytest.raises(CorruptWALError) as info:
        make_queue(data_dir)
    assert info.value.path == str(seg) and "format version 2" in str(info.value)
    unchanged(data_dir, before)


# ------------------------------------------------------------------------ truncated snapshots
CUTS = {
    "empty": lambda n, nl: 0,
    "inside-header": lambda n, nl: nl // 2,
    "header-only": lambda n, nl: nl + 1,
    "half-body": lambda n, nl: (nl + n) // 2,
    "one-byte-short": lambda n, nl: n - 1,
}


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_truncated_only_snapshot_falls_back_to_the_whole_wal(make_queue, data_dir, clock, cut):
    expected = populated(make_queue, data_dir, clock)
    (victim,) = (data_dir / "snapshots").glob("snap-*.snap")
    data = victim.read_bytes()
    victim.write_bytes(data[: CUTS[cut](len(data), data.index(b"\n"))])
    q = make_queue(data_dir)
    assert observe(q) == expected  # nothing lost: the WAL still starts at seq 1
    assert q.recovery.snapshot is None and q.recovery.snapshots_skipped
    assert str(victim) in q.recovery.snapshots_skipped[0]


@pytest.mark.parametrize("cut", ["empty", "half-body"])
def test_truncated_snapshot_with_the_wal_it_covered_gone_is_a_clear_error(
    make_queue, data_dir, clock, cut
) -> None:
    """Two snapshots taken, so the WAL before the older one was pruned; then the older one is
    lost and the newer one truncated. Starting empty would silently drop jobs: refuse, naming
    the missing records and why the snapshot could not be used."""
    q = make_queue(data_dir, segment_bytes=4096)
    for r in range(3):
        q.enqueue_many([Job(f"r{r}-{i}", payload={"pad": "p" * 200}) for i in range(12)])
        q.snapshot()
    q.close()
    snaps = sorted((data_dir / "snapshots").glob("snap-*.snap"))
    assert len(snaps) == 2 and sorted(os.listdir(data_dir / "wal"))[0] != "00000000000000000001.wal"
    snaps[0].unlink()
    data = snaps[1].read_bytes()
    snaps[1].write_bytes(data[: CUTS[cut](len(data), data.index(b"\n"))])
    before = read_state(str(data_dir))
    with pytest.raises((CorruptWALError, CorruptSnapshotError)) as info:
        make_queue(data_dir, segment_bytes=4096)
    message = str(info.value)
    assert "missing" in message and snaps[1].name in message
    unchanged(data_dir, before)


# --------------------------------------------------------------------------- read-only disks
def _make_read_only(d: Path) -> str | None:
    """Make ``d`` and everything in it read-only; return how, or None if nothing here can (root
    ignores permission bits; ``chattr +i`` needs a file system and a capability that allow it)."""
    for p in [d, *d.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    if not _writable(d):
        return "chmod"
    if shutil.which("chattr"):
        done = subprocess.run(["chattr", "-R", "+i", str(d)], capture_output=True)
        if done.returncode == 0 and not _writable(d):
            return "chattr"
        subprocess.run(["chattr", "-R", "-i", str(d)], capture_output=True)
    return None


def _writable(d: Path) -> bool:
    probe = d / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


def _make_writable(d: Path, how: str | None) -> None:
    if how == "chattr":
        subprocess.run(["chattr", "-R", "-i", str(d)], check=True)
    for p in [d, *d.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_read_only_data_directory_is_a_storage_error_and_loses_nothing(
    make_queue, data_dir, clock
) -> None:
    expected = populated(make_queue, data_dir, clock)
    before = read_state(str(data_dir))
    how = _make_read_only(data_dir)
    try:
        if how is None:
            pytest.skip(
                "running as root, and neither chmod nor chattr +i makes the directory "
                "read-only here (test_injected_read_only_file_system covers the error path)"
            )
        with pytest.raises(StorageError) as info:
            make_queue(data_dir)
        assert str(data_dir) in str(info.value)
        assert isinstance(info.value.__cause__, OSError)
    finally:
        _make_writable(data_dir, how)
    unchanged(data_dir, before)
    assert observe(make_queue(data_dir)) == expected


@pytest.mark.parametrize("op", ["mkdir", "create", "truncate", "write"])
def test_injected_read_only_file_system(make_queue, data_dir, clock, op) -> None:
    """EROFS wherever recovery first writes (runs as root too): a StorageError naming it."""
    target = data_dir if op != "mkdir" else data_dir.parent / "fresh"
    expected = populated(make_queue, data_dir, clock) if op != "mkdir" else None
    fs = FaultyFileSystem(real_fsync=False)
    fs.fail_at(op, 0, errno.EROFS, persistent=True)
    with pytest.raises(StorageError, match="Read-only file system"):
        make_queue(target, fs=fs)
    fs.disarm()
    q = make_queue(target, fs=fs)
    if expected is not None:
        assert observe(q) == expected


def test_read_only_error_is_not_reported_as_a_listen_failure(make_queue, data_dir, monkeypatch):
    """Regression: the LOCK file's PermissionError escaped ``open`` as a bare OSError (the CLI
    then said it could not listen on its port). It is a StorageError naming the directory."""
    make_queue(data_dir).close()

    def refuse(self, path, data_dir_):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(FaultyFileSystem, "lock", refuse)
    with pytest.raises(StorageError, match="cannot lock data directory") as info:
        make_queue(data_dir, fs=FaultyFileSystem(real_fsync=False))
    assert isinstance(info.value.__cause__, PermissionError)


# ---------------------------------------------------------------------- locked by another one
HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()
    """
)


def test_directory_locked_by_another_process_is_refused_before_recovery_touches_it(
    make_queue, data_dir, clock
) -> None:
    """The lock is taken before anything is cut, removed or logged: while another process
    holds it, a torn tail, a temp snapshot file and an in-flight job all stay as they are."""
    expected = populated(make_queue, data_dir, clock)
    (data_dir / "snapshots" / "snap-00000000000000000099.snap.tmp").write_bytes(b"half")
    before = read_state(str(data_dir))
    n_records = len(list(iter_records(str(data_dir))))
    env = {**os.environ, "PYTHONPATH": str(Path(simqueue.__file__).parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir / "LOCK")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirLockedError) as info:
            make_queue(data_dir)
        assert str(data_dir) in str(info.value)
        unchanged(data_dir, before)
        assert len(list(iter_records(str(data_dir)))) == n_records
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    q = make_queue(data_dir)
    assert observe(q) == expected
    assert q.recovery.tail_bytes_discarded and q.recovery.jobs_interrupted


def test_newest_snapshot_with_a_good_checksum_but_a_body_that_does_not_fit_falls_back(
    make_queue, data_dir, clock
) -> None:
    """Regression (found by fuzzing the reader): such a body raised AttributeError out of
    recovery; now it is an unusable snapshot like any other and the previous one is used."""
    import json

    q = make_queue(data_dir)
    q.enqueue_many([Job(f"j{i}") for i in range(4)])
    q.snapshot()
    q.enqueue(Job("later"))
    newest = Path(q.snapshot())
    q.close()
    expected = observe(make_queue(copy_dir(data_dir, data_dir.parent / "ref")))
    head, _, body = newest.read_bytes().partition(b"\n")
    meta, _, rows = body.partition(b"\n")
    doc = json.loads(meta)
    doc["chunks"] = 12345  # a chunk list that is not a list
    body = json.dumps(doc).encode() + b"\n" + rows
    newest.write_bytes(snap._frame("SQSNAP", int(head.split(b" ")[2]), body))
    q = make_queue(data_dir)
    assert observe(q) == expected
    assert (
        q.recovery.snapshot != str(newest) and "unreadable body" in q.recovery.snapshots_skipped[0]
    )
