"""The recorded workloads (:data:`WORKLOADS`) and :func:`record`, which runs one on a
:class:`~simqueue.testing.crashsim.recording.RecordingFileSystem` and returns its trace."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.queue import DurableQueue
from simqueue.core.storage import FileSystem
from simqueue.testing.crashsim.disk import DATA_DIR, Disk, Files, write_state
from simqueue.testing.crashsim.driver import Driver
from simqueue.testing.crashsim.model import LogRec, State, decode_records, observe
from simqueue.testing.crashsim.outcomes import record_spans
from simqueue.testing.crashsim.recording import RecordingFileSystem, Trace, log_written


def _steady(d: Driver) -> None:
    d.open()
    for rnd in range(10 * d.scale):
        d.enqueue(2, pad=30 + 25 * (rnd % 3))
        job = d.dispatch(rnd % 3)
        if rnd % 4 == 1:
            d.fail(job)
        elif rnd % 4 != 3:  # every fourth one is left to time out
            d.complete(job)
        d.advance(0.8)
        if rnd % 3 == 2:
            d.expire()
        d.tick()
        if rnd % 4 == 3:
            d.snapshot()
    d.dispatch(0)  # the crash finds a job in flight and records in the OS, not on disk
    d.flush()


def _window(d: Driver) -> None:
    d.open()
    for rnd in range(6 * d.scale):
        d.enqueue(2, pad=40)
        d.fail(d.dispatch(0))  # backs off: RETRY, an entry in the delayed heap
        d.advance(0.3)  # past its backoff
        d.complete(d.dispatch(1))  # the other new job (ready first)
        d.complete(d.dispatch(2))  # the backed-off one, out of the delayed heap
        d.tick()
        if rnd == 2:
            d.snapshot()  # later rounds are replayed: RETRY, DISPATCH, ACK, then forgotten
    d.flush()


def _snapshot_race(d: Driver) -> None:
    d.open()
    for rnd in range(5 * d.scale):
        d.enqueue(3, pad=150)  # "never": handed to the OS, not fsynced
        d.complete(d.dispatch(0))
        d.dispatch(1)  # left in flight across the snapshot
        d.snapshot()
        d.enqueue(2, pad=220)  # appends racing the snapshot that just made the WAL durable
        if rnd % 5 == 2:
            d.snapshot()  # nothing new but the appends: the next snapshot right behind
            d.snapshot()  # same seq again: a rename over an existing snapshot
        d.advance(0.5)


def _segment_roll(d: Driver) -> None:
    d.open()
    for rnd in range(9 * d.scale):
        d.enqueue(3, pad=300)  # ~350-byte records in 4 KiB segments: a roll every few rounds
        d.complete(d.dispatch(rnd % 2))
        d.advance(0.2)
        if rnd % 3 == 0 and rnd:
            d.snapshot()  # from the second on, each deletes several covered segments at once
    d.dispatch(0)


def _recovery_pre(d: Driver) -> None:
    """Builds the directory the ``recovery`` workload opens (it is not itself a workload)."""
    d.open()
    d.enqueue(1, pad=60)
    d.fail(d.dispatch(1))  # j001: attempt 1 failed, ready again after the backoff
    d.advance(1.0)
    d.enqueue(5, pad=60)
    last = d.dispatch(0)  # j001's last attempt (max_retry=1): interrupted, it goes DEAD
    d.complete(d.dispatch(2))
    d.snapshot()  # j001 is in flight in the snapshot
    for _ in range(d.scale):
        d.enqueue(4, pad=90)
        d.dispatch(3)  # in flight in the WAL only
    d.sync()
    d.enqueue(2, pad=120)  # with the dispatch below: 3 records, under the batch size of 4
    d.dispatch(1)
    d.flush()  # reached the OS, never fsynced: the power cut tears it
    if last != ("j001", 2):
        raise AssertionError(f"the recovery workload's set-up drifted: {last}")


def _recovery(d: Driver) -> None:
    d.open()  # the recovery under test: cut the torn tail, interrupt in-flight jobs, sync
    d.prefix = "after"
    for _ in range(d.scale):
        d.enqueue(2, pad=40)
        d.complete(d.dispatch(0))
        d.snapshot()
    d.close()


class InitialDir(NamedTuple):
    """A data directory a workload starts from: its files, the log they hold, its last seq."""

    files: Files
    log: dict[int, LogRec]
    last_seq: int


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    params: dict[str, Any]  # DurableQueue.open keyword arguments
    steps: Callable[[Driver], None]
    prepare: Callable[[str, int], InitialDir] | None = None  # (scratch, scale): the start


def _prepare_recovery(scratch: str, scale: int = 1) -> InitialDir:
    """Run :func:`_recovery_pre`, then cut the power so the last segment is torn inside a
    record."""
    pre = record(
        Workload("recovery-pre", "", WORKLOADS["recovery"].params, _recovery_pre), scratch, scale
    )
    disk = Disk({})
    for op in pre.ops:
        disk.apply(op)
    contents = {}
    for ino, _path in disk.unsynced_files():
        buf, ds = disk.data[ino], disk.synced[ino]
        spans = [s for s in record_spans(buf) if s[1] > ds]
        cut = spans[len(spans) // 2][0] + 13 if spans else ds  # inside a record: torn
        contents[ino] = bytes(buf[:cut])
    if not contents:
        raise AssertionError("the recovery workload's directory has no torn tail")
    files = disk.materialize(True, False, contents=contents)
    k0 = max((r.seq for r in _readable_records(files)), default=0)
    return InitialDir(files, {s: r for s, r in pre.log.items() if s <= k0}, k0)


def _readable_records(files: Files) -> list[LogRec]:
    out = []
    for path in sorted(files):
        content = files[path]
        if path.endswith(wal.SEGMENT_SUFFIX) and content:
            out += decode_records(content[wal.HEADER_SIZE :])
    return out


#: The queue options of ``steady``, and of ``window`` with its retention window.
_STEADY: dict[str, Any] = dict(
    fsync="batch",
    batch_size=3,
    flush_interval=0.5,
    max_retry=1,
    backoff=0.25,
    task_timeout=2.0,
    segment_bytes=64 * 1024,
)

WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "steady",
            "steady processing with snapshots: group commit (batch of 3), retries, timeouts, "
            "DEAD jobs, a snapshot every fourth round",
            _STEADY,
            _steady,
        ),
        Workload(
            "window",
            "a retention window of 3 finished jobs: jobs fail, back off, run again out of the "
            "delayed heap and finish, then are forgotten while the log still holds them",
            {**_STEADY, "retain_finished": 3},
            _window,
        ),
        Workload(
            "snapshot-race",
            "snapshots racing appends: fsync=never, appends handed to the OS right before and "
            "after each snapshot, snapshots back to back (pruning) and at the same seq",
            dict(fsync="never", max_retry=2, task_timeout=5.0, segment_bytes=64 * 1024),
            _snapshot_race,
        ),
        Workload(
            "segment-roll",
            "segment rolls: fsync=always, 4 KiB segments, ~350-byte records; the second "
            "snapshot deletes several covered segments at once",
            dict(fsync="always", max_retry=2, task_timeout=5.0, segment_bytes=4096),
            _segment_roll,
        ),
        Workload(
            "recovery",
            "recovery itself: open a directory with a torn tail, a snapshot and in-flight jobs "
            "(one on its last attempt), then carry on and close",
            dict(
                fsync="batch",
                batch_size=4,
                flush_interval=0.5,
                max_retry=1,
                backoff=0.5,
                task_timeout=3.0,
                segment_bytes=64 * 1024,
            ),
            _recovery,
            _prepare_recovery,
        ),
    )
}


def record(workload: Workload | str, scratch: str, scale: int = 1) -> Trace:
    """Run ``workload`` once on a :class:`RecordingFileSystem` under ``scratch``, ``scale``
    times as many rounds as its plain version."""
    wl = WORKLOADS[workload] if isinstance(workload, str) else workload
    initial = wl.prepare(scratch, scale) if wl.prepare is not None else InitialDir({}, {}, 0)
    root = os.path.join(scratch, f"record-{wl.name}")
    write_state(root, initial.files)
    start = 1000.0 if wl.prepare is not None else 100.0
    reference = _reference(wl, initial.files, scratch, start) if wl.prepare is not None else None
    clock = VirtualClock(start)
    fs = RecordingFileSystem(root, clock)
    d = Driver(
        fs, os.path.join(root, DATA_DIR), wl.params, clock, acked=initial.last_seq, scale=scale
    )
    try:
        wl.steps(d)
    finally:
        d.abandon()
        shutil.rmtree(root, ignore_errors=True)
    log, written_upto = log_written(fs.trace, initial.log, initial.last_seq)
    return Trace(
        wl.name,
        dict(wl.params),
        list(fs.trace),
        d.marks,
        log=log,
        initial_files=initial.files,
        start_time=start,
        reference=reference,
        open_ends_at=d.open_ends_at,
        written_upto=written_upto,
        scale=scale,
    )


def _reference(wl: Workload, initial: Files, scratch: str, start: float) -> State:
    """What an uninterrupted recovery of the initial directory gives."""
    ref_root = os.path.join(scratch, f"reference-{wl.name}")
    write_state(ref_root, initial)
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    q = DurableQueue.open(
        os.path.join(ref_root, DATA_DIR), fs=fs, clock=VirtualClock(start), **wl.params
    )
    reference = observe(q)
    q.abandon()
    shutil.rmtree(ref_root)
    return reference
