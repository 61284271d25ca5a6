"""Simulation speed: simqueue's real engine against the same model written in SimPy.

The reference model: Poisson(200) arrivals, Exponential(mean=1/30 s) service, 8 workers,
task_timeout=0.1 s, hang_rate=0.05, failure_rate=0, max_retry=3, backoff=0.05, 1000 simulated
seconds (about 200,000 jobs). simqueue writes its real WAL (modeled fsync) and a snapshot every
10 s; SimPy writes nothing. Both run in this process, one after the other, repeated; the ratio of
their jobs per wall-second is what we report, with min and max. The two must also agree on the
model: throughput within 2 % and timeouts within 5 %.

    python -m benchmarks.bench_simulation [--quick]
"""

from __future__ import annotations

import gc
import time
from typing import Any

import simqueue
from benchmarks.common import is_quick, print_table, write_results
from benchmarks.simpy_reference import run_simpy_reference
from simqueue import Config, Exponential, Poisson, Simulation

REFERENCE = dict(
    rate=200.0,
    workers=8,
    service_mean=1 / 30,
    task_timeout=0.1,
    hang_rate=0.05,
    failure_rate=0.0,
    max_retry=3,
    backoff=0.05,
)


def reference_config(seed: int = 0, **changes: Any) -> Config:
    r = REFERENCE
    fields = dict(
        arrival=Poisson(r["rate"]),
        workers=r["workers"],
        service_time=Exponential(r["service_mean"]),
        task_timeout=r["task_timeout"],
        hang_rate=r["hang_rate"],
        failure_rate=r["failure_rate"],
        max_retry=r["max_retry"],
        backoff=r["backoff"],
        snapshot_interval=10.0,
        durability="modeled",
        seed=seed,
    )
    fields.update(changes)
    return Config(**fields)


def run_simqueue(duration: float, seed: int = 0, **changes: Any) -> dict[str, Any]:
    sim = Simulation(reference_config(seed, **changes))
    gc.collect()
    t0 = time.perf_counter()
    sim.run_until(duration)
    wall = time.perf_counter() - t0
    s = sim.summary()
    sim.close()
    return {
        "wall_seconds": wall,
        "completed": s.completed,
        "timeouts": s.timeouts,
        "dead": s.dead,
        "throughput": s.throughput,
        "jobs_per_wall_second": s.completed / wall,
        "sim_seconds_per_wall_second": duration / wall,
        "wal_bytes": s.wal_bytes,
        "snapshots": s.snapshots,
    }


def run_simpy(duration: float, seed: int = 0) -> dict[str, Any]:
    gc.collect()
    out = run_simpy_reference(duration=duration, seed=seed, **REFERENCE)
    out["sim_seconds_per_wall_second"] = duration / out["wall_seconds"]
    return out


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def main() -> dict[str, Any]:
    quick = is_quick()
    duration = 100.0 if quick else 1000.0
    repeat = 1 if quick else 3
    rows = []
    ratios = []
    results: dict[str, Any] = {"duration": duration, "runs": []}
    for i in range(repeat):
        sq = run_simqueue(duration, seed=i)
        sp = run_simpy(duration, seed=i)
        ratio = sq["jobs_per_wall_second"] / sp["jobs_per_wall_second"]
        ratios.append(ratio)
        results["runs"].append({"simqueue": sq, "simpy": sp, "ratio": ratio})
        rows.append(
            {
                "run": i,
                "simqueue s": sq["wall_seconds"],
                "SimPy s": sp["wall_seconds"],
                "simqueue jobs/s": sq["jobs_per_wall_second"],
                "SimPy jobs/s": sp["jobs_per_wall_second"],
                "ratio": ratio,
                "thr diff %": 100 * (sq["throughput"] / sp["throughput"] - 1),
                "timeouts diff %": 100 * (sq["timeouts"] / max(1, sp["timeouts"]) - 1),
            }
        )
    print_table(rows, title=f"Reference model, {duration:.0f} simulated seconds (seed = run)")
    # Other durability settings, one run each: what the WAL costs.
    variants = {
        "modeled fsync (default)": {},
        "real fsync": {"durability": "real"},
        "fsync never, no snapshots": {"fsync": "never", "snapshot_interval": None},
    }
    vrows = []
    for name, changes in variants.items():
        r = run_simqueue(duration / 10, **changes)
        vrows.append(
            {
                "variant": name,
                "jobs/wall-s": r["jobs_per_wall_second"],
                "sim-s/wall-s": r["sim_seconds_per_wall_second"],
            }
        )
        results.setdefault("variants", {})[name] = r
    print_table(vrows, title=f"simqueue durability variants ({duration / 10:.0f} simulated s)")
    # The slider case: 60 simulated seconds at 200 jobs/s.
    walls = [run_simqueue(60.0, seed=i)["wall_seconds"] for i in range(5)]
    results["sixty_seconds_wall"] = {"median": _median(walls), "min": min(walls), "max": max(walls)}
    results["ratio"] = {"median": _median(ratios), "min": min(ratios), "max": max(ratios)}
    print(
        f"\nsimqueue/SimPy jobs per wall-second: median {_median(ratios):.2f} "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f}); target >= 1.0, aim 1.5"
    )
    print(
        f"60 simulated seconds at 200 jobs/s: median {_median(walls):.3f} s wall (target < 0.3 s)"
    )
    results["simqueue_version"] = simqueue.__version__
    write_results("simulation", results)
    return results


if __name__ == "__main__":
    main()
