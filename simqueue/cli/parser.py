"""The ``simqueue`` argument parser: the top-level options, and one subcommand per command
module, each adding itself with its own ``add_parser(subparsers)``."""

from __future__ import annotations

import argparse

from simqueue import __version__
from simqueue.cli import calibrate, crashtest, enqueue, run, simulate, status, sweep, wal
from simqueue.cli.demo import command as demo_command
from simqueue.cli.help import EPILOG

#: The command modules in the order ``simqueue --help`` lists them.
COMMANDS = (run, enqueue, status, demo_command, simulate, sweep, crashtest, wal, calibrate)


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each command's arguments carry ``func``, the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="simqueue",
        description="A durable job queue you can step through: run it as a server, kill it, "
        "watch it recover.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"simqueue {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log what the server and tools do on stderr (-v: info, -vv: debug)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


__all__ = ["COMMANDS", "build_parser"]
