"""``simqueue crashtest``: the crash-consistency campaign (:mod:`simqueue.testing.crashsim`) on a
Dask cluster.

The same flags and table as ``python -m simqueue.testing.crashsim`` (``make crashtest``), plus
``--scheduler``: the chunks of crash points, the injected faults, the crash sequences and seeded
runs go to the cluster's workers (``docs/scale.md``); recording the workloads stays here. The
figures are those of the serial run; only the seconds differ.
"""

from __future__ import annotations

import argparse

from simqueue.cli.cluster import cluster_executor
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue crashtest`` and its flags."""
    from simqueue.testing.crashsim.cli import add_arguments

    p = add_command(
        subparsers,
        "crashtest",
        help="run the crash-consistency campaign (on a Dask cluster)",
        description="Every crash point of the recorded workloads x every power-loss outcome, "
        "recovered and checked, then injected I/O errors (or, with --sequences/--seeded, crash "
        "sequences and long seeded runs), on a Dask cluster (--scheduler) or a local one of "
        "--workers processes. Exit 1 if any invariant was violated.",
    )
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://HOST:8786 (default: a local cluster)",
    )
    add_arguments(p)
    p.set_defaults(func=cmd_crashtest)


def cmd_crashtest(args: argparse.Namespace) -> int:
    """Run the campaign on the cluster; 1 if any invariant was violated."""
    from simqueue.testing.crashsim.cli import run

    for flag in ("workers", "sequences", "seeded", "depth", "crashes", "first_seed"):
        value = getattr(args, flag)
        low = 1 if flag in ("workers", "depth") else 0
        if value is not None and value < low:
            name = "--" + flag.replace("_", "-")
            raise CliError(f"{name} must be at least {low}; got {value}", ExitCode.USAGE)
    with cluster_executor(args.scheduler, args.workers) as (executor, where):
        return run(args, executor, where)


__all__ = ["add_parser", "cmd_crashtest"]
