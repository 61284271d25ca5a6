"""Recovery time against history, with and without a retention window.

Run::

    python -m benchmarks.bench_retention            # 5M records of history, 3 opens each
    python -m benchmarks.bench_retention --quick    # 600k records

Each variant builds the same history in a real directory (not ``/dev/shm``): jobs enqueued in
batches, each dispatched and completed (three WAL records per job), a snapshot every
``SNAPSHOT_EVERY`` jobs, then a clean close. Then ``DurableQueue.open`` is timed three times
per variant, the variants' opens interleaved (median reported; each open is followed by a
close). Variants:

* ``keep all``: no window, the default of a library queue and of simulations: every finished
  job is in memory and in the snapshot's chunks, so the open loads the whole history;
* ``window 100k``: ``retain_finished=100_000``: the snapshot lists only chunks holding jobs of
  the window, so the open loads about the window plus the log since the last snapshot.

Both do equal work on the same records; only what the snapshot keeps differs. Recorded: open
seconds, the jobs the snapshot held, the records replayed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from simqueue import DurableQueue

from .common import is_quick, print_table, temp_dir, write_results

SNAPSHOT_EVERY = 100_000
BATCH = 10_000


def build_history(d: str, jobs: int, window: int | None) -> None:
    """``jobs`` jobs enqueued, dispatched and completed, with periodic snapshots."""
    q = DurableQueue.open(d, fsync="never", retain_finished=window)
    try:
        for start in range(0, jobs, BATCH):
            ids = [f"h{i}" for i in range(start, min(start + BATCH, jobs))]
            q.enqueue_ids(ids)
            for _ in ids:
                job = q.dispatch_raw(0)
                assert job is not None
                q.complete(job[0], job[1])
            if (start + BATCH) % SNAPSHOT_EVERY == 0:
                q.snapshot()
    finally:
        q.close()


def time_open(d: str, window: int | None) -> tuple[float, Any]:
    """One timed open (then a close): its seconds and recovery report."""
    t0 = time.perf_counter()
    q = DurableQueue.open(d, fsync="never", retain_finished=window)
    seconds = time.perf_counter() - t0
    report = q.recovery
    q.close()
    return seconds, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_retention")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dir", default=".bench-data", help="where the queues live (real disk)")
    args = parser.parse_args(argv)
    records = 600_000 if is_quick(argv) else 5_000_000
    jobs = records // 3
    variants: dict[str, int | None] = {"keep all": None, "window 100k": 100_000}
    with temp_dir(args.dir) as base:
        dirs: dict[str, str] = {}
        for name, window in variants.items():
            dirs[name] = f"{base}/{len(dirs)}"
            t0 = time.perf_counter()
            build_history(dirs[name], jobs, window)
            print(f"  {name}: built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        opens: dict[str, list[tuple[float, Any]]] = {name: [] for name in variants}
        for _ in range(3):  # interleaved: one open of each variant per round
            for name, window in variants.items():
                opens[name].append(time_open(dirs[name], window))
    rows = []
    for name, runs in opens.items():
        report = runs[-1][1]
        rows.append({
            "variant": name,
            "records": jobs * 3,
            "open s (median of 3)": round(statistics.median(s for s, _ in runs), 3),
            "jobs restored": report.jobs_restored,
            "records replayed": report.records_replayed,
        })  # fmt: skip
    print_table(rows, title=f"DurableQueue.open after {jobs * 3:,} records of history")
    write_results("retention", {"records": jobs * 3, "rows": rows})
    return 0


if __name__ == "__main__":
    main()
