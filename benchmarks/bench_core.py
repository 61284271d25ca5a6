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
c. Recovery (:mod:`benchmarks.core_recovery`): WALs of N records (no snapshot), a realistic
   ENQUEUE/DISPATCH/ACK mix with 1% of jobs failing once (RETRY) and ~1% left pending, written
   in 4 MiB segments; the time of ``DurableQueue.open(dir)`` against two floors: reading the
   segment files (page cache) and decoding every record without applying it. Then recovery
   from a snapshot taken after N completed jobs.

The machine's load average is recorded with the results: other processes on a 2-CPU machine
move these numbers by tens of percent, so compare runs taken under similar load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from typing import Any

from simqueue import DurableQueue, Job
from simqueue.core.queue import DEFAULT_SEGMENT_BYTES

from .common import is_quick, load_average, measure, print_table, rate, temp_dir, write_results
from .core_recovery import bench_recovery_snapshot, bench_recovery_wal

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_TMP = os.path.join(REPO_ROOT, ".bench-tmp")
POLICIES = ("always", "batch", "never")
REPEAT = 3  # runs of each measurement: median, min and max


# ---------------------------------------------------------------------------------- helpers
def segment_roll_works() -> bool:
    """Whether the queue rolls to a new WAL segment once one is full (a failure to roll, a
    recursion included, counts as no).

    If it does not, benchmarks write into one large segment instead, and recovery WALs are split
    into 4 MiB segments afterwards (:func:`benchmarks.core_recovery.resegment`)."""
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
                    if job is None:
                        raise RuntimeError("the job just enqueued was not dispatched")
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
                    return float(row["jobs_per_s"])
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


# ---------------------------------------------------------------------------------- main
def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, bool]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_core", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest recovery")
    parser.add_argument(
        "--skip-repo-disk", action="store_true", help="only /tmp, not .bench-tmp in the repo"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    return args, args.quick or is_quick(argv if argv is not None else sys.argv[1:])


def _measure(args: argparse.Namespace, quick: bool, roll_ok: bool) -> dict[str, Any]:
    """Parts a, b and c; the sections of results.json they fill, and the recovery profile."""
    seg = bench_segment_bytes(roll_ok)
    try:
        print("a. appends (one call per job)", flush=True)
        append_rows = bench_appends(quick, args.skip_repo_disk, seg, REPEAT)
        print("b. bare fsync rate", flush=True)
        fsync_rows = bench_fsync(quick, args.skip_repo_disk, append_rows, REPEAT)
    finally:
        if os.path.isdir(REPO_TMP):
            shutil.rmtree(REPO_TMP, ignore_errors=True)
    print("c. recovery", flush=True)
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000, 2_000_000]
    rec_rows, profile_text = bench_recovery_wal(sizes, seg, roll_ok, REPEAT, args.profile)
    snap_rows = bench_recovery_snapshot([10_000, 100_000], seg, REPEAT)
    return {
        "appends": append_rows,
        "fsync": fsync_rows,
        "recovery": rec_rows,
        "recovery_snapshot": snap_rows,
        "profile_text": profile_text,
    }


def _print(res: dict[str, Any]) -> None:
    cols_a = ["op", "disk", "durability", "fsync", "jobs", "jobs_per_s", "us_per_job"]
    cols_a += ["fsyncs_per_job", "min_s", "max_s"]
    print_table(res["appends"], cols_a, "a. appends and full cycles per second (median of 3)")
    print_table(res["fsync"], title="b. the disk's fsync limit and what group commit makes of it")
    cols_c = ["records", "segments", "wal_MB", "open_s", "open_min_s", "open_max_s"]
    cols_c += ["us_per_record", "records_replayed", "read_s", "decode_s", "apply_etc_s"]
    title_c = "c. recovery = DurableQueue.open(dir), no snapshot (median of 3)"
    print_table(res["recovery"], cols_c, title_c)
    title_s = "c. recovery from a snapshot of N completed jobs (median of 3)"
    print_table(res["recovery_snapshot"], title=title_s)
    if res["profile_text"]:
        # benchmarks/__main__.py lifts this listing from the output, up to "load average".
        print("\ncProfile of one recovery of the largest WAL (sorted by own time):")
        print(res["profile_text"])


def main(argv: list[str] | None = None) -> int:
    args, quick = _parse(argv)
    load_before = load_average()
    roll_ok = segment_roll_works()
    if not roll_ok:
        print("note: this simqueue cannot roll WAL segments; benchmarking with one segment")
    started = time.perf_counter()
    res = _measure(args, quick, roll_ok)
    total = time.perf_counter() - started
    _print(res)
    load_after = load_average()
    print(f"\nload average before {load_before}, after {load_after}; {total:.0f} s in all")
    if not args.no_write:
        res.pop("profile_text")
        section = {
            "quick": quick,
            "repeat": REPEAT,
            "segment_roll_works": roll_ok,
            "segment_bytes": DEFAULT_SEGMENT_BYTES,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "seconds_total": total,
            **res,
        }
        print(f"wrote the 'core' section of {write_results('core', section)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
