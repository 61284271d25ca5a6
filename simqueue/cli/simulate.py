"""``simqueue simulate``: one scenario under the virtual clock, headless, judged on the targets.

The real WAL and snapshot code runs on real files in simulated time. The scenario (jobs at t=0,
an arrival process, a crash and recovery) comes from the settings; the run's frames, summary and
plots go to ``--out`` (:mod:`simqueue.cli.sim_outputs`), the headline numbers and one verdict per
target (:mod:`simqueue.cli.sim_verdicts`) to stdout. Unless told otherwise (``--crash-at``,
``--no-crash``) the run crashes once, at :data:`DEFAULT_CRASH_AT` simulated seconds, so that the
recovery target is judged on a real recovery. Long runs show a progress bar on stderr.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
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
    from simqueue.cli.sim_verdicts import Verdict
    from simqueue.sim.simulation import Simulation, Summary

#: The settings keys ``simulate`` has flags for.
SIM_KEYS = [*QUEUE_KEYS, "duration", "jobs", "crash_at", "arrival"]
#: When the run crashes if neither ``--crash-at`` nor ``--no-crash`` is given (halfway through
#: a ``--duration`` shorter than twice this).
DEFAULT_CRASH_AT = 5.0
#: The run advances in this many steps of simulated time (the progress bar's updates).
CHUNKS = 100
#: Wall seconds before the progress bar appears: a short run shows none.
PROGRESS_DELAY = 0.5


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue simulate`` and its flags."""
    p = add_command(
        subparsers,
        "simulate",
        help="run a headless simulation; write CSV frames, summary JSON and plots",
        description="Run a scenario under the virtual clock (real WAL and snapshots, simulated "
        "time), crash and recover once, and write trace.csv, jobs.csv, metrics.csv, summary.json "
        "and PNG plots to --out. Prints one PASS/MISS line per target: throughput >= 200 jobs/s "
        "(judged on the workers' capacity) and recovery < 3 s.",
    )
    p.add_argument("--config", help="YAML config/scenario file (e.g. data/scenarios/*.yaml)")
    p.add_argument("--duration", help="simulated seconds at most (60)")
    p.add_argument("--jobs", type=int, help="jobs enqueued at t=0 (1000)")
    crash = p.add_mutually_exclusive_group()
    crash.add_argument(
        "--crash-at",
        dest="crash_at",
        help=f"crash (and recover) at this simulated time (default {DEFAULT_CRASH_AT:g} s, or "
        "halfway through a shorter --duration)",
    )
    crash.add_argument(
        "--no-crash", action="store_true", help="do not crash (the recovery target is not judged)"
    )
    p.add_argument(
        "--arrival",
        help="arrival process, e.g. 'poisson(200)' (with it, run for --duration; without, "
        "run the --jobs enqueued at t=0 until idle)",
    )
    add_queue_flags(p)
    p.add_argument("--out", help="output directory (required)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_print_config(p)
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run the scenario; exit 1 if the invariant check found a violation."""
    settings = load_command_settings(args, SIM_KEYS)
    settings.scenario.crash_at = crash_time(settings, no_crash=args.no_crash)
    if args.print_config:
        print_config(settings)
        return ExitCode.OK
    if not args.out:
        raise CliError(
            "simulate needs --out DIR (where the CSV, JSON and PNG files go)", ExitCode.USAGE
        )
    from simqueue.core.errors import SimQueueError

    try:
        return simulate(settings, args.out, progress=not args.quiet)
    except SimQueueError as exc:
        raise CliError(f"simulate: {exc}", ExitCode.FAILURE) from None


def crash_time(settings: Settings, *, no_crash: bool) -> float | None:
    """The simulated time of the run's crash: the one asked for, none with ``--no-crash``, else
    :data:`DEFAULT_CRASH_AT` (halfway through a shorter run)."""
    if no_crash:
        return None
    if settings.scenario.crash_at is not None:
        return settings.scenario.crash_at
    return min(DEFAULT_CRASH_AT, settings.scenario.duration / 2)


def simulate(settings: Settings, out: str, *, progress: bool = True) -> int:
    """Play the scenario, check the invariants, write the files, print the report and the
    verdicts; exit 1 on an invariant violation (a missed target is a finding, exit 0)."""
    from simqueue.cli.sim_outputs import write_outputs
    from simqueue.cli.sim_verdicts import capacity_verdict, recovery_verdict
    from simqueue.sim.simulation import Simulation

    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with Simulation(settings.config) as sim:
        print(f"data directory {sim.data_dir} ({where_and_why(sim)})")
        _play(sim, settings, progress)
        violations = _invariants(sim)
        summary = sim.summary()
        verdicts = [
            capacity_verdict(settings.config),
            recovery_verdict(sim.recoveries, _no_recovery_note(settings)),
        ]
        files = write_outputs(sim, settings, summary, out, violations, verdicts)
    _report(summary, settings, time.perf_counter() - t0, violations, verdicts)
    print(f"wrote {len(files)} files to {out}: {', '.join(os.path.basename(f) for f in files)}")
    return ExitCode.OK if violations.startswith("ok") else ExitCode.FAILURE


def where_and_why(sim: Simulation) -> str:
    """Where the simulation keeps its files and why there (docs/cli.md says the same)."""
    if sim.config.data_dir is not None:
        return "the configured data_dir, kept after the run"
    if sim.data_dir.startswith("/dev/shm/"):
        where = "in RAM: fsync is modeled, so the files, really written, need no disk"
    elif sim.config.durability == "real":
        where = "in the temporary directory, not /dev/shm: durability is real, fsync is timed"
    else:
        where = "in the temporary directory (no writable /dev/shm here)"
    return f"{where}; removed when the run ends"


def _no_recovery_note(settings: Settings) -> str:
    sc = settings.scenario
    if sc.crash_at is None:
        return "no crash (--no-crash)"
    return f"no crash: the run ended before --crash-at {sc.crash_at:g} s"


def _play(sim: Simulation, settings: Settings, progress: bool) -> None:
    """Enqueue the jobs, crash and recover once if asked, then run to the end of the scenario,
    in chunks of simulated time that move the progress bar."""
    from tqdm.auto import tqdm

    cfg, sc = settings.config, settings.scenario
    if sc.jobs:
        sim.enqueue(sc.jobs)
    bar = tqdm(
        total=sc.duration,
        desc="simulating",
        unit="sim s",
        unit_scale=True,
        file=sys.stderr,
        disable=None if progress else True,  # None: shown on a terminal only, not in a log
        delay=PROGRESS_DELAY,
        leave=False,
    )
    with bar:

        def moved() -> None:
            bar.update(min(sim.now, sc.duration) - bar.n)

        if sc.crash_at is not None and sc.crash_at < sc.duration:
            _advance(sim, sc.crash_at, until_idle=False, moved=moved)
            info = sim.crash(sc.crash_kind, sc.crash_tear)
            report = sim.recover()
            when = info.get("time", sc.crash_at)
            tqdm.write(f"t={when:.3f}s {sc.crash_kind} crash; {report.describe()}", file=sys.stdout)
        _advance(sim, sc.duration, until_idle=cfg.arrival is None, moved=moved)


def _advance(sim: Simulation, end: float, *, until_idle: bool, moved: Callable[[], None]) -> None:
    """Run to simulated time ``end`` (or, ``until_idle``, until the queue has no work left),
    :data:`CHUNKS` steps of simulated time at a time."""
    step = max(end / CHUNKS, 1e-3)
    while sim.now < end:
        t = min(sim.now + step, end)
        if until_idle:
            sim.run_until_idle(max_time=t)
            if sim.now < t:  # idle before the chunk's end: nothing left to do
                moved()
                return
        else:
            sim.run_until(t)
        moved()


def _invariants(sim: Simulation) -> str:
    """``"ok"``, or the violation the invariant check found (reported, not raised)."""
    from simqueue.core.errors import SimQueueError

    try:
        sim.check_invariants()
    except SimQueueError as exc:
        return str(exc)
    if not sim.config.trace:  # the crash's promises are read off the trace
        return "ok (the queue's state only: with the trace off a crash's promises go unchecked)"
    return "ok"


def _report(
    summary: Summary, settings: Settings, wall: float, violations: str, verdicts: list[Verdict]
) -> None:
    from simqueue.lab.plots.figure import plural

    print(
        f"simulated {summary.elapsed:.2f} s in {wall:.2f} s (seed {settings.config.seed}): "
        f"{summary.completed} completed, {summary.dead} dead, {summary.pending} pending, "
        f"{summary.in_flight} in flight"
    )
    arrival = settings.config.arrival
    offered = (
        f"{arrival.rate:g} jobs/s offered: a run completes at most what arrives"
        if arrival is not None
        else f"{plural(settings.scenario.jobs, 'job')} at t=0"
    )
    print(
        f"measured throughput {summary.throughput:.1f} jobs/s ({offered}), latency p50 "
        f"{_ms(summary.latency_p50)}, p99 {_ms(summary.latency_p99)}; {summary.fsyncs} fsyncs"
    )
    for r in summary.recoveries:
        print(f"recovery: {r.describe()}")
    print(f"invariants: {violations}")
    for v in verdicts:
        print(v.line())


def _ms(seconds: float) -> str:
    from simqueue.lab.plots.figure import seconds_label

    return "n/a" if math.isnan(seconds) else seconds_label(seconds)


__all__ = [
    "DEFAULT_CRASH_AT",
    "SIM_KEYS",
    "add_parser",
    "cmd_simulate",
    "crash_time",
    "simulate",
    "where_and_why",
]
