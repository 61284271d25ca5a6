"""Memory of a long simulation: bytes per job of the reference model, each variant in a fresh
process so one run's heap never counts toward another's.

    python -m benchmarks.sim_memory --jobs 1000000 [--variant packed|tuples|window]

Prints one JSON line: the growth of the process's resident set over the run, per job that
arrived. Variants (the WAL, snapshots, group commit and the trace are on in all three):

* ``packed``: the default: older trace events packed into rows (:mod:`simqueue.sim.tracelog`),
  every finished job kept;
* ``tuples``: every event kept as a tuple (what packing saves);
* ``window``: packed, and a retention window of 100,000 finished jobs
  (``Config(retain_finished=...)``): finished jobs past it leave memory and snapshots.

SimPy's reference model holds no per-job state once a job ends; its memory does not grow.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import print_table
from benchmarks.profiling import current_rss_bytes
from simqueue import Simulation
from simqueue.sim import tracelog

VARIANTS = ("packed", "tuples", "window")
WINDOW = 100_000
RATE = 200.0  # the reference model's arrivals per simulated second
#: Resident bytes per job at a million jobs, trace on.
TARGET_BYTES_PER_JOB = 300


def _resident_bytes() -> int:
    rss = current_rss_bytes()
    if rss is None:
        raise SystemExit("benchmarks.sim_memory reads the resident set from /proc (Linux only)")
    return rss


def measure(jobs: int, variant: str) -> dict[str, Any]:
    """Run the reference model for about ``jobs`` arrivals in this process."""
    from benchmarks.bench_simulation import reference_config

    changes: dict[str, Any] = {"retain_finished": WINDOW} if variant == "window" else {}
    if variant == "tuples":
        tracelog.pack = lambda *args: None  # every block stays tuples
    sim = Simulation(reference_config(0, **changes))
    gc.collect()
    before = _resident_bytes()
    t0 = time.perf_counter()
    sim.run_until(jobs / RATE)
    wall = time.perf_counter() - t0
    gc.collect()
    grown = _resident_bytes() - before
    arrived = sim.engine.jobs_arrived
    out = {
        "variant": variant,
        "jobs": arrived,
        "trace_events": len(sim.trace),
        "bytes_per_job": grown / arrived,
        "resident_growth_mb": grown / 1e6,
        "wall_seconds": wall,
    }
    sim.close()
    return out


def in_child(jobs: int, variant: str) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "benchmarks.sim_memory", "--jobs", str(jobs), "--variant", variant]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench_memory(jobs: int) -> dict[str, Any]:
    """Every variant over ``jobs`` arrivals, each in its own process, printed as a table."""
    rows = [in_child(jobs, variant) for variant in VARIANTS]
    print_table(
        rows,
        ["variant", "jobs", "trace_events", "bytes_per_job", "resident_growth_mb", "wall_seconds"],
        title=f"Memory of the reference model over {jobs:,} jobs (WAL, snapshots, trace on; "
        f"window: retain_finished={WINDOW:,}); target <= {TARGET_BYTES_PER_JOB} bytes a job",
    )
    packed = next(r for r in rows if r["variant"] == "packed")
    met = packed["bytes_per_job"] <= TARGET_BYTES_PER_JOB
    print(f"bytes per job (packed): {packed['bytes_per_job']:.0f}: {'met' if met else 'NOT MET'}")
    return {"jobs": jobs, "rows": rows, "target_bytes_per_job": TARGET_BYTES_PER_JOB}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim_memory", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="arrivals to simulate")
    parser.add_argument("--variant", choices=VARIANTS, default="packed")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    print(json.dumps(measure(args.jobs, args.variant)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
