"""How long a snapshot of many live jobs makes a concurrent enqueue wait.

Run::

    python -m benchmarks.bench_snapshot_hold            # 1M pending jobs, 3 interleaved pairs
    python -m benchmarks.bench_snapshot_hold --quick    # 200k pending jobs, 2 pairs

A queue on the real disk (``fsync="batch"``, real fsync, a directory under the working
directory: not ``/dev/shm``) holds N pending jobs. One thread enqueues one job per call in a
loop and times every call; the main thread takes a snapshot. Reported per variant: the
snapshot's wall time, the enqueues that ran during it, and the longest and p99 enqueue
latency during it. The variants, interleaved in one run:

* ``sliced``: the live jobs captured under the mutex, their rows encoded
  :data:`simqueue.core.capture.SLICE_ROWS` at a time, the files written holding no lock
  (what ``DurableQueue.snapshot`` does);
* ``one slice``: the same with a single slice, so the whole encoding holds the mutex: what a
  stop-the-world capture costs an enqueue;
* ``sliced, gc off``: ``sliced`` with Python's cyclic garbage collector disabled for the run,
  to tell its pauses (a full collection walks every one of the million job records) from the
  queue's own.

The encoding pauses 0.1 ms after each slice (``capture.HANDOVER_SECONDS``): without it a
thread waiting for the mutex, woken by its release, loses the race for it to the next slice
every time, and waits for the whole encoding as if it were one slice.

All write the same snapshot bytes (equal work, equal durability). Python's GIL hands the
enqueuing thread the processor every few milliseconds (``sys.getswitchinterval``), so even a
lock-free snapshot slows it.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from typing import Any

from simqueue import DurableQueue, Job
from simqueue.core import capture

from .common import is_quick, print_table, temp_dir, write_results


def one_run(n: int, slice_rows: int, gc_off: bool, base: str) -> dict[str, Any]:
    """Fill a queue with ``n`` pending jobs, then snapshot it while a thread enqueues."""
    with temp_dir(base) as d:
        q = DurableQueue.open(d, fsync="batch")
        try:
            q.enqueue_ids(f"p{i}" for i in range(n))
            q.sync()
            gc.collect()
            if gc_off:
                gc.disable()
            return _snapshot_under_load(q, slice_rows)
        finally:
            gc.enable()
            q.close()


def _snapshot_under_load(q: DurableQueue, slice_rows: int) -> dict[str, Any]:
    latencies: list[tuple[float, float]] = []  # (start, seconds) of each enqueue call
    stop = threading.Event()
    started = threading.Event()

    def enqueue_loop() -> None:
        k = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            q.enqueue(Job(f"live{k}"))
            latencies.append((t0, time.perf_counter() - t0))
            k += 1
            started.set()

    producer = threading.Thread(target=enqueue_loop)
    saved = capture.SLICE_ROWS
    capture.SLICE_ROWS = slice_rows
    producer.start()
    try:
        started.wait(10)
        time.sleep(0.05)
        t0 = time.perf_counter()
        q.snapshot()
        t1 = time.perf_counter()
        time.sleep(0.02)
    finally:
        stop.set()
        producer.join()
        capture.SLICE_ROWS = saved
    # An enqueue that started before the snapshot ended and finished after it began.
    during = sorted(s for start, s in latencies if start < t1 and start + s > t0)
    return {
        "snapshot_s": t1 - t0,
        "enqueues_during": len(during),
        "max_stall_ms": 1000 * during[-1] if during else None,
        "p99_ms": 1000 * during[int(0.99 * (len(during) - 1))] if during else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_snapshot_hold")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--jobs", type=int, default=None, help="pending jobs (default 1M)")
    parser.add_argument("--dir", default=".bench-data", help="where the queues live (real disk)")
    args = parser.parse_args(argv)
    quick = is_quick(argv)
    n = args.jobs or (200_000 if quick else 1_000_000)
    pairs = 2 if quick else 3
    variants = {
        "sliced": (capture.SLICE_ROWS, False),
        "one slice": (n + 1, False),
        "sliced, gc off": (capture.SLICE_ROWS, True),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    for i in range(pairs):
        order = list(variants) if i % 2 == 0 else list(variants)[::-1]
        for name in order:
            runs[name].append(one_run(n, *variants[name], args.dir))
            print(f"  pair {i + 1}/{pairs} {name}: {runs[name][-1]}", file=sys.stderr, flush=True)
    rows = [_row(name, variants[name][0], n, rs) for name, rs in runs.items()]
    print_table(rows, title=f"Enqueue latency during a snapshot of {n:,} pending jobs")
    payload = {"jobs": n, "pairs": pairs, "rows": rows, "runs": runs}
    write_results("snapshot_hold", payload)
    return 0


def _row(name: str, slice_rows: int, n: int, rs: list[dict[str, Any]]) -> dict[str, Any]:
    stalls = [r["max_stall_ms"] for r in rs if r["max_stall_ms"] is not None]
    return {
        "variant": name,
        "slice rows": min(slice_rows, n),
        "snapshot s (median)": round(statistics.median(r["snapshot_s"] for r in rs), 3),
        "enqueues during": int(statistics.median(r["enqueues_during"] for r in rs)),
        "longest stall ms (median)": round(statistics.median(stalls), 1) if stalls else None,
        "p99 ms (median)": round(statistics.median(r["p99_ms"] or 0 for r in rs), 2),
    }


if __name__ == "__main__":
    main()
