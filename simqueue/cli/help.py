"""The pieces every command's ``--help`` shares: the epilog (exit codes, configuration) and one
way to add a command to the ``simqueue`` parser."""

from __future__ import annotations

import argparse
from typing import TypeAlias

EPILOG = """\
exit codes: 0 ok, 1 failure, 2 usage/config error, 3 bad input (job file, request, directory),
4 no server answering, 5 data directory in use; `wal verify`: 0 clean, 1 torn tail, 2 corrupt.
configuration: --config FILE (YAML, like configs/default.yaml), then SIMQUEUE_* environment
variables (e.g. SIMQUEUE_WORKERS=4), then flags; flags win. See docs/cli.md.
"""

#: What ``add_subparsers()`` returns (argparse names the class only privately).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    subparsers: Subparsers, name: str, *, help: str, description: str
) -> argparse.ArgumentParser:
    """A subcommand of ``simqueue`` with the shared epilog, its description kept as written."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


__all__ = ["EPILOG", "Subparsers", "add_command"]
