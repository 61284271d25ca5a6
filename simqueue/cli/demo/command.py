"""``simqueue demo``: its flags, and the step from :func:`run_demo` to an exit code."""

from __future__ import annotations

import argparse

from simqueue.cli.demo.errors import DemoError
from simqueue.cli.demo.steps import run_demo
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue demo`` and its flags."""
    d = add_command(
        subparsers,
        "demo",
        help="the original demo, for real: kill -9 a running server and measure recovery",
        description="Start a server on a fresh data directory, enqueue jobs, kill -9 it while "
        "jobs are running, restart it, report the recovery time the server measured and the jobs "
        "completed, check that no acknowledged job was lost, and write a plot to exports/.",
    )
    d.add_argument("--jobs", help="job file (default: data/jobs_demo.json, else generated)")
    d.add_argument("--count", type=int, help="generate this many jobs instead of a file")
    d.add_argument("--workers", type=int, default=8, help="server worker threads (8)")
    d.add_argument("--failure-rate", dest="failure_rate", type=float, default=0.05)
    d.add_argument(
        "--kill-at",
        dest="kill_at",
        type=float,
        default=0.35,
        help="kill -9 once this fraction of the jobs has finished (0.35)",
    )
    d.add_argument(
        "--out",
        help="where the plot and summary go (default: the export folder of simqueue.export, "
        "exports/ at the top of the checkout)",
    )
    d.add_argument("--data-dir", dest="data_dir", help="use this (empty) directory, keep it")
    d.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    d.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """0 if every check passed, 1 if one failed; a demo that cannot run is a :class:`CliError`."""
    try:
        ok = run_demo(
            jobs_file=args.jobs,
            count=args.count,
            workers=args.workers,
            out_dir=args.out,
            data_dir=args.data_dir,
            keep=args.keep,
            kill_at=args.kill_at,
            failure_rate=args.failure_rate,
            timeout=args.timeout,
        )
    except DemoError as exc:
        raise CliError(f"demo: {exc}", exc.code) from None
    return ExitCode.OK if ok else ExitCode.FAILURE


__all__ = ["add_parser", "cmd_demo"]
