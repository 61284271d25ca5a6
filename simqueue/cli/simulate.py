"""``simqueue simulate``: one scenario under the virtual clock, headless.

The real WAL and snapshot code runs on real files in simulated time. The scenario (jobs at t=0,
an arrival process, one crash and recovery) comes from the settings; the run's frames, summary
and plots go to ``--out`` (:mod:`simqueue.cli.sim_outputs`), the headline numbers to stdout.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import TYPE_CHECKING

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command
from simqueue.cli.options import (
    QUEUE_KEYS,
    add_print_config,
    add_queue_flags,
    load_command_settings,
    print_config,
)

if TYPE_CHECKING:
    from simqueue.cli.settings import Settings
    from simqueue.sim.simulation import Simulation, Summary

#: The settings keys ``simulate`` has flags for.
SIM_KEYS = [*QUEUE_KEYS, "duration", "jobs", "crash_at", "arrival"]


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue simulate`` and its flags."""
    p = add_command(
        subparsers,
        "simulate",
        help="run a headless simulation; write CSV frames, summary JSON and plots",
        description="Run a scenario under the virtual clock (real WAL and snapshots, simulated "
        "time) and write trace.csv, jobs.csv, metrics.csv, summary.json and PNG plots to --out.",
    )
    p.add_argument("--config", help="YAML config/scenario file (e.g. data/scenarios/*.yaml)")
    p.add_argument("--duration", help="simulated seconds at most (60)")
    p.add_argument("--jobs", type=int, help="jobs enqueued at t=0 (1000)")
    p.add_argument("--crash-at", dest="crash_at", help="crash (and recover) at this time")
    p.add_argument(
        "--arrival",
        help="arrival process, e.g. 'poisson(200)' (with it, run for --duration; without, "
        "run the --jobs enqueued at t=0 until idle)",
    )
    add_queue_flags(p)
    p.add_argument("--out", help="output directory (required)")
    add_print_config(p)
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the scenario; exit 1 if the invariant check found a violation."""
    settings = load_command_settings(args, SIM_KEYS)
    if args.print_config:
        print_config(settings)
        return ExitCode.OK
    if not args.out:
        raise CliError(
            "simulate needs --out DIR (where the CSV, JSON and PNG files go)", ExitCode.USAGE
        )
    from simqueue.core.errors import SimQueueError

    try:
        return simulate(settings, args.out)
    except SimQueueError as exc:
        raise CliError(f"simulate: {exc}", ExitCode.FAILURE) from None


def simulate(settings: Settings, out: str) -> int:
    """Play the scenario, check the invariants, write the files, print the report."""
    from simqueue.cli.sim_outputs import write_outputs
    from simqueue.sim.simulation import Simulation

    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with Simulation(settings.config) as sim:
        _play(sim, settings)
        violations = _invariants(sim)
        summary = sim.summary()
        files = write_outputs(sim, settings, summary, out, violations)
    _report(summary, settings, time.perf_counter() - t0, violations)
    print(f"wrote {len(files)} files to {out}: {', '.join(os.path.basename(f) for f in files)}")
    return ExitCode.OK if violations == "ok" else ExitCode.FAILURE


def _play(sim: Simulation, settings: Settings) -> None:
    """Enqueue the jobs, crash and recover once if asked, then run to the end of the scenario."""
    cfg, sc = settings.config, settings.scenario
    if sc.jobs:
        sim.enqueue(sc.jobs)
    if sc.crash_at is not None and sc.crash_at < sc.duration:
        sim.run_until(sc.crash_at)
        info = sim.crash(sc.crash_kind, sc.crash_tear)
        report = sim.recover()
        print(f"t={info.get('time', sc.crash_at):.3f}s {sc.crash_kind} crash; {report.describe()}")
    if cfg.arrival is not None:
        sim.run_until(sc.duration)
    else:
        sim.run_until_idle(max_time=sc.duration)


def _invariants(sim: Simulation) -> str:
    """``"ok"``, or the violation the invariant check found (reported, not raised)."""
    from simqueue.core.errors import SimQueueError

    try:
        sim.check_invariants()
    except SimQueueError as exc:
        return str(exc)
    return "ok"


def _report(summary: Summary, settings: Settings, wall: float, violations: str) -> None:
    print(
        f"simulated {summary.elapsed:.2f} s in {wall:.2f} s (seed {settings.config.seed}): "
        f"{summary.completed} completed, {summary.dead} dead, {summary.pending} pending, "
        f"{summary.in_flight} in flight"
    )
    print(
        f"throughput {summary.throughput:.1f} jobs/s (target >= 200), latency p50 "
        f"{_ms(summary.latency_p50)}, p99 {_ms(summary.latency_p99)}; {summary.fsyncs} fsyncs"
    )
    for r in summary.recoveries:
        print(f"recovery: {r.describe()}")
    print(f"invariants: {violations}")


def _ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


__all__ = ["SIM_KEYS", "add_parser", "cmd_simulate", "simulate"]
