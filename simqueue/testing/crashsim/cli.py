"""``python -m simqueue.testing.crashsim``: the whole campaign, its table on stdout (progress goes
to the ``simqueue.testing.crashsim`` loggers), optionally the summary as JSON."""

from __future__ import annotations

import argparse
import json
import os

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.campaign import run_campaign
from simqueue.testing.crashsim.workloads import WORKLOADS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simqueue.testing.crashsim",
        description="Crash-consistency campaign: every crash point x every power-loss outcome.",
    )
    parser.add_argument("--quick", action="store_true", help="the bounded budget of make test")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--no-faults", action="store_true", help="skip error injection")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the campaign the flags ask for; 1 if any invariant was violated."""
    args = build_parser().parse_args(argv)
    workers = args.workers or os.cpu_count() or 1
    budget = Budget.quick(workers) if args.quick else Budget.full(workers)
    print(
        f"simqueue crash campaign ({'quick' if args.quick else 'full'} budget, {workers} workers)",
        flush=True,
    )
    summary = run_campaign(budget, args.workload, faults=not args.no_faults)
    print()
    print(summary.table())
    for v in summary.violations[:50]:
        print(v.describe())
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(summary.as_dict(), f, indent=1, default=str)
    return 1 if summary.violations else 0
