"""Durable library throughput (no HTTP): simqueue's DurableQueue against SQLite-based queues.

Run::

    python -m benchmarks.bench_queue            # full sizes, median of 3 rounds
    python -m benchmarks.bench_queue --quick    # smaller sizes (or SIMQUEUE_BENCH_QUICK=1)

One *job* is the whole life of a unit of work through a durable queue, one call at a time, the
way a worker loop does it: enqueue, dispatch (take the oldest pending job), complete. Every
system runs on the real disk in a fresh directory under the system temp dir, with real fsync:

* simqueue ``DurableQueue.open(d, durability="real", fsync=...)``: ``enqueue(Job)``,
  ``dispatch(worker)``, ``complete(job_id, attempt)``, for each fsync policy. ``batch`` is
  group commit by size only (``batch_size = 3 * B`` records = B jobs, ``flush_interval`` an
  hour), so one fsync covers B jobs; the run ends with a ``sync()``.
* persist-queue ``SQLiteAckQueue`` (``auto_commit=True``, the default, journal_mode=WAL):
  ``put``, ``get``, ``ack`` per job: each its own durable transaction.
* a plain ``sqlite3`` queue table (WAL mode, ``synchronous=FULL``): INSERT, an
  ``UPDATE ... WHERE qid = (oldest pending) RETURNING`` (dispatch) and an UPDATE (complete).

Equal-durability pairings (the same number of fsync points per job):

========================  =====================================  ===========================
durable when              simqueue                               sqlite3 table
========================  =====================================  ===========================
every op, before return    ``fsync="always"`` (3 fsyncs per job)  autocommit: a commit per
                                                                 statement (3 per job)
group commit of B jobs    ``fsync="batch"``, batch = B jobs      one transaction per B jobs
reaches the OS only       ``fsync="never"``                      ``synchronous=OFF``
========================  =====================================  ===========================

And the disk's own limit: a bare loop appending 64 bytes to a file and fsync-ing it (also with
``fdatasync``, and overwriting a pre-written file with ``fdatasync``, which is closer to what
SQLite does with its WAL file, and what simqueue does with its preallocated segments). With
``"always"`` a job needs ``fsyncs_per_job`` fsyncs, so ``overwrite_rate / fsyncs_per_job``
jobs/s is the ceiling (the bare loop with simqueue's own write pattern); the ratio of what
``"always"`` achieves to that ceiling is reported.

Targets (reported as ratios in the same run, never asserted): each pairing >= the sqlite3 table
at equal durability; ``"always"`` within 2x of the ceiling (ratio >= 0.5). Group commit over
SQLiteAckQueue (one fsync per B jobs against a commit per operation: unequal durability) is
printed for information only. Results go to the ``queue`` section of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from simqueue import DurableQueue, Job

from .common import is_quick, load_average, print_table, rate, temp_dir, write_results
from .profiling import print_profile, profile_call
from .queue_systems import run_bare_fsync, run_persist_queue, run_sqlite

GROUP_JOBS = 100  # B: jobs per group commit in the headline pairing


# ------------------------------------------------------------------------------- simqueue
def _open_real(d: str, policy: str, group_jobs: int = GROUP_JOBS) -> DurableQueue:
    """A queue on the real disk; ``batch`` commits by size only: exactly B jobs per fsync."""
    return DurableQueue.open(
        d,
        fsync=policy,
        durability="real",
        batch_size=3 * group_jobs,
        flush_interval=3600.0,
    )


def run_simqueue(n: int, policy: str, group_jobs: int = GROUP_JOBS) -> dict[str, Any]:
    with temp_dir() as d:
        q = _open_real(d, policy, group_jobs)
        try:
            f0 = q.fs.stats.fsyncs
            t0 = time.perf_counter()
            _simqueue_loop(q, n)
            if policy == "batch":
                q.sync()
            elif policy == "never":
                q.flush()
            dt = time.perf_counter() - t0
            fsyncs = q.fs.stats.fsyncs - f0
            done = q.counts()["completed"]
        finally:
            q.close()
    if done != n:
        raise RuntimeError(f"simqueue completed {done} of {n} jobs")
    return {"seconds": dt, "fsyncs": fsyncs}


def _simqueue_loop(q: DurableQueue, n: int) -> None:
    enqueue, dispatch, complete = q.enqueue, q.dispatch, q.complete
    for i in range(n):
        enqueue(Job(f"job-{i:08d}", {"n": i}))
        job = dispatch(0)
        if job is None:
            raise RuntimeError("the job just enqueued was not dispatched")
        complete(job.id, job.attempt)


# ------------------------------------------------------------------------------- the suite
def systems(quick: bool) -> list[tuple[str, str, int, Callable[[int], dict[str, Any]]]]:
    """(name, pairing, jobs, run) for every system; sizes keep each run around 0.3-2 s."""
    slow = 300 if quick else 1500  # bounded by fsync latency (~3 fsyncs per job)
    mid = 3000 if quick else 20_000
    fast = 5000 if quick else 30_000
    groups = [GROUP_JOBS] if quick else [10, GROUP_JOBS]
    out: list[tuple[str, str, int, Callable[[int], dict[str, Any]]]] = [
        ("bare append+fsync (64 B)", "disk", 3 * slow, run_bare_fsync),
        (
            "bare append+fdatasync (64 B)",
            "disk",
            3 * slow,
            lambda n: run_bare_fsync(n, "append+fdatasync"),
        ),
        (
            "bare overwrite+fdatasync (64 B)",
            "disk",
            3 * slow,
            lambda n: run_bare_fsync(n, "overwrite+fdatasync"),
        ),
        ('simqueue fsync="always"', "every op", slow, lambda n: run_simqueue(n, "always")),
        ("sqlite3 table, autocommit", "every op", slow, lambda n: run_sqlite(n, None)),
        ("persist-queue SQLiteAckQueue", "every op", slow, run_persist_queue),
    ]
    for b in groups:
        out.append(
            (
                f'simqueue fsync="batch", {b} jobs/fsync',
                f"group of {b}",
                mid if b >= 100 else slow * 4,
                functools.partial(run_simqueue, policy="batch", group_jobs=b),
            )
        )
        out.append(
            (
                f"sqlite3 table, 1 txn per {b} jobs",
                f"group of {b}",
                mid if b >= 100 else slow * 4,
                functools.partial(run_sqlite, group_jobs=b),
            )
        )
    out.append(('simqueue fsync="never"', "OS only", fast, lambda n: run_simqueue(n, "never")))
    out.append(
        ("sqlite3 table, synchronous=OFF", "OS only", fast, lambda n: run_sqlite(n, None, "OFF"))
    )
    return out


def _row(name: str, pairing: str, n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs]
    med = statistics.median(secs)
    fsyncs = runs[0]["fsyncs"]
    unit = "fsyncs" if pairing == "disk" else "jobs"
    return {
        "system": name,
        "pairing": pairing,
        unit: n,
        "per_s": rate(n, med),
        "per_s_min": rate(n, max(secs)),
        "per_s_max": rate(n, min(secs)),
        "us_each": med / n * 1e6,
        "fsyncs_per_job": fsyncs / n if fsyncs is not None and unit == "jobs" else None,
        "median_s": med,
        "runs_s": secs,
    }


def _find(rows: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    for r in rows:
        if r["system"].startswith(prefix):
            return r
    raise KeyError(prefix)


def headline(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The target ratios, each from rows measured in the same run."""
    bare = _find(rows, "bare append+fsync")
    # simqueue's own write pattern: preallocated segments overwritten in place, fdatasync
    own = _find(rows, "bare overwrite+fdatasync")
    always = _find(rows, 'simqueue fsync="always"')
    batch = _find(rows, f'simqueue fsync="batch", {GROUP_JOBS} ')
    pq = _find(rows, "persist-queue")
    ceiling = own["per_s"] / always["fsyncs_per_job"]
    out: dict[str, Any] = {
        "bare_fsyncs_per_s": bare["per_s"],
        "bare_overwrite_fdatasync_per_s": own["per_s"],
        "always_fsyncs_per_job": always["fsyncs_per_job"],
        "always_ceiling_jobs_per_s": ceiling,
        # what group commit makes of the disk: jobs made durable per bare-fsync time
        "batch_jobs_per_bare_fsync": batch["per_s"] / bare["per_s"],
        # how much cheaper a sync is when the file does not grow (SQLite's WAL), on this disk
        "overwrite_fdatasync_over_append_fsync": own["per_s"] / bare["per_s"],
        "ratios": {},
    }
    ratios = out["ratios"]
    ratios["batch_over_sqliteackqueue"] = {
        "value": batch["per_s"] / pq["per_s"],
        "target": 20.0,
        "what": (
            f'simqueue "batch" ({GROUP_JOBS} jobs/fsync) / SQLiteAckQueue (a commit per op), '
            "jobs/s: unequal durability, for information"
        ),
    }
    ratios["always_over_ceiling"] = {
        "value": always["per_s"] / ceiling,
        "target": 0.5,
        "what": 'simqueue "always" / (bare overwrite+fdatasync per s / fsyncs per job)',
    }
    for r in rows:
        if not r["system"].startswith("simqueue"):
            continue
        twin = next(
            (
                t
                for t in rows
                if t["pairing"] == r["pairing"] and t["system"].startswith("sqlite3 table")
            ),
            None,
        )
        if twin is None:
            continue
        key = "pairing_" + r["pairing"].replace(" ", "_")
        ratios[key] = {
            "value": r["per_s"] / twin["per_s"],
            "target": 1.0,
            "what": f"{r['system']} / {twin['system']}",
        }
    for v in ratios.values():
        v["met"] = v["value"] >= v["target"]
    return out


def _profile(policy: str, n: int) -> dict[str, Any]:
    """cProfile of ``n`` jobs under ``policy`` (the queue opened and removed outside it)."""
    with temp_dir() as d:
        q = _open_real(d, policy)

        def job_loop() -> None:
            _simqueue_loop(q, n)
            q.sync()

        try:
            shares = {"fsync": ("posix.fsync", "posix.fdatasync"), "write": ("posix.write",)}
            p = profile_call(job_loop, top=12, shares=shares)
        finally:
            q.close()
    p["jobs"] = n
    p["fsync_share"] = p["shares"]["fsync"]
    return p


def profiles(quick: bool) -> dict[str, Any]:
    """Where the time of one job goes: cProfile of the ``always`` and ``batch`` loops alone."""
    n_always = 200 if quick else 500
    n_batch = 2000 if quick else 10_000
    return {"always": _profile("always", n_always), "batch": _profile("batch", n_batch)}


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, bool]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_queue", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median, min, max)")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    return args, args.quick or is_quick(argv if argv is not None else sys.argv[1:])


def _rounds(quick: bool, repeat: int) -> list[dict[str, Any]]:
    """One row per system, each from ``repeat`` rounds."""
    plan = systems(quick)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in plan}
    # Rounds interleave the systems, so a burst of load on the shared machine hits them all.
    for rnd in range(repeat):
        for name, _pairing, n, run in plan:
            results[name].append(run(n))
        print(f"  round {rnd + 1}/{repeat} done", flush=True)
    return [_row(name, pairing, n, results[name]) for name, pairing, n, _ in plan]


def _print(
    rows: list[dict[str, Any]], head: dict[str, Any], prof: dict[str, Any], repeat: int
) -> None:
    cols = ["system", "pairing", "jobs", "fsyncs", "per_s", "per_s_min", "per_s_max", "us_each"]
    cols.append("fsyncs_per_job")
    title = (
        f"durable queue: enqueue + dispatch + complete per job (median of "
        f"{repeat}; per_s = jobs/s, or fsyncs/s for the bare loop)"
    )
    print_table(rows, cols, title)
    print(
        f'\nceiling for "always": {head["bare_overwrite_fdatasync_per_s"]:,.0f} bare '
        "overwrite+fdatasync/s / "
        f"{head['always_fsyncs_per_job']:.2f} fsyncs per job = "
        f"{head['always_ceiling_jobs_per_s']:,.0f} jobs/s; group commit makes "
        f"{head['batch_jobs_per_bare_fsync']:.1f} durable jobs out of each bare fsync's time"
    )
    for key, v in head["ratios"].items():
        print(
            f"  {key:34s} {v['value']:8.2f}  target >= {v['target']:<5g} "
            f"{'met' if v['met'] else 'NOT MET'}   ({v['what']})"
        )
    for policy, p in prof.items():
        print_profile(p, f'simqueue fsync="{policy}", {p["jobs"]} jobs', top=8)
        print(f"  share of own time in os.fsync / os.fdatasync: {100 * p['fsync_share']:.0f}%")


def main(argv: list[str] | None = None) -> int:
    args, quick = _parse(argv)
    try:
        import persistqueue  # noqa: F401
    except ImportError:
        print("persist-queue is not installed: pip install -e '.[bench]'")
        return 1
    load_before = load_average()
    started = time.perf_counter()
    rows = _rounds(quick, args.repeat)
    head = headline(rows)
    prof = profiles(quick)
    total = time.perf_counter() - started
    _print(rows, head, prof, args.repeat)
    load_after = load_average()
    print(f"\nload average before {load_before}, after {load_after}; {total:.0f} s in all")
    if not args.no_write:
        for p in prof.values():
            p.pop("text", None)
        section = {
            "quick": quick,
            "repeat": args.repeat,
            "group_jobs": GROUP_JOBS,
            "disk": "system temp dir",
            "load_average_before": load_before,
            "load_average_after": load_after,
            "seconds_total": total,
            "rows": rows,
            "headline": head,
            "profiles": prof,
        }
        print(f"results: {write_results('queue', section)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
