"""End-to-end durable throughput of ``simqueue run`` against persist-queue's SQLiteAckQueue.

Run::

    python -m benchmarks.bench_server            # 20,000 jobs per run, median of 3
    python -m benchmarks.bench_server --quick    # 5,000 jobs (or SIMQUEUE_BENCH_QUICK=1)

What is measured (wall seconds, :func:`time.perf_counter`), as the issue defines it:

a. ``simqueue run`` as a child process (8 worker threads, no-op jobs: simulated work of 0 s and
   no failures, ``fsync=batch``: group commit with real ``os.fsync``), fresh data directory in the
   system temp dir. One ``POST /jobs`` of N jobs; the clock runs from just before the POST until
   ``GET /status`` (polled every 5 ms) reports all N completed. Also: how long the POST took to be
   acknowledged (all N durable), the fsyncs the server made, and, after a ``kill -9`` and a
   restart on the same directory, the recovery time the server measured.
b. persist-queue ``SQLiteAckQueue`` (``auto_commit=True``: each operation is its own durable
   transaction) in the same temp dir: ``put``, then ``get`` + ``ack``, per job.

The ratio a/b must be at least 10 and a at least 200 jobs/s. Nothing is asserted; the
verdict is printed and recorded in ``benchmarks/results.json`` (section ``server``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from typing import Any

from .common import is_quick, print_table, rate, temp_dir, write_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=60) as resp:
        return json.load(resp)


def _post(url: str, path: str, body: bytes) -> Any:
    req = urllib.request.Request(url + path, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)


def _spawn(data_dir: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", data_dir, "--port", "0"]
    cmd += ["--workers", str(workers), "--service-time", "constant(0)", "--failure-rate", "0"]
    cmd += ["--fsync", "batch", "--snapshot-interval", "10s"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    path = os.path.join(data_dir, "server.json")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"simqueue run exited with {proc.returncode}")
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
            if info.get("pid") == proc.pid:
                return proc, info["url"]
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("simqueue run did not start within 60 s")


def bench_simqueue(n: int, workers: int) -> dict[str, Any]:
    body = json.dumps([{"id": f"job-{i}", "payload": {"i": i}} for i in range(n)]).encode()
    with temp_dir() as d:
        proc, url = _spawn(d, workers)
        try:
            fsyncs0 = _get(url, "/status")["fsyncs"]
            t0 = time.perf_counter()
            ack = _post(url, "/jobs", body)
            t_ack = time.perf_counter() - t0
            while True:
                st = _get(url, "/status")
                if st["counts"]["completed"] >= n:
                    break
                time.sleep(0.005)
            elapsed = time.perf_counter() - t0
            assert ack["accepted"] == n
            fsyncs = st["fsyncs"] - fsyncs0
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            proc, url = _spawn(d, workers)
            rec = _get(url, "/status")["recovery"]
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    return {
        "jobs": n,
        "seconds": elapsed,
        "jobs_per_s": rate(n, elapsed),
        "post_ack_s": t_ack,
        "fsyncs": fsyncs,
        "jobs_per_fsync": n / fsyncs if fsyncs else None,
        "recovery_s": rec["wall_seconds"] if rec else None,
    }


def bench_persist_queue(n: int) -> dict[str, Any]:
    import persistqueue

    with temp_dir() as d:
        q = persistqueue.SQLiteAckQueue(os.path.join(d, "pq"), auto_commit=True)
        t0 = time.perf_counter()
        for i in range(n):
            q.put({"id": f"job-{i}", "payload": {"i": i}})
        for _ in range(n):
            item = q.get(block=False)
            q.ack(item)
        elapsed = time.perf_counter() - t0
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": rate(n, elapsed)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_server", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 jobs instead of 20,000")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    quick = args.quick or is_quick(argv if argv is not None else sys.argv[1:])
    n = 5_000 if quick else 20_000
    n_pq = 1_000 if quick else 3_000
    try:
        import persistqueue  # noqa: F401
    except ImportError:
        print("persist-queue is not installed: pip install -e '.[bench]'")
        return 1
    sq_runs = [bench_simqueue(n, args.workers) for _ in range(args.repeat)]
    pq_runs = [bench_persist_queue(n_pq) for _ in range(args.repeat)]
    sq = statistics.median(r["jobs_per_s"] for r in sq_runs)
    pq = statistics.median(r["jobs_per_s"] for r in pq_runs)
    rows = [dict(system="simqueue run (HTTP, group commit)", **r) for r in sq_runs]
    rows += [dict(system="persist-queue SQLiteAckQueue", **r) for r in pq_runs]
    print_table(rows, title="end-to-end durable throughput (no-op jobs)")
    ratio = sq / pq
    ok = ratio >= 10 and sq >= 200
    print(
        f"\nmedian: simqueue {sq:,.0f} jobs/s, SQLiteAckQueue {pq:,.0f} jobs/s, ratio {ratio:.1f}x "
        f"(need >= 10x and >= 200 jobs/s): {'met' if ok else 'MISSED'}"
    )
    if not args.no_write:
        path = write_results(
            "server",
            {
                "quick": quick,
                "workers": args.workers,
                "simqueue_runs": sq_runs,
                "persist_queue_runs": pq_runs,
                "simqueue_jobs_per_s": sq,
                "persist_queue_jobs_per_s": pq,
                "ratio": ratio,
                "target_met": ok,
            },
        )
        print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
