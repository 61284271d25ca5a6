"""The server under concurrent clients: one job per ``POST /jobs``, each client waiting for its
durable acknowledgement, against huey and persist-queue at equal durability.

Run::

    python -m benchmarks.bench_server            # 1,500 jobs per cell, 3 interleaved repeats
    python -m benchmarks.bench_server --quick    # 400 jobs, 2 repeats (or SIMQUEUE_BENCH_QUICK=1)

Each cell is one system with 1, 4, 16 or 64 concurrent clients (threads), each submitting its
share of N jobs one at a time and timing each submission from the call to its durable answer:

* ``simqueue always`` / ``simqueue batch``: ``simqueue run`` as a child process (4 worker
  threads running no-op jobs meanwhile, so the server also logs and fsyncs every DISPATCH and
  ACK), fresh data directory; each client keeps one HTTP/1.1 connection
  (:class:`simqueue.service.client.Client`) and POSTs one job per request; the answer comes once
  the job's record is fsynced (group commit across clients, docs/semantics.md).
* ``huey``: ``SqliteHuey(fsync=True)`` (SQLite WAL, synchronous=FULL), ``task()`` per job in
  the clients' threads; the call returns once the job is committed and fsynced. It
  acknowledges a job before it runs (as simqueue does); no consumer runs, and no network hop.
* ``persist-queue``: ``SQLiteAckQueue(auto_commit=True)``, ``put`` per job, likewise.
* ``floor``: :mod:`benchmarks.http_floor` as a child process, with the same clients: one
  selector loop that answers each turn's requests after one ``pwrite`` + ``fdatasync`` of their
  records, and no queue at all: the least a Python server answering after its fsync costs
  here. Its latency bounds are reported beside the targets.

Cells run interleaved (every repeat walks the client counts, each with the systems in a rotated
order), in directories on the real disk under the system temp dir (or ``--dir``; the file
system is recorded), and before each client count of each repeat the disk's bare latency on
simqueue's write pattern is sampled: ``pwrite`` into preallocated space + ``fdatasync``.
Reported per cell: median jobs/s over repeats, ack latency p50/p99 over every job of every
repeat, and for simqueue the fsyncs, and the CPU the server process and the clients used, per
job. Each target is the median over repeats of a ratio taken within one repeat.

Also, as its own labelled row (not comparable with the rest: one request carries all N jobs):
one ``POST /jobs`` of 20,000 jobs under ``batch``, timed to its acknowledgement and until all
completed, and the recovery time after a ``kill -9``. And the request path alone (``http_get``):
16 kept-alive clients sending ``GET /`` (no queue operation, no fsync), with the server's and
the clients' CPU per request, so the cost of HTTP can be told from the cost of the commit. And
"always" at 16 clients with the server's threads on one CPU (the default) and ``--any-cpu``.
Nothing is asserted; the verdicts against the targets are printed and recorded in
``benchmarks/results.json`` (section ``server``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from simqueue.service.client import Client

from .common import is_quick, print_table, rate, temp_dir, write_results
from .http_floor import floor_bounds, produce_floor
from .queue_systems import (
    bare_sync_latencies,
    produce_huey,
    produce_persist_queue,
)
from .server_process import drive, file_system, post_one_job, server_status, spawn, stop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENTS = (1, 4, 16, 64)
SYSTEMS = ("simqueue always", "simqueue batch", "huey", "persist-queue", "floor")
WORKERS = 4


def produce_simqueue(
    fsync: str, clients: int, n: int, base: str | None, any_cpu: bool = False
) -> dict[str, Any]:
    """``clients`` kept-alive HTTP clients against a fresh ``simqueue run`` (``--any-cpu``
    with ``any_cpu``), one job per POST; also the server's fsyncs during the run."""
    with temp_dir(base) as d:
        proc, url = spawn(os.path.join(d, "q"), fsync, WORKERS, any_cpu)
        try:
            fsyncs0 = server_status(url)["fsyncs"]
            out = drive(proc.pid, url, clients, n, post_one_job)
            out["fsyncs"] = server_status(url)["fsyncs"] - fsyncs0
        finally:
            stop(proc)
    return out


def _runner(system: str, base: str | None) -> Callable[[int, int], dict[str, Any]]:
    if system.startswith("simqueue"):
        policy = system.split()[1]
        return lambda c, n: produce_simqueue(policy, c, n, base)
    if system == "huey":
        return lambda c, n: produce_huey(c, n, base)
    if system == "floor":
        return lambda c, n: produce_floor(c, n, base)
    return lambda c, n: produce_persist_queue(c, n, base)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def interleaved(n: int, repeats: int, base: str | None) -> dict[str, Any]:
    """Every cell ``repeats`` times, interleaved, the disk's bare sync latency sampled before
    each client count: ``{"cells", "bare_p50_ms"}``, the latter per repeat and client count."""
    raw: dict[tuple[str, int], list[dict[str, Any]]] = {}
    bare: dict[int, list[float]] = {c: [] for c in CLIENTS}
    for r in range(repeats):
        for k, clients in enumerate(CLIENTS):
            bare[clients].append(_pct(bare_sync_latencies(200, base), 0.5) * 1e3)
            order = SYSTEMS[(r + k) % len(SYSTEMS) :] + SYSTEMS[: (r + k) % len(SYSTEMS)]
            for system in order:
                got = _runner(system, base)(clients, n)
                raw.setdefault((system, clients), []).append(got)
                print(
                    f"  repeat {r + 1}/{repeats}, {clients:>2} clients, {system:<16} "
                    f"{rate(n, got['seconds']):>8,.0f} jobs/s (bare sync "
                    f"{bare[clients][-1]:.3f} ms)",
                    flush=True,
                )
    cells = [_cell(system, clients, n, runs) for (system, clients), runs in raw.items()]
    cells.sort(key=lambda c: (c["clients"], SYSTEMS.index(c["system"])))
    return {"cells": cells, "bare_p50_ms": {str(c): v for c, v in bare.items()}}


def _cell(system: str, clients: int, n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One system at one client count: median jobs/s over repeats, ack percentiles over all
    jobs, and per repeat (in repeat order) jobs/s and ack p50/p99."""
    lat = [x for run in runs for x in run["latencies"]]
    per_s = [rate(n, run["seconds"]) for run in runs]
    fsyncs = [run["fsyncs"] for run in runs if "fsyncs" in run]
    return {
        "system": system,
        "clients": clients,
        "jobs": n,
        "jobs_per_s": statistics.median(per_s),
        "ack_p50_ms": _pct(lat, 0.50) * 1e3,
        "ack_p99_ms": _pct(lat, 0.99) * 1e3,
        "jobs_per_fsync": n * len(fsyncs) / sum(fsyncs) if fsyncs and sum(fsyncs) else None,
        "server_cpu_us_per_job": _per_job(runs, "server_cpu_s", n),
        "client_cpu_us_per_job": _per_job(runs, "client_cpu_s", n),
        "runs_jobs_per_s": per_s,
        "runs_p50_ms": [_pct(run["latencies"], 0.5) * 1e3 for run in runs],
        "runs_p99_ms": [_pct(run["latencies"], 0.99) * 1e3 for run in runs],
    }


def _per_job(runs: list[dict[str, Any]], key: str, n: int) -> float | None:
    """The median over runs of ``key`` seconds per job, in µs (None where not measured)."""
    got = [run[key] for run in runs if key in run]
    return statistics.median(got) / n * 1e6 if got else None


def targets(cells: list[dict[str, Any]], bare: dict[str, list[float]]) -> dict[str, Any]:
    """The targets at 16 clients and the latency bounds: each the median over repeats of the
    ratio within one repeat (the two sides measured minutes apart at most), and a verdict."""

    def cell(system: str, clients: int) -> dict[str, Any]:
        return next(c for c in cells if c["system"] == system and c["clients"] == clients)

    def over(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    huey16 = cell("huey", 16)["runs_jobs_per_s"]
    always1, always16 = cell("simqueue always", 1), cell("simqueue always", 16)
    batch16 = cell("simqueue batch", 16)
    rows = {
        "always_over_huey_16": (over(always16["runs_jobs_per_s"], huey16), 3.0, ">="),
        "batch_over_huey_16": (over(batch16["runs_jobs_per_s"], huey16), 5.0, ">="),
        "always_p50_1_in_bare": (over(always1["runs_p50_ms"], bare["1"]), 1.5, "<="),
        "always_p99_16_in_bare": (over(always16["runs_p99_ms"], bare["16"]), 5.0, "<="),
        "batch_p99_16_in_bare": (over(batch16["runs_p99_ms"], bare["16"]), 5.0, "<="),
    }
    return {
        k: {"value": v, "target": t, "op": op, "met": v >= t if op == ">=" else v <= t}
        for k, (v, t, op) in rows.items()
    }


def bench_placement(n: int, repeats: int, base: str | None) -> dict[str, Any]:
    """ "always" at 16 clients with the server's threads on one CPU (the default) and with
    ``--any-cpu``, alternating: median jobs/s and server CPU per job of each."""
    runs: dict[str, list[dict[str, Any]]] = {"one CPU": [], "any CPU": []}
    for r in range(repeats):
        for name in sorted(runs, reverse=r % 2 == 1):
            runs[name].append(produce_simqueue("always", 16, n, base, name == "any CPU"))
    return {
        name: {
            "jobs_per_s": statistics.median(rate(n, x["seconds"]) for x in got),
            "server_cpu_us_per_job": _per_job(got, "server_cpu_s", n),
        }
        for name, got in runs.items()
    }


def bench_http(clients: int, n: int) -> dict[str, Any]:
    """The request path alone: ``clients`` kept-alive clients sending ``n`` ``GET /`` in all
    (no queue operation, no fsync) to one ``simqueue run``; requests/s and the CPU the server
    and the clients spent per request, in µs."""
    with temp_dir() as d:
        proc, url = spawn(os.path.join(d, "q"), "always", WORKERS)
        try:
            out = drive(proc.pid, url, clients, n, lambda c, i: c.request("GET", "/"))
        finally:
            stop(proc)
    return {
        "clients": clients,
        "requests": n,
        "requests_per_s": rate(n, out["seconds"]),
        "server_cpu_us_per_request": out["server_cpu_s"] / n * 1e6,
        "client_cpu_us_per_request": out["client_cpu_s"] / n * 1e6,
    }


def bench_bulk(n: int, workers: int = 8) -> dict[str, Any]:
    """One POST of ``n`` jobs under ``batch``: to its acknowledgement, to all completed; then
    the recovery time after a kill -9."""
    body = json.dumps([{"id": f"job-{i}", "payload": {"i": i}} for i in range(n)]).encode()
    with temp_dir() as d:
        proc, url = spawn(d, "batch", workers)
        try:
            with Client(url, timeout=300) as c:
                t0 = time.perf_counter()
                status, ack = c.request("POST", "/jobs", body)
                t_ack = time.perf_counter() - t0
                while c.request("GET", "/status")[1]["counts"]["completed"] < n:
                    time.sleep(0.005)
                elapsed = time.perf_counter() - t0
            if status != 200 or ack["accepted"] != n:
                raise RuntimeError(f"the bulk POST answered {status}: {ack}")
            stop(proc, signal.SIGKILL)
            proc, url = spawn(d, "batch", workers)
            rec = server_status(url)["recovery"]
        finally:
            stop(proc)
    return {
        "jobs": n,
        "post_ack_s": t_ack,
        "seconds": elapsed,
        "jobs_per_s": rate(n, elapsed),
        "recovery_s": rec["wall_seconds"] if rec else None,
    }


def _print_summary(
    cells: list[dict[str, Any]],
    bare: dict[str, list[float]],
    verdicts: dict[str, Any],
    floor: dict[str, float],
    bulk: dict[str, Any],
    http: dict[str, Any],
    placement: dict[str, Any],
) -> None:
    print_table(cells, title="one job per request, durable acknowledgements")
    for c, v in bare.items():
        print(f"bare pwrite+fdatasync p50 before the {c}-client cells: {v} ms")
    for key, v in verdicts.items():
        met = "met" if v["met"] else "MISSED"
        print(f"{key}: {v['value']:.2f} (target {v['op']} {v['target']:g}): {met}")
    print(
        f"the floor (benchmarks/http_floor.py, no queue): ack p50 at 1 client "
        f"{floor['p50_1_in_bare']:.2f} bare fsyncs, p99 at 16 clients "
        f"{floor['p99_16_in_bare']:.2f}, {floor['over_huey_16']:.2f}x huey at 16 clients"
    )
    print(f"bulk POST of {bulk['jobs']:,} jobs: {bulk['jobs_per_s']:,.0f} jobs/s to completion")
    print(
        f"GET / alone, {http['clients']} clients: {http['requests_per_s']:,.0f} requests/s, "
        f"server {http['server_cpu_us_per_request']:.0f} µs and clients "
        f"{http['client_cpu_us_per_request']:.0f} µs of CPU per request"
    )
    for name, p in placement.items():
        print(
            f'"always", 16 clients, threads on {name}: {p["jobs_per_s"]:,.0f} jobs/s, '
            f"server {p['server_cpu_us_per_job']:.0f} µs of CPU per job"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_server", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="400 jobs per cell, 2 repeats")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per cell")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--dir", default=None, help="where the data directories go (a real disk)")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    quick = args.quick or is_quick(argv if argv is not None else sys.argv[1:])
    n = args.jobs or (400 if quick else 1500)
    repeats = args.repeat or (2 if quick else 3)
    try:
        import huey  # noqa: F401
        import persistqueue  # noqa: F401
    except ImportError:
        print("huey or persist-queue is not installed: pip install -e '.[bench]'")
        return 1
    base = args.dir
    fs = file_system(base or os.environ.get("TMPDIR", "/tmp"))
    print(f"data directories on {fs}; {n} jobs per cell, {repeats} interleaved repeats")
    got = interleaved(n, repeats, base)
    cells, bare = got["cells"], got["bare_p50_ms"]
    verdicts = targets(cells, bare)
    floor = floor_bounds(cells, bare)
    bulk = bench_bulk(5_000 if quick else 20_000)
    http = bench_http(16, 4_000 if quick else 10_000)
    placement = bench_placement(n, repeats, base)
    _print_summary(cells, bare, verdicts, floor, bulk, http, placement)
    if not args.no_write:
        section = {
            "quick": quick,
            "jobs_per_cell": n,
            "repeats": repeats,
            "workers": WORKERS,
            "clients": list(CLIENTS),
            "file_system": fs,
            "bare_sync_p50_ms": bare,
            "cells": cells,
            "targets": verdicts,
            "floor": floor,
            "bulk": bulk,
            "http_get": http,
            "placement": placement,
        }
        print(f"results: {write_results('server', section)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
