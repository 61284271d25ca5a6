"""Scaling: wall time and peak memory of a simulation as the number of jobs grows.

Run::

    python -m benchmarks.bench_scaling            # 10k, 100k and 1M jobs
    python -m benchmarks.bench_scaling --quick    # 10k and 100k (or SIMQUEUE_BENCH_QUICK=1)

The model is the reference model of :mod:`benchmarks.bench_simulation` (Poisson(200) arrivals,
Exponential(1/30 s) service, 8 workers, 0.1 s task timeout, 5 % hangs, 3 retries, the real WAL
with modeled fsync and a snapshot every 10 simulated seconds), run for ``N / 200`` simulated
seconds, so about N jobs arrive. Each run is a fresh child process (``--child N``), so every
peak RSS (``VmHWM``: Linux carries ``ru_maxrss`` over from the parent across ``exec``) belongs
to one run only; the child reports its RSS just before the run
(interpreter, imports, empty simulation) and the peak, and ``bytes/job`` is
``(peak - before) / jobs``. Growth is linear when wall/job and bytes/job stay flat as N grows.

What the memory is: after the peak is taken, the child walks the simulation's live objects and
sizes them (``sys.getsizeof``, each object counted once, in this order): job records (the
queue's ``JobRecord`` objects with their ids, payloads and floats), queue and engine containers
(dicts, sets, queues keyed by job), the trace (its newest events as tuples, older blocks in
columns), the acknowledgements, the metric samples, and the rest. One more child runs a
mid-sized simulation under :mod:`tracemalloc` and reports the allocation sites holding the most
memory.

Results go to the ``scaling`` section of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from typing import Any

from simqueue import Config, Exponential, Poisson, Simulation

from .common import is_quick, load_average, print_table, write_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 200.0


# --------------------------------------------------------------------------------- the child
def _make_sim(model: str) -> Simulation:
    from .bench_simulation import reference_config

    if model == "reference":
        cfg = reference_config(seed=0)
    else:  # plain M/M/8: no hangs, no timeouts, no failures
        cfg = Config(
            arrival=Poisson(RATE),
            workers=8,
            service_time=Exponential(1 / 30),
            failure_rate=0.0,
            hang_rate=0.0,
            task_timeout=60.0,
            snapshot_interval=10.0,
            durability="modeled",
            seed=0,
        )
    return Simulation(cfg)


def child(n: int, model: str, breakdown: bool) -> dict[str, Any]:
    from .profiling import current_rss_bytes, peak_rss_bytes

    sim = _make_sim(model)
    gc.collect()
    rss_before = current_rss_bytes() or peak_rss_bytes()
    peak_before = peak_rss_bytes()
    t0 = time.perf_counter()
    sim.run_until(n / RATE)
    wall = time.perf_counter() - t0
    peak = peak_rss_bytes()
    rss_after = current_rss_bytes()
    s = sim.summary()
    out: dict[str, Any] = {
        "target_jobs": n,
        "model": model,
        "simulated_s": n / RATE,
        "wall_s": wall,
        "jobs": s.arrived,
        "completed": s.completed,
        "events": len(sim.trace),
        "samples": len(sim.samples()),
        "wal_bytes": s.wal_bytes,
        "snapshots": s.snapshots,
        "rss_before": rss_before,
        "peak_before": peak_before,
        "peak_rss": peak,
        "rss_after": rss_after,
    }
    if breakdown:
        t1 = time.perf_counter()
        out["breakdown"] = memory_breakdown(sim)
        out["breakdown_s"] = time.perf_counter() - t1
    sim.close()
    return out


def memory_breakdown(sim: Any) -> dict[str, int]:
    """Bytes held by each part of a simulation, each object counted once (first part wins)."""
    getsizeof = sys.getsizeof
    seen: set[int] = set()
    add = seen.add

    def size(obj: Any) -> int:
        """Shallow size of ``obj`` and (recursively) of the atoms and tuples it holds."""
        i = id(obj)
        if i in seen:
            return 0
        add(i)
        total = getsizeof(obj)
        if isinstance(obj, tuple | list | deque | set | frozenset):
            for x in obj:
                if type(x) in _ATOMS or isinstance(x, tuple):
                    total += size(x)
        elif isinstance(obj, dict):
            for k, v in obj.items():
                if type(k) in _ATOMS or isinstance(k, tuple):
                    total += size(k)
                if type(v) in _ATOMS or isinstance(v, tuple):
                    total += size(v)
        return total

    engine = sim.engine
    q = engine.q
    parts: dict[str, int] = {}
    # 1. job records: the JobRecord objects and what only they hold
    recs = 0
    for rec in q._jobs.values():
        recs += size(rec)
        for name in type(rec).__slots__:
            v = getattr(rec, name, None)
            if type(v) in _ATOMS:
                recs += size(v)
    parts["job records (JobRecord + id, payload, floats)"] = recs
    # 2. containers keyed by job, in the store and the engine
    containers = 0
    names = ("_jobs", "_ready", "_in_flight", "_delayed", "_finished_since_snapshot", "_chunks")
    holders = [(q, n) for n in names]
    holders += [(engine.live, n) for n in ("acknowledged", "_unacked", "_idle")]
    holders.append((getattr(engine, "model", None), "first_outcomes"))
    for owner, name in holders:  # getattr: the engine's internals may move
        obj = getattr(owner, name, None)
        if obj is not None:
            containers += size(obj)
    parts["store/engine dicts and sets (keyed by job)"] = containers
    # 3. the trace: the newest events as tuples, older blocks packed into columns
    trace = size(engine.trace._recent)
    for block in engine.trace._blocks:
        trace += size(block) + (size(block.details) if hasattr(block, "details") else 0)
    parts["trace (newest as tuples, older in columns)"] = trace
    # 4. acknowledgements and metric samples, in columns (their sizes include the columns)
    parts["acknowledgements"] = size(engine.acks)
    parts["metric samples"] = size(sim._samples)
    # 5. the kernel's heap and the WAL buffer
    parts["event heap + WAL buffer"] = size(engine.kernel._heap) + size(q.writer._buf)
    return parts


_ATOMS = (str, bytes, bytearray, float, int, type(None), bool)


def child_tracemalloc(n: int, model: str, top: int = 12) -> dict[str, Any]:
    import tracemalloc

    sim = _make_sim(model)
    gc.collect()
    tracemalloc.start()
    sim.run_until(n / RATE)
    snap = tracemalloc.take_snapshot()
    tracemalloc.stop()
    jobs = sim.summary().arrived
    stats = snap.statistics("lineno")
    total = sum(s.size for s in stats)
    rows = []
    for s in stats[:top]:
        frame = s.traceback[0]
        rows.append(
            {
                "site": f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}",
                "code": _line(frame.filename, frame.lineno),
                "bytes": s.size,
                "bytes_per_job": s.size / jobs,
                "blocks": s.count,
                "share": s.size / total,
            }
        )
    by_file: dict[str, int] = {}
    for s in stats:
        f = os.path.relpath(s.traceback[0].filename, ROOT)
        by_file[f] = by_file.get(f, 0) + s.size
    files = sorted(by_file.items(), key=lambda kv: -kv[1])[:8]
    sim.close()
    return {
        "target_jobs": n,
        "jobs": jobs,
        "traced_bytes": total,
        "bytes_per_job": total / jobs,
        "top_lines": rows,
        "by_file": [{"file": f, "bytes": b, "share": b / total} for f, b in files],
    }


def _line(filename: str, lineno: int) -> str:
    try:
        with open(filename, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if i == lineno:
                    return line.strip()[:90]
    except OSError:
        pass
    return ""


# --------------------------------------------------------------------------------- the parent
def spawn(*args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "benchmarks.bench_scaling", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scaling", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k and 100k jobs only")
    parser.add_argument("--repeat", type=int, default=None, help="runs per size (default 3)")
    parser.add_argument("--model", choices=("reference", "plain"), default="reference")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


Runs = dict[int, list[dict[str, Any]]]


def _run_children(sizes: list[int], repeat: int, model: str) -> Runs:
    """``repeat`` fresh child processes per size, the sizes interleaved."""
    runs: Runs = {n: [] for n in sizes}
    for r in range(repeat):
        for n in sizes:
            # The memory walk runs once per size, after the peak is taken (it costs time only).
            res = spawn("--child", str(n), "--model", model, *(["--breakdown"] * (r == 0)))
            runs[n].append(res)
            print(
                f"  {n:>9,} jobs: {res['wall_s']:7.2f} s wall, peak RSS "
                f"{res['peak_rss'] / 2**20:7.1f} MiB",
                flush=True,
            )
    return runs


def _size_row(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of one size; per-job figures against the jobs that arrived."""
    walls = [r["wall_s"] for r in rs]
    jobs = rs[0]["jobs"]
    med = statistics.median(walls)
    grown = statistics.median(r["peak_rss"] - r["rss_before"] for r in rs)
    return {
        "jobs": jobs,
        "events": rs[0]["events"],
        "wall_s": med,
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "us_per_job": med / jobs * 1e6,
        "jobs_per_s": jobs / med,
        "rss_before_MiB": rs[0]["rss_before"] / 2**20,
        "peak_rss_MiB": statistics.median(r["peak_rss"] for r in rs) / 2**20,
        "bytes_per_job": grown / jobs,
        "walked_bytes_per_job": sum(rs[0]["breakdown"].values()) / jobs,
        "wal_MB": rs[0]["wal_bytes"] / 1e6,
    }


def _linear(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-job cost at the largest size over the per-job cost at the size before (and at the
    smallest): linear growth keeps both ratios near 1."""
    first, last = rows[0], rows[-1]
    mid = rows[1] if len(rows) > 2 else rows[0]
    linear: dict[str, Any] = {
        "wall_per_job_ratio_vs_smallest": last["us_per_job"] / first["us_per_job"],
        "wall_per_job_ratio_vs_previous": last["us_per_job"] / mid["us_per_job"],
        "bytes_per_job_ratio_vs_previous": last["bytes_per_job"] / mid["bytes_per_job"],
        "bytes_per_job_at_largest": last["bytes_per_job"],
        "largest_jobs": last["jobs"],
        "tolerance": 1.25,
    }
    linear["linear"] = (
        linear["wall_per_job_ratio_vs_previous"] <= linear["tolerance"]
        and linear["bytes_per_job_ratio_vs_previous"] <= linear["tolerance"]
    )
    return linear


def _breakdown(runs: Runs) -> list[dict[str, Any]]:
    """Bytes per job of each part, from the first run of each size (the one that walked)."""
    out = []
    for rs in runs.values():
        first = rs[0]
        for part, b in first["breakdown"].items():
            out.append({"jobs": first["jobs"], "part": part, "bytes_per_job": b / first["jobs"]})
    return out


def _print(res: dict[str, Any]) -> None:
    cols = ["jobs", "events", "wall_s", "wall_min_s", "wall_max_s", "us_per_job", "jobs_per_s"]
    cols += ["rss_before_MiB", "peak_rss_MiB", "bytes_per_job", "walked_bytes_per_job"]
    title = f"{res['model']} model, N/200 simulated s, median of {res['repeat']}"
    print_table(res["rows"], cols, title)
    print_table(
        res["breakdown"], title="what the memory is (bytes per job, live objects at the end)"
    )
    tm, lin, rows = res["tracemalloc"], res["linear"], res["rows"]
    previous = rows[1] if len(rows) > 2 else rows[0]  # the size _linear compares with
    print_table(
        tm["top_lines"],
        ["site", "bytes_per_job", "share", "code"],
        f"tracemalloc at {tm['jobs']:,} jobs: {tm['bytes_per_job']:.0f} traced bytes/job",
    )
    verdict = "linear" if lin["linear"] else "NOT linear"
    print(
        f"\nper-job wall at {lin['largest_jobs']:,} jobs / at {previous['jobs']:,}: "
        f"{lin['wall_per_job_ratio_vs_previous']:.2f}; bytes/job ratio "
        f"{lin['bytes_per_job_ratio_vs_previous']:.2f} ({verdict} within "
        f"{lin['tolerance']}x); {lin['bytes_per_job_at_largest']:.0f} bytes per job at "
        f"{lin['largest_jobs']:,} jobs"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model, args.breakdown)))
        return 0
    if args.tracemalloc:
        print(json.dumps(child_tracemalloc(args.tracemalloc, args.model)))
        return 0
    quick = args.quick or is_quick(argv if argv is not None else sys.argv[1:])
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    repeat = args.repeat or (1 if quick else 3)
    started = time.perf_counter()
    load_before = load_average()
    runs = _run_children(sizes, repeat, args.model)
    tm = spawn("--tracemalloc", str(10_000 if quick else 100_000), "--model", args.model)
    rows = [_size_row(runs[n]) for n in sizes]
    res = {"quick": quick, "model": args.model, "repeat": repeat, "rate": RATE}
    res |= {"rows": rows, "linear": _linear(rows), "breakdown": _breakdown(runs), "tracemalloc": tm}
    total = time.perf_counter() - started
    _print(res)
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}; {total:.0f} s in all")
    if not args.no_write:
        for rs in runs.values():
            for r in rs[1:]:
                r.pop("breakdown", None)
        res |= {"load_average_before": load_before, "load_average_after": load_after}
        res |= {"seconds_total": total, "runs": {str(n): rs for n, rs in runs.items()}}
        print(f"results: {write_results('scaling', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
