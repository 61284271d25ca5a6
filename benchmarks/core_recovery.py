"""Part c of :mod:`benchmarks.bench_core`: recovery time of WALs and snapshots.

WALs of N records (no snapshot), a realistic ENQUEUE/DISPATCH/ACK mix with 1% of jobs failing
once (RETRY) and ~1% left pending, written in 4 MiB segments; the time of
``DurableQueue.open(dir)`` against two floors: reading the segment files (page cache) and
decoding every record without applying it. Then recovery from a snapshot taken after N completed
jobs, with and without the WAL it covers.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import io
import os
import pstats
import statistics
import time
from typing import Any

from simqueue import DurableQueue, Job, VirtualClock
from simqueue.core import wal
from simqueue.core.queue import DEFAULT_SEGMENT_BYTES

from .common import measure, temp_dir


def _dispatch(q: DurableQueue, worker: int) -> tuple[str, int]:
    """(job id, attempt) of the next ready job; the logs built here always have one."""
    out = q.dispatch_raw(worker)
    if out is None:
        raise RuntimeError("no job is ready to dispatch")
    return out[0], out[1]


def build_wal(d: str, n_records: int, seg: int, batch: int = 1000) -> dict[str, Any]:
    """A WAL of exactly ``n_records`` records and no snapshot, built fast through the real
    writer: ENQUEUE batches, then DISPATCH + ACK per job (1% fail once: RETRY, DISPATCH, ACK);
    the last ~1% of jobs stay pending. Nothing is in flight at the end, so reopening does not
    append records (the first reopen only starts a fresh segment)."""
    clock = VirtualClock(1_000_000.0)
    q = DurableQueue.open(d, fsync="never", durability="modeled", clock=clock, segment_bytes=seg)
    tail_jobs = max(1, n_records // 100)
    jid = 0
    try:
        while True:
            left = n_records - q.last_seq
            if left <= tail_jobs + 3:  # the pending tail: ENQUEUE records only
                ids = [f"job-{jid + i:09d}" for i in range(left)]
                q.enqueue_many([Job(i, {"n": jid}) for i in ids])
                break
            k = min(batch, (left - tail_jobs) // 3)
            if k < 1:
                k = 1
            ids = [f"job-{jid + i:09d}" for i in range(k)]
            q.enqueue_many([Job(job_id, {"n": jid + i}) for i, job_id in enumerate(ids)])
            clock.advance_by(0.001)
            for i in range(k):
                if q.last_seq + 2 > n_records - tail_jobs:
                    break
                job_id, attempt = _dispatch(q, i % 8)
                if (jid + i) % 100 == 99 and q.last_seq + 4 <= n_records - tail_jobs:
                    q.fail(job_id, attempt)
                    job_id, attempt = _dispatch(q, i % 8)
                q.complete(job_id, attempt)
            jid += k
            # whatever was not dispatched in this batch stays pending: fine, still a valid log
            clock.advance_by(0.001)
        counts = q.counts()
        last = q.last_seq
    finally:
        q.close()
    return {"records": last, "counts": counts}


def resegment(d: str, segment_bytes: int = DEFAULT_SEGMENT_BYTES) -> int:
    """Rewrite a WAL into segments of about ``segment_bytes`` (split at record boundaries, each
    with a fresh header), as a writer that rolls would have left it. Returns the segment count.
    The record bytes are unchanged, so every checksum and sequence number still holds."""
    wal_dir = os.path.join(d, "wal")
    names = sorted(os.listdir(wal_dir))
    blobs = []
    for name in names:
        path = os.path.join(wal_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        scan = wal.SegmentScan(path, data, None)
        if not scan.check_header():
            raise RuntimeError(f"bad header in {path}")
        offsets = [(r[1], r[9]) for r in scan.records()]
        if scan.bad is not None:
            raise RuntimeError(f"bad record in {path}: {scan.bad}")
        blobs.append((data, offsets))
    for name in names:
        os.remove(os.path.join(wal_dir, name))
    count = 0
    for data, offsets in blobs:
        i = 0
        while i < len(offsets):
            first_seq, start = offsets[i]
            j = i + 1
            while j < len(offsets) and offsets[j][1] - start + wal.HEADER_SIZE < segment_bytes:
                j += 1
            end = offsets[j][1] if j < len(offsets) else len(data)
            with open(os.path.join(wal_dir, wal.segment_name(first_seq)), "wb") as f:
                f.write(wal.encode_header(first_seq) + data[start:end])
            count += 1
            i = j
    return count


def _segment_paths(d: str) -> list[str]:
    wal_dir = os.path.join(d, "wal")
    return [os.path.join(wal_dir, n) for n in sorted(os.listdir(wal_dir))]


def read_floor(d: str) -> int:
    """Read every segment, nothing else: the page cache's part of a recovery (bytes read)."""
    total = 0
    for path in _segment_paths(d):
        with open(path, "rb") as f:
            total += len(f.read())
    return total


def decode_floor(d: str) -> int:
    """Read and check every record, building nothing: replay's decoder (``wal.decode_plain``,
    the C codec when it is built) over every segment, then ``SegmentScan.records`` for whatever
    it leaves (nothing, in a clean log). What recovery costs before it applies a record."""
    count = 0
    expect = None
    for path in _segment_paths(d):
        with open(path, "rb") as f:
            scan = wal.SegmentScan(path, f.read(), expect)
        if not scan.check_header():
            continue
        off = scan.end
        seq = scan.expect_seq if scan.expect_seq is not None else scan.first_seq
        while True:
            batch, off, seq = wal.decode_plain(scan.data, off, seq, 4096)
            count += len(batch)
            if len(batch) < 4096:
                break
        scan.resume_at(off, seq)
        for _ in scan.records():
            count += 1
        expect = scan.expect_seq
    return count


def time_open(d: str, repeat: int) -> dict[str, Any]:
    """Median wall time of ``DurableQueue.open(d)`` after one warm-up open (page cache warm,
    and the fresh empty segment a first reopen creates already made)."""
    DurableQueue.open(d).close()
    walls = []
    report = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        q = DurableQueue.open(d)
        walls.append(time.perf_counter() - t0)
        report = q.recovery
        q.close()
        del q
    assert report is not None
    return {
        "median": statistics.median(walls),
        "min": min(walls),
        "max": max(walls),
        "runs": walls,
        "report": report,
    }


def _built_wal(d: str, n: int, seg: int, roll_ok: bool) -> tuple[dict[str, Any], float]:
    """Build a clean WAL of ``n`` records in ``d``: what :func:`build_wal` reports, and the
    seconds it took."""
    t0 = time.perf_counter()
    built = build_wal(d, n, seg)
    if not roll_ok:
        resegment(d)
    build_s = time.perf_counter() - t0
    check = wal.verify(d)
    if check.status != "clean" or check.records != n:
        raise RuntimeError(f"built WAL is not clean: {check.describe()}")
    return built, build_s


def _recovery_row(d: str, n: int, seg: int, roll_ok: bool, repeat: int) -> dict[str, Any]:
    """Recovery of a WAL of ``n`` records against its read and decode floors."""
    built, build_s = _built_wal(d, n, seg, roll_ok)
    nbytes = sum(os.path.getsize(p) for p in _segment_paths(d))
    m = time_open(d, repeat)
    rep = m["report"]
    rd = measure(functools.partial(read_floor, d), repeat=repeat)
    dec = measure(functools.partial(decode_floor, d), repeat=repeat)
    print(
        f"  recovery of {n:,} records: {m['median']:.3f} s "
        f"(decode floor {dec['median']:.3f} s, read {rd['median']:.3f} s)",
        flush=True,
    )
    return {
        "records": n,
        "segments": rep.segments,
        "wal_MB": nbytes / 1e6,
        "jobs": sum(built["counts"].values()),
        "open_s": m["median"],
        "open_min_s": m["min"],
        "open_max_s": m["max"],
        "us_per_record": m["median"] / n * 1e6,
        "records_replayed": rep.records_replayed,
        "read_s": rd["median"],
        "decode_s": dec["median"],
        "decode_us_per_record": dec["median"] / n * 1e6,
        "apply_etc_s": m["median"] - dec["median"],
        "build_s": build_s,
    }


def bench_recovery_wal(
    sizes: list[int], seg: int, roll_ok: bool, repeat: int, profile: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """One row per WAL size; with ``profile``, the pstats listing of one recovery of the
    largest."""
    rows = []
    profile_text = None
    for n in sizes:
        with temp_dir() as d:
            rows.append(_recovery_row(d, n, seg, roll_ok, repeat))
            if profile and n == max(sizes):
                profile_text = profile_open(d)
    return rows, profile_text


def profile_open(d: str, top: int = 15) -> str:
    """pstats' listing (by own time) of one ``DurableQueue.open(d)``."""
    pr = cProfile.Profile()
    pr.enable()
    q = DurableQueue.open(d)
    pr.disable()
    q.close()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _snapshot_dir(d: str, n: int, snapshots: int, seg: int) -> None:
    """``n`` completed jobs and a snapshot of them in ``d``; with ``snapshots=2`` one more job
    and a second snapshot, which lets the WAL the first one covers be pruned."""
    clock = VirtualClock(1_000_000.0)
    q = DurableQueue.open(d, fsync="never", durability="modeled", clock=clock, segment_bytes=seg)
    for b in range(0, n, 1000):
        ids = [f"job-{i:09d}" for i in range(b, min(n, b + 1000))]
        q.enqueue_many([Job(i, {"n": 1}) for i in ids])
        for _ in ids:
            job_id, attempt = _dispatch(q, 0)
            q.complete(job_id, attempt)
        clock.advance_by(0.01)
    q.snapshot()
    if snapshots == 2:  # one more job, so the second snapshot has a new seq
        q.enqueue(Job("job-last"))
        job_id, attempt = _dispatch(q, 0)
        q.complete(job_id, attempt)
        q.snapshot()
    q.close()


def _snapshot_row(d: str, n: int, snapshots: int, seg: int, repeat: int) -> dict[str, Any]:
    _snapshot_dir(d, n, snapshots, seg)
    snap_dir = os.path.join(d, "snapshots")
    snap_bytes = sum(os.path.getsize(os.path.join(snap_dir, f)) for f in os.listdir(snap_dir))
    wal_bytes = sum(os.path.getsize(p) for p in _segment_paths(d))
    m = time_open(d, repeat)
    rep = m["report"]
    print(f"  snapshot of {n:,} jobs ({snapshots} snapshot(s)): {m['median']:.3f} s", flush=True)
    return {
        "jobs": n,
        "snapshots": snapshots,
        "snapshot_MB": snap_bytes / 1e6,
        "wal_MB": wal_bytes / 1e6,
        "open_s": m["median"],
        "open_min_s": m["min"],
        "open_max_s": m["max"],
        "us_per_job": m["median"] / n * 1e6,
        "records_replayed": rep.records_replayed,
        "records_skipped": rep.records_skipped,
        "jobs_restored": rep.jobs_restored,
    }


def bench_recovery_snapshot(sizes: list[int], seg: int, repeat: int) -> list[dict[str, Any]]:
    """Open after a snapshot of N completed jobs: once with the pre-snapshot WAL still on disk
    (one snapshot: the segments it covers are kept while it is the only one, so recovery reads
    and skips them), once after a second snapshot (one more job later) let the WAL be pruned.
    ``snapshot_MB`` counts every file in snapshots/ (snapshots and finished-job chunks)."""
    rows = []
    for n in sizes:
        for snapshots in (1, 2):
            with temp_dir() as d:
                rows.append(_snapshot_row(d, n, snapshots, seg, repeat))
    return rows
