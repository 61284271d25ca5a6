"""Memory of a long simulation: bytes per job of the reference model, each variant in a fresh
process so one run's heap never counts toward another's.

    python -m benchmarks.sim_memory --jobs 1000000 [--variant VARIANT]

Prints one JSON line: the growth of the process's resident set over the run, per job that
arrived. Variants (the WAL, snapshots and group commit are on in all of them, the trace in all but
``trace-off``):

* ``default``: the defaults: older trace events packed into columns
  (:mod:`simqueue.sim.tracelog`), acknowledged ids joined (:mod:`simqueue.sim.acklog`) and
  the simulation's retention window of 250,000 finished jobs
  (``SIMULATION_RETAIN_FINISHED``): finished jobs past it leave memory and snapshots;
* ``keep-all``: packed, and a window larger than the run: every finished job kept;
* ``tuples``: the default window, every trace event kept as a tuple (what packing saves);
* ``window``: packed, and a smaller window of 100,000 finished jobs;
* ``trace-off``: ``Config(trace=False)`` and the default window: events counted, not kept.

``second_half_bytes_per_job`` is what the second half of the run grew by, per job of it: once
the window is full, what each further job costs (flat memory: close to 0; what remains is the
state samples, 73 bytes every ``metrics_interval`` of simulated time).

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

VARIANTS = ("default", "keep-all", "tuples", "window", "trace-off")
WINDOW = 100_000
KEEP_ALL = 10**9  # a window no run here reaches
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

    windows = {"window": WINDOW, "keep-all": KEEP_ALL}
    changes: dict[str, Any] = {"retain_finished": windows[variant]} if variant in windows else {}
    if variant == "tuples":
        tracelog.pack = lambda *args: None  # every block stays tuples
    if variant == "trace-off":
        changes["trace"] = False
    sim = Simulation(reference_config(0, **changes))
    gc.collect()
    before = _resident_bytes()
    t0 = time.perf_counter()
    sim.run_until(jobs / 2 / RATE)
    gc.collect()
    middle, half = _resident_bytes(), sim.engine.jobs_arrived
    sim.run_until(jobs / RATE)
    wall = time.perf_counter() - t0
    gc.collect()
    after = _resident_bytes()
    arrived = sim.engine.jobs_arrived
    out = {
        "variant": variant,
        "jobs": arrived,
        "trace_events": len(sim.trace),
        "bytes_per_job": (after - before) / arrived,
        "second_half_bytes_per_job": (after - middle) / (arrived - half),
        "resident_growth_mb": (after - before) / 1e6,
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
        [
            "variant",
            "jobs",
            "trace_events",
            "bytes_per_job",
            "second_half_bytes_per_job",
            "resident_growth_mb",
            "wall_seconds",
        ],
        title=f"Memory of the reference model over {jobs:,} jobs (WAL, snapshots, trace on; "
        f"window: retain_finished={WINDOW:,}); target <= {TARGET_BYTES_PER_JOB} bytes a job "
        "(default)",
    )
    default = next(r for r in rows if r["variant"] == "default")
    met = default["bytes_per_job"] <= TARGET_BYTES_PER_JOB
    print(f"bytes per job (default): {default['bytes_per_job']:.0f}: {'met' if met else 'NOT MET'}")
    return {"jobs": jobs, "rows": rows, "target_bytes_per_job": TARGET_BYTES_PER_JOB}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim_memory", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1_000_000, help="arrivals to simulate")
    parser.add_argument("--variant", choices=VARIANTS, default="default")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    print(json.dumps(measure(args.jobs, args.variant)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
