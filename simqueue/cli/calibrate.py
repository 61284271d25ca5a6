"""``simqueue calibrate``: measure this machine's disk and recovery speed, and write a disk
profile that ``Config(disk="profile.json")`` loads (:mod:`simqueue.sim.disk`).

Three measurements, all real, in a scratch directory on the disk under test (by default a
temporary directory in the current directory: the disk a data directory would live on there,
never a RAM disk unless asked for):

1. ``fdatasync``: ``--samples`` times, append 4 KiB to a file and ``fdatasync`` it (what the WAL
   and the snapshot files do);
2. ``fsync``: the same with ``fsync`` (data and metadata; what a directory fsync costs is of
   that order, and the profile charges it for one);
3. recovery: build data directories with real :class:`~simqueue.DurableQueue` operations (a WAL
   of growing length; a snapshot of growing size), time a real ``DurableQueue.open`` of each
   (with modeled fsync: a profile charges recovery's fsyncs from 1 and 2), and fit seconds per
   replayed record and per snapshot job by least squares.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command

BLOCK = b"\xa5" * 4096
WAL_SIZES = (2_000, 8_000, 16_000)
SNAPSHOT_SIZES = (2_000, 8_000, 16_000)
REPEATS = 3
MIN_SAMPLES = 10


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "calibrate",
        help="measure this machine's fsync latency and recovery speed, write a disk profile",
        description="Measure the real fdatasync and fsync latency distribution of the disk "
        "under --dir and the recovery cost (seconds per replayed WAL record and per snapshot "
        "job, from real DurableQueue.open runs), and write a JSON disk profile that "
        'Config(disk="PROFILE.json") and the dashboard load. Progress goes to stderr.',
    )
    p.add_argument(
        "--dir",
        metavar="D",
        help="directory on the disk to measure (default: a temporary directory in the "
        "current directory, removed afterwards)",
    )
    p.add_argument("--out", metavar="PROFILE", help="write the profile here (default: stdout)")
    p.add_argument(
        "--samples",
        metavar="N",
        type=str,
        default="200",
        help=f"fsyncs timed per kind (at least {MIN_SAMPLES}; default 200)",
    )
    p.add_argument("--name", default="calibrated", help="the profile's name (default: calibrated)")
    p.set_defaults(func=cmd_calibrate)


def _progress(text: str) -> None:
    print(f"calibrate: {text}", file=sys.stderr, flush=True)


def _samples(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise CliError(f"--samples must be an integer; got {value!r}", ExitCode.USAGE) from None
    if n < MIN_SAMPLES:
        raise CliError(f"--samples must be >= {MIN_SAMPLES}; got {n}", ExitCode.USAGE)
    return n


def _scratch(where: str | None) -> str:
    """A new scratch directory in ``where`` (default: the current directory)."""
    if where is not None and not os.path.isdir(where):
        raise CliError(f"--dir: no such directory: {where}", ExitCode.USAGE)
    if where is not None and not os.access(where, os.W_OK):
        raise CliError(f"--dir: not writable: {where}", ExitCode.USAGE)
    return tempfile.mkdtemp(prefix="simqueue-calibrate-", dir=where or os.getcwd())


def _check_out(path: str | None) -> None:
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CliError(f"--out: no such directory: {parent}", ExitCode.USAGE)
    if os.path.isdir(path):
        raise CliError(f"--out: {path} is a directory", ExitCode.USAGE)


def time_syncs(path: str, n: int, sync: Callable[[int], None]) -> list[float]:
    """Seconds of each of ``n`` syncs of 4 KiB appended to the file ``path``."""
    from simqueue.core.clock import stopwatch

    out = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(n):
            os.write(fd, BLOCK)
            t0 = stopwatch()
            sync(fd)
            out.append(stopwatch() - t0)
    finally:
        os.close(fd)
        os.remove(path)
    return out


def _build(data_dir: str, jobs: int, *, snapshot: bool) -> None:
    """A data directory with ``jobs`` jobs, enqueued and half of them run to completion (none
    left in flight, so recovery only replays): in the WAL, or (``snapshot``) in a snapshot with
    an empty log after it."""
    from simqueue.core.jobs import Job
    from simqueue.core.queue import DurableQueue

    q = DurableQueue.open(data_dir, fsync="never", durability="modeled")
    try:
        q.enqueue_many(Job(f"job-{i}") for i in range(jobs))
        for _ in range(jobs // 2):
            job = q.dispatch(0)
            if job is not None:
                q.complete(job.id, job.attempt)
        if snapshot:
            q.snapshot()
    finally:
        q.close()


def _time_open(data_dir: str) -> tuple[float, int, int]:
    """The fastest of a few real recoveries: (seconds, records replayed, snapshot jobs)."""
    from simqueue.core.queue import DurableQueue

    best: tuple[float, int, int] | None = None
    for _ in range(REPEATS):
        q = DurableQueue.open(data_dir, fsync="never", durability="modeled")
        report = q.recovery
        q.close()
        if report is None:
            raise CliError(f"calibrate: {data_dir} recovered as a new directory", ExitCode.FAILURE)
        got = (report.wall_seconds, report.records_replayed, report.snapshot_jobs)
        if best is None or got[0] < best[0]:
            best = got
    assert best is not None
    return best


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y), never below 0."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return max(sxy / sxx, 0.0) if sxx else 0.0


def measure_recovery(root: str) -> tuple[float, float]:
    """(seconds per replayed record, seconds per snapshot job) fitted from real recoveries."""
    wal_points = []
    for n in WAL_SIZES:
        d = os.path.join(root, f"wal-{n}")
        _build(d, n, snapshot=False)
        seconds, replayed, _ = _time_open(d)
        wal_points.append((float(replayed), seconds))
        _progress(f"recovery replaying {replayed} WAL records: {seconds * 1000:.1f} ms")
    per_record = _slope(wal_points)
    snap_points = []
    for n in SNAPSHOT_SIZES:
        d = os.path.join(root, f"snap-{n}")
        _build(d, n, snapshot=True)
        seconds, replayed, jobs = _time_open(d)
        snap_points.append((float(jobs), seconds - per_record * replayed))
        _progress(f"recovery loading a snapshot of {jobs} jobs: {seconds * 1000:.1f} ms")
    return per_record, _slope(snap_points)


def calibrate(where: str, samples: int, name: str) -> dict[str, object]:
    """Measure in ``where`` (a scratch directory) and return the profile as plain values."""
    from simqueue.sim.disk import DiskProfile, Latency, RecoveryCost

    sync_data = getattr(os, "fdatasync", os.fsync)
    _progress(f"timing {samples} fdatasync calls in {where}")
    fdatasync = time_syncs(os.path.join(where, "fdatasync.bin"), samples, sync_data)
    _progress(f"timing {samples} fsync calls")
    fsync = time_syncs(os.path.join(where, "fsync.bin"), samples, os.fsync)
    per_record, per_job = measure_recovery(where)
    profile = DiskProfile(
        name,
        Latency.from_samples(fdatasync),
        Latency.from_samples(fsync),
        RecoveryCost(per_record, per_job),
        f"simqueue calibrate on {platform.node() or 'this machine'}: {samples} fdatasync and "
        f"fsync calls of 4 KiB in {os.path.dirname(where)}; recovery fitted from "
        f"{len(WAL_SIZES) + len(SNAPSHOT_SIZES)} real opens",
    )
    return profile.to_dict()


def cmd_calibrate(args: argparse.Namespace) -> int:
    samples = _samples(args.samples)
    _check_out(args.out)
    where = _scratch(args.dir)
    try:
        data = calibrate(where, samples, str(args.name))
    finally:
        shutil.rmtree(where, ignore_errors=True)
    text = json.dumps(data, indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        _progress(f"wrote {args.out}: load it with Config(disk={args.out!r})")
    fd = data["fdatasync"]
    assert isinstance(fd, list)
    _progress(f"median fdatasync {fd[2][1] * 1000:.3f} ms, p99 {fd[4][1] * 1000:.3f} ms")
    return ExitCode.OK


__all__ = ["add_parser", "calibrate", "cmd_calibrate", "measure_recovery", "time_syncs"]
