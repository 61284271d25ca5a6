"""``python -m simqueue.testing.crashsim``: the whole campaign, its table on stdout (progress goes
to the ``simqueue.testing.crashsim`` loggers and a bar on stderr), optionally the summary as JSON
and the figures as CSV; with ``--sequences N`` / ``--seeded N`` instead, crash sequences
(:mod:`.sequences`) and long seeded runs (:mod:`.seeded`).

:func:`add_arguments` and :func:`run` are shared with ``simqueue crashtest``, which passes the
executor of a Dask cluster (``docs/scale.md``)."""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import Executor
from dataclasses import asdict

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.campaign import campaign_frame, run_campaign
from simqueue.testing.crashsim.seeded import seeded_campaign
from simqueue.testing.crashsim.sequences import sequence_campaign
from simqueue.testing.crashsim.workloads import WORKLOADS

DESCRIPTION = "Crash-consistency campaign: every crash point x every power-loss outcome."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simqueue.testing.crashsim", description=DESCRIPTION
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The campaign's flags (``simqueue crashtest`` adds ``--scheduler`` to them)."""
    parser.add_argument("--quick", action="store_true", help="the bounded budget of make test")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--no-faults", action="store_true", help="skip error injection")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    parser.add_argument("--csv", metavar="FILE", help="also write the figures as CSV")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr (on for a terminal)"
    )
    more = parser.add_argument_group(
        "crash sequences and seeded runs (given either, they run instead of the campaign above)"
    )
    more.add_argument("--sequences", type=int, default=0, metavar="N", help="N crash sequences")
    more.add_argument("--depth", type=int, default=3, help="crashes per sequence (default 3)")
    more.add_argument("--seeded", type=int, default=0, metavar="N", help="N long seeded runs")
    more.add_argument("--crashes", type=int, default=40, help="crashes per seeded run (40)")
    more.add_argument("--first-seed", type=int, default=0, help="seeds start here (default 0)")


def _more(args: argparse.Namespace, workers: int, executor: Executor | None) -> int:
    """The crash sequences and seeded runs the flags ask for; 1 if any invariant broke."""
    budget = Budget.quick(workers)  # outcomes per chosen crash point, as in make test
    progress = False if args.no_progress else None
    out: dict[str, object] = {}
    bad = 0
    first = args.first_seed
    if args.sequences:
        seeds = list(range(first, first + args.sequences))
        seq = sequence_campaign(seeds, args.depth, budget, 1, executor, progress=progress)
        print(seq.table())
        out["sequences"] = asdict(seq)
        bad += len(seq.violations)
        for v in seq.violations[:50]:
            print(v.describe())
    if args.seeded:
        seeds = list(range(first, first + args.seeded))
        run = seeded_campaign(seeds, args.crashes, budget, 0, executor, progress=progress)
        print(run.table())
        out["seeded"] = asdict(run)
        bad += len(run.violations)
        for v in run.violations[:50]:
            print(v.describe())
    _write_json(args.json, out)
    return 1 if bad else 0


def _write_json(path: str | None, data: object) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(data, f, indent=1, default=str)


def main(argv: list[str] | None = None) -> int:
    """Run the campaign the flags ask for; 1 if any invariant was violated."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace, executor: Executor | None = None, where: str = "") -> int:
    """The campaign of ``args`` on ``executor`` (default: ``--workers`` local processes; then
    ``where`` names it in the first line); 1 if any invariant was violated."""
    workers = args.workers or os.cpu_count() or 1
    on = where or f"{workers} workers"
    if args.sequences or args.seeded:
        print(f"simqueue crash sequences and seeded runs ({on})", flush=True)
        return _more(args, workers, executor)
    budget = Budget.quick(workers) if args.quick else Budget.full(workers)
    print(f"simqueue crash campaign ({'quick' if args.quick else 'full'} budget, {on})", flush=True)
    summary = run_campaign(
        budget,
        args.workload,
        faults=not args.no_faults,
        executor=executor,
        progress=False if args.no_progress else None,
    )
    print()
    print(summary.table())
    for v in summary.violations[:50]:
        print(v.describe())
    _write_json(args.json, summary.as_dict())
    if args.csv:
        os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
        campaign_frame(summary).to_csv(args.csv, index=False)
    return 1 if summary.violations else 0
