"""Cluster: how much faster a sweep and a crash campaign run on a Dask cluster of 2 workers.

Run::

    python -m benchmarks.bench_cluster            # 16 sweep runs of 80 simulated s; 'steady'
    python -m benchmarks.bench_cluster --quick    # 8 sweep runs of 40 simulated s; 'recovery'

The same work goes to each executor: ``serial`` (:class:`~simqueue.lab.parallel.InlineExecutor`,
this process), ``dask-1`` and ``dask-2`` (a ``LocalCluster`` of 1 or 2 worker processes on
127.0.0.1, what ``simqueue sweep`` starts without ``--scheduler``), and ``pool-2`` (the local
default, a 2-process :class:`~concurrent.futures.ProcessPoolExecutor`), interleaved: every round
runs each executor once, in an order rotated from round to round, so a change in the machine's
load falls on all of them alike. Every run's results are checked equal to the serial run's (all
but the wall-clock columns): the speed-up is for the same answer.

The work: a sweep of simulations (:func:`simqueue.lab.sweeps.sweep_grid`, Poisson arrivals,
varying workers and seeds), and one workload's crash campaign (every crash point x the quick
budget's power-loss outcomes, in :data:`~simqueue.testing.crashsim.CHUNKS` chunks).

Expected scaling: every call is independent, CPU-bound pure Python (one per process: the GIL
allows no more), and small to ship (a ``Config`` or a trace of tens of kB out, one record or
result back), so W workers on W idle cores should approach W times the serial speed, less (a)
the per-task cost of the scheduler (about a millisecond a task, nothing against runs of
0.1-1 s), (b) the last round of tasks, when fewer tasks are left than workers (16 runs on 2
workers: none; 24 chunks of unequal cost: some), and (c) the other work on the machine: with the
load average above the number of cores, the workers share the cores with it and 2 workers give
less than 2x. ``dask-1`` against ``serial`` isolates Dask's own cost. Results go to the
``cluster`` section of ``benchmarks/results.json``; nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from typing import Any

from simqueue import Config, Poisson
from simqueue.lab.parallel import InlineExecutor
from simqueue.lab.sweeps import sweep_grid
from simqueue.testing import crashsim as cs

from .common import is_quick, load_average, print_table, write_results

EXECUTORS = ("serial", "dask-1", "dask-2", "pool-2")


@contextmanager
def executors() -> Iterator[dict[str, Executor]]:
    """Every executor of :data:`EXECUTORS`, started once for all rounds."""
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        out: dict[str, Executor] = {"serial": InlineExecutor()}
        for n in (1, 2):
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
            )
            client = stack.enter_context(Client(cluster))
            out[f"dask-{n}"] = client.get_executor(pure=False)
        out["pool-2"] = stack.enter_context(ProcessPoolExecutor(2))
        yield out


def sweep_work(quick: bool) -> Callable[[Executor], tuple[Any, float | None]]:
    grid: dict[str, list[Any]] = {"workers": [16, 24, 32, 48], "failure_rate": [0.0, 0.1]}
    seeds = [0] if quick else [0, 1]
    duration = 40.0 if quick else 80.0
    base = Config(arrival=Poisson(200))

    def run(executor: Executor) -> tuple[Any, float | None]:
        frame = sweep_grid(
            base, grid, duration=duration, seeds=seeds, executor=executor, progress=False
        )
        return frame.drop(columns=["wall_seconds"]).to_dict("records"), frame.wall_seconds.sum()

    return run


def campaign_work(quick: bool) -> Callable[[Executor], tuple[Any, float | None]]:
    trace = cs.record("recovery" if quick else "steady", tempfile.mkdtemp(prefix="bench-"))
    budget = cs.Budget.quick()

    def run(executor: Executor) -> tuple[Any, float | None]:
        result = cs.crash_campaign(trace, budget, executor, progress=False)
        result.seconds = 0.0
        return result, None

    return run


Times = dict[str, dict[str, list[float]]]


def rounds(
    work: Callable[[Executor], tuple[Any, float | None]], pool: dict[str, Executor], n: int
) -> Times:
    """``n`` rounds of ``work`` on every executor, the order rotated each round; every result
    must equal the serial one. Per executor: the elapsed seconds of each round and, where the
    work reports it, the seconds its tasks measured inside the workers."""
    times: Times = {name: {"elapsed": [], "in_tasks": []} for name in EXECUTORS}
    reference, _ = work(pool["serial"])  # also warms the workers' imports
    for i in range(n):
        order = EXECUTORS[i % len(EXECUTORS) :] + EXECUTORS[: i % len(EXECUTORS)]
        for name in order:
            t0 = time.perf_counter()
            got, in_tasks = work(pool[name])
            times[name]["elapsed"].append(time.perf_counter() - t0)
            if in_tasks is not None:
                times[name]["in_tasks"].append(in_tasks)
            if got != reference:
                raise AssertionError(f"{name} gave results other than the serial run's")
    return times


def summarise(what: str, times: Times) -> list[dict[str, Any]]:
    """One row per executor: median, min and max elapsed seconds, the speed-up over the serial
    median, and the median seconds spent inside the tasks (summed over workers; how busy the
    workers were, so elapsed minus in_tasks / workers is what the executor itself cost)."""
    serial = statistics.median(times["serial"]["elapsed"])
    rows = []
    for name, t in times.items():
        elapsed = t["elapsed"]
        rows.append(
            {
                "work": what,
                "executor": name,
                "median_s": statistics.median(elapsed),
                "min_s": min(elapsed),
                "max_s": max(elapsed),
                "speedup": serial / statistics.median(elapsed),
                "in_tasks_s": statistics.median(t["in_tasks"]) if t["in_tasks"] else None,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cluster", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="less work, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3; quick 2)")
    args = parser.parse_args(argv)
    quick = args.quick or is_quick(argv)
    n = args.rounds or (2 if quick else 3)
    load_before = load_average()
    rows: list[dict[str, Any]] = []
    with executors() as pool:
        for what, make in (("sweep", sweep_work), ("crash campaign", campaign_work)):
            rows += summarise(what, rounds(make(quick), pool, n))
    print_table(rows, title=f"sweep and crash campaign: {n} interleaved rounds per executor")
    loads = {"before": load_before, "after": load_average()}
    print(f"load average before {loads['before']}, after {loads['after']} (2 cores are 2.0)")
    write_results("cluster", {"quick": quick, "rounds": n, "rows": rows, "load_average": loads})
    return 0


if __name__ == "__main__":
    sys.exit(main())
