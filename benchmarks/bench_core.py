"""Speed of the durable core: appends, group commit, the disk's fsync limit, recovery.

Run::

    python -m benchmarks.bench_core            # full sizes (recovery up to 2,000,000 records)
    python -m benchmarks.bench_core --quick    # smaller sizes (or SIMQUEUE_BENCH_QUICK=1)
    python -m benchmarks.bench_core --profile  # also cProfile one recovery of the largest WAL

What is measured (wall seconds, :func:`time.perf_counter`):

a. Appends per second: ``q.enqueue(Job(...))`` one call at a time (the ``Job`` is built inside
   the timed loop, as a caller would), per fsync policy, with ``durability="real"`` (real
   ``os.fsync``) on two disks (a temp dir under /tmp and one in the repository's own file
   system, ``.bench-tmp/``, deleted afterwards) and with ``durability="modeled"``. Then a full
   job cycle (enqueue + dispatch + complete) per policy. Each run ends with the queue's records
   durable as its policy promises (``batch`` ends with a ``sync()``).
b. The disk's own limit: a bare loop appending 64 bytes to a file and ``os.fsync``-ing it, and
   what group commit makes of it (jobs/s under ``batch`` / bare fsyncs/s).
c. Recovery: WALs of N records (no snapshot), a realistic ENQUEUE/DISPATCH/ACK mix with 1% of
   jobs failing once (RETRY) and ~1% left pending, written in 4 MiB segments; the time of
   ``DurableQueue.open(dir)`` against two floors: reading the segment files (page cache) and
   decoding every record with :class:`simqueue.core.wal.SegmentScan` without applying it. Then
   recovery from a snapshot taken after N completed jobs.

The machine's load average is recorded with the results: other processes on a 2-CPU machine
move these numbers by tens of percent, so compare runs taken under similar load.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import shutil
import statistics
import sys
import time
from typing import Any

from simqueue import DurableQueue, Job, VirtualClock
from simqueue.core import wal
from simqueue.core.queue import DEFAULT_SEGMENT_BYTES

from .common import (
    is_quick,
    load_average,
    measure,
    print_table,
    rate,
    temp_dir,
    write_results,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_TMP = os.path.join(REPO_ROOT, ".bench-tmp")
POLICIES = ("always", "batch", "never")


# ---------------------------------------------------------------------------------- helpers
def segment_roll_works() -> bool:
    """Whether this simqueue can roll WAL segments (an early version recursed forever).

    If it cannot, benchmarks write into one large segment instead; recovery WALs are still
    split into 4 MiB segments afterwards (see :func:`resegment`)."""
    with temp_dir() as d:
        try:
            q = DurableQueue.open(d, fsync="never", durability="modeled", segment_bytes=4096)
            q.enqueue_ids(f"r{i}" for i in range(200))
            q.close()
        except RecursionError:
            return False
        return len(os.listdir(os.path.join(d, "wal"))) > 1


def bench_segment_bytes(roll_ok: bool) -> int:
    return DEFAULT_SEGMENT_BYTES if roll_ok else 1 << 40


def disks(skip_repo: bool) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = [("/tmp", None)]
    if not skip_repo:
        out.append(("repo", REPO_TMP))
    return out


# ---------------------------------------------------------------------------------- a. appends
def _enqueue_run(
    base: str | None, policy: str, durability: str, n: int, seg: int, cycle: bool
) -> dict[str, Any]:
    with temp_dir(base) as d:
        q = DurableQueue.open(d, fsync=policy, durability=durability, segment_bytes=seg)
        try:
            fsyncs0 = q.fs.stats.fsyncs
            t0 = time.perf_counter()
            if cycle:
                for i in range(n):
                    q.enqueue(Job(f"job-{i:08d}", {"n": i}))
                    job = q.dispatch(0)
                    q.complete(job.id, job.attempt)
            else:
                for i in range(n):
                    q.enqueue(Job(f"job-{i:08d}", {"n": i}))
            if policy == "batch":
                q.sync()
            elif policy == "never":
                q.flush()
            dt = time.perf_counter() - t0
            fsyncs = q.fs.stats.fsyncs - fsyncs0
            records = q.last_seq
        finally:
            q.close()
    return {"seconds": dt, "fsyncs": fsyncs, "records": records}


def bench_appends(quick: bool, skip_repo: bool, seg: int, repeat: int) -> list[dict[str, Any]]:
    if quick:
        sizes = {"always": 300, "batch": 3000, "never": 5000}
    else:
        sizes = {"always": 2000, "batch": 20000, "never": 30000}
    rows = []
    configs: list[tuple[str, str | None, str]] = [
        (label, base, "real") for label, base in disks(skip_repo)
    ]
    configs.append(("/tmp", None, "modeled"))
    for cycle in (False, True):
        for label, base, durability in configs:
            for policy in POLICIES:
                n = sizes[policy] if durability == "real" else sizes["never"]
                if cycle:
                    n = max(100, n // 2)
                runs = [
                    _enqueue_run(base, policy, durability, n, seg, cycle) for _ in range(repeat)
                ]
                secs = [r["seconds"] for r in runs]
                med = statistics.median(secs)
                rows.append(
                    {
                        "op": "cycle" if cycle else "enqueue",
                        "disk": label,
                        "durability": durability,
                        "fsync": policy,
                        "jobs": n,
                        "jobs_per_s": rate(n, med),
                        "us_per_job": med / n * 1e6,
                        "fsyncs_per_job": runs[0]["fsyncs"] / n,
                        "min_s": min(secs),
                        "max_s": max(secs),
                        "median_s": med,
                    }
                )
                print(
                    f"  {rows[-1]['op']:7s} {label:5s} {durability:8s} {policy:6s} "
                    f"{rows[-1]['jobs_per_s']:>12,.0f} jobs/s",
                    flush=True,
                )
    return rows


# ---------------------------------------------------------------------------------- b. fsync
def bare_fsync_rate(base: str | None, n: int, repeat: int) -> dict[str, Any]:
    with temp_dir(base) as d:
        path = os.path.join(d, "bare.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        chunk = b"x" * 64
        try:
            os.fsync(fd)

            def loop() -> None:
                for _ in range(n):
                    os.write(fd, chunk)
                    os.fsync(fd)

            m = measure(loop, repeat=repeat)
        finally:
            os.close(fd)
    return {"fsyncs": n, "fsyncs_per_s": n / m["median"], "us_per_fsync": m["median"] / n * 1e6}


def bench_fsync(
    quick: bool, skip_repo: bool, append_rows: list[dict[str, Any]], repeat: int
) -> list[dict[str, Any]]:
    n = 300 if quick else 2000
    rows = []
    for label, base in disks(skip_repo):
        r = bare_fsync_rate(base, n, repeat)

        def jobs_per_s(policy: str, op: str = "enqueue", label: str = label) -> float | None:
            for row in append_rows:
                if (row["disk"], row["durability"], row["fsync"], row["op"]) == (
                    label,
                    "real",
                    policy,
                    op,
                ):
                    return row["jobs_per_s"]
            return None

        batch = jobs_per_s("batch")
        always = jobs_per_s("always")
        rows.append(
            {
                "disk": label,
                "fsyncs_per_s": r["fsyncs_per_s"],
                "us_per_fsync": r["us_per_fsync"],
                "always_jobs_per_s": always,
                "always_over_bare": always / r["fsyncs_per_s"] if always else None,
                "batch_jobs_per_s": batch,
                "batch_over_bare": batch / r["fsyncs_per_s"] if batch else None,
            }
        )
    return rows


# ---------------------------------------------------------------------------------- c. recovery
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
                job_id, attempt, _ = q.dispatch_raw(i % 8)
                if (jid + i) % 100 == 99 and q.last_seq + 4 <= n_records - tail_jobs:
                    q.fail(job_id, attempt)
                    job_id, attempt, _ = q.dispatch_raw(i % 8)
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
        off, seq = scan.end, scan.expect_seq
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


def bench_recovery_wal(
    sizes: list[int], seg: int, roll_ok: bool, repeat: int, profile: bool
) -> tuple[list[dict[str, Any]], str | None]:
    rows = []
    profile_text = None
    for n in sizes:
        with temp_dir() as d:
            t0 = time.perf_counter()
            built = build_wal(d, n, seg)
            if not roll_ok:
                resegment(d)
            build_s = time.perf_counter() - t0
            check = wal.verify(d)
            if check.status != "clean" or check.records != n:
                raise RuntimeError(f"built WAL is not clean: {check.describe()}")
            nbytes = sum(os.path.getsize(p) for p in _segment_paths(d))
            m = time_open(d, repeat)
            rep = m["report"]
            rd = measure(lambda d=d: read_floor(d), repeat=repeat)
            dec = measure(lambda d=d: decode_floor(d), repeat=repeat)
            rows.append(
                {
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
            )
            print(
                f"  recovery of {n:,} records: {m['median']:.3f} s "
                f"(decode floor {dec['median']:.3f} s, read {rd['median']:.3f} s)",
                flush=True,
            )
            if profile and n == max(sizes):
                profile_text = profile_open(d)
    return rows, profile_text


def profile_open(d: str, top: int = 15) -> str:
    pr = cProfile.Profile()
    pr.enable()
    q = DurableQueue.open(d)
    pr.disable()
    q.close()
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def bench_recovery_snapshot(sizes: list[int], seg: int, repeat: int) -> list[dict[str, Any]]:
    """Open after a snapshot of N completed jobs: once with the pre-snapshot WAL still on disk
    (one snapshot: the segments it covers are kept while it is the only one, so recovery reads
    and skips them), once after a second snapshot (one more job later) let the WAL be pruned.
    ``snapshot_MB`` counts every file in snapshots/ (snapshots and finished-job chunks)."""
    rows = []
    for n in sizes:
        for snapshots in (1, 2):
            with temp_dir() as d:
                clock = VirtualClock(1_000_000.0)
                q = DurableQueue.open(
                    d, fsync="never", durability="modeled", clock=clock, segment_bytes=seg
                )
                for b in range(0, n, 1000):
                    ids = [f"job-{i:09d}" for i in range(b, min(n, b + 1000))]
                    q.enqueue_many([Job(i, {"n": 1}) for i in ids])
                    for _ in ids:
                        job_id, attempt, _ = q.dispatch_raw(0)
                        q.complete(job_id, attempt)
                    clock.advance_by(0.01)
                q.snapshot()
                if snapshots == 2:  # one more job, so the second snapshot has a new seq
                    q.enqueue(Job("job-last"))
                    job_id, attempt, _ = q.dispatch_raw(0)
                    q.complete(job_id, attempt)
                    q.snapshot()
                q.close()
                snap_dir = os.path.join(d, "snapshots")
                snap_bytes = sum(
                    os.path.getsize(os.path.join(snap_dir, f)) for f in os.listdir(snap_dir)
                )
                wal_bytes = sum(os.path.getsize(p) for p in _segment_paths(d))
                m = time_open(d, repeat)
                rep = m["report"]
                rows.append(
                    {
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
                )
                print(
                    f"  snapshot of {n:,} jobs ({snapshots} snapshot(s)): {m['median']:.3f} s",
                    flush=True,
                )
    return rows


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_core", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest recovery")
    parser.add_argument(
        "--skip-repo-disk", action="store_true", help="only /tmp, not .bench-tmp in the repo"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    quick = args.quick or is_quick(argv if argv is not None else sys.argv[1:])
    repeat = 3
    load_before = load_average()
    roll_ok = segment_roll_works()
    seg = bench_segment_bytes(roll_ok)
    if not roll_ok:
        print("note: this simqueue cannot roll WAL segments; benchmarking with one segment")
    started = time.perf_counter()
    try:
        print("a. appends (one call per job)", flush=True)
        append_rows = bench_appends(quick, args.skip_repo_disk, seg, repeat)
        print("b. bare fsync rate", flush=True)
        fsync_rows = bench_fsync(quick, args.skip_repo_disk, append_rows, repeat=3)
    finally:
        if os.path.isdir(REPO_TMP):
            shutil.rmtree(REPO_TMP, ignore_errors=True)
    print("c. recovery", flush=True)
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000, 2_000_000]
    rec_rows, profile_text = bench_recovery_wal(sizes, seg, roll_ok, repeat, args.profile)
    snap_rows = bench_recovery_snapshot([10_000, 100_000], seg, repeat)
    total = time.perf_counter() - started

    cols_a = ["op", "disk", "durability", "fsync", "jobs", "jobs_per_s", "us_per_job"]
    cols_a += ["fsyncs_per_job", "min_s", "max_s"]
    print_table(append_rows, cols_a, "a. appends and full cycles per second (median of 3)")
    print_table(fsync_rows, title="b. the disk's fsync limit and what group commit makes of it")
    cols_c = ["records", "segments", "wal_MB", "open_s", "open_min_s", "open_max_s"]
    cols_c += ["us_per_record", "records_replayed", "read_s", "decode_s", "apply_etc_s"]
    print_table(rec_rows, cols_c, "c. recovery = DurableQueue.open(dir), no snapshot (median of 3)")
    print_table(snap_rows, title="c. recovery from a snapshot of N completed jobs (median of 3)")
    if profile_text:
        print("\ncProfile of one recovery of the largest WAL (sorted by own time):")
        print(profile_text)
    load_after = load_average()
    print(f"\nload average before {load_before}, after {load_after}; {total:.0f} s in all")
    if not args.no_write:
        path = write_results(
            "core",
            {
                "quick": quick,
                "repeat": repeat,
                "segment_roll_works": roll_ok,
                "segment_bytes": DEFAULT_SEGMENT_BYTES,
                "load_average_before": load_before,
                "load_average_after": load_after,
                "seconds_total": total,
                "appends": append_rows,
                "fsync": fsync_rows,
                "recovery": rec_rows,
                "recovery_snapshot": snap_rows,
            },
        )
        print(f"wrote the 'core' section of {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
