"""``simqueue wal dump`` and ``simqueue wal verify``: read a data directory's write-ahead log
without changing it (they take no lock, so a live server's directory works too)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command

#: Fields every dump line starts with; the rest follow as ``key=value``.
_LEADING_FIELDS = ("seq", "type", "job_id")


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue wal`` with its two subcommands."""
    w = add_command(
        subparsers,
        "wal",
        help="inspect a write-ahead log (dump, verify)",
        description="Read a data directory's write-ahead log without changing it.",
    )
    wsub = w.add_subparsers(dest="wal_command", metavar="SUBCOMMAND", required=True)
    dump = wsub.add_parser(
        "dump",
        help="print every record, one per line",
        description="Print every valid record of DIR's WAL, one per line (oldest first). "
        "Exit 2 with the file and byte offset if the log is corrupt.",
    )
    dump.add_argument("dir", metavar="DIR", help="data directory")
    dump.add_argument("--json", action="store_true", help="one JSON object per line")
    dump.set_defaults(func=cmd_wal_dump)
    verify = wsub.add_parser(
        "verify",
        help="check every record: exit 0 clean, 1 torn tail, 2 corrupt",
        description="Check every segment and record of DIR's WAL. Exit 0: clean. Exit 1: a torn "
        "tail that recovery will cut (normal after a power loss). Exit 2: corruption, printed "
        "with file and byte offset.",
    )
    verify.add_argument("dir", metavar="DIR", help="data directory")
    verify.set_defaults(func=cmd_wal_verify)


def cmd_wal_dump(args: argparse.Namespace) -> int:
    """Every valid record on stdout; a torn tail is a note on stderr, corruption exit 2."""
    from simqueue.core import wal
    from simqueue.core.errors import CorruptWALError, StorageError

    check_data_dir(args.dir)
    out = sys.stdout
    try:
        for rec in wal.iter_records(args.dir):
            fields = rec.fields()
            out.write((json.dumps(fields) if args.json else format_record(fields)) + "\n")
        report = wal.verify(args.dir)
    except CorruptWALError as exc:
        out.flush()
        raise CliError(str(exc), ExitCode.WAL_CORRUPT) from None
    except (StorageError, OSError) as exc:
        out.flush()
        raise CliError(str(exc), ExitCode.FAILURE) from None
    if report.status == "torn":
        out.flush()
        print(f"simqueue: note: {report.describe()}", file=sys.stderr)
    gap = snapshot_gap(args.dir, report)
    if gap is not None:
        out.flush()
        raise CliError(gap, ExitCode.WAL_CORRUPT)
    return ExitCode.OK


def cmd_wal_verify(args: argparse.Namespace) -> int:
    """The verdict on stdout if clean, else on stderr; the exit code is the verdict's."""
    from simqueue.core import wal
    from simqueue.core.errors import StorageError

    check_data_dir(args.dir)
    try:
        report = wal.verify(args.dir)
    except (StorageError, OSError) as exc:
        raise CliError(str(exc), ExitCode.FAILURE) from None
    gap = snapshot_gap(args.dir, report)
    if gap is not None:
        print(f"corrupt: {gap}", file=sys.stderr)
        return ExitCode.WAL_CORRUPT
    print(report.describe(), file=sys.stdout if report.status == "clean" else sys.stderr)
    return report.exit_code


def snapshot_gap(data_dir: str, report: Any) -> str | None:
    """Why the log cannot be whole, judged against the newest readable snapshot (the one
    recovery adopts): it ends before the snapshot's seq, so its newest segment(s) are gone.
    ``None`` when it reaches past it, has no segment or no snapshot to compare with (a
    snapshot alone is a state recovery starts from), or is already corrupt."""
    from simqueue.core import snapshot
    from simqueue.core.errors import SimQueueError
    from simqueue.core.storage import FileSystem

    snap_dir = os.path.join(data_dir, "snapshots")
    if report.status == "corrupt" or not os.path.isdir(snap_dir):
        return None
    try:
        state, _ = snapshot.load_newest(FileSystem(), snap_dir)
    except (SimQueueError, OSError):
        return None  # the snapshots' own trouble: recovery reports it
    if state is None or not report.segments or report.end_seq >= state.last_seq:
        return None
    return (
        f"{os.path.join(data_dir, 'wal')}: the log ends at seq {report.end_seq} but snapshot "
        f"{os.path.basename(state.path)} covers through seq {state.last_seq}: "
        "the newest segment(s) are missing"
    )


def check_data_dir(path: str) -> None:
    """A :class:`CliError` (bad input) unless ``path`` is a directory with a ``wal/`` inside."""
    if not os.path.isdir(path):
        raise CliError(f"{path}: no such directory", ExitCode.BAD_INPUT)
    if not os.path.isdir(os.path.join(path, "wal")):
        raise CliError(
            f"{path}: not a simqueue data directory (there is no wal/ inside)", ExitCode.BAD_INPUT
        )


def format_record(fields: dict[str, Any]) -> str:
    """One dump line: seq, type and job id in columns, then the other fields as key=value."""
    rest = " ".join(f"{k}={_value(v)}" for k, v in fields.items() if k not in _LEADING_FIELDS)
    return f"{fields['seq']:>8} {fields['type']:<8} {_text(fields['job_id'])} {rest}"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6f}"
    if isinstance(v, str):
        return _text(v)
    return str(v)


def _text(v: str) -> str:
    """``v`` as is when it prints as one word, else JSON-quoted with every control and
    non-ASCII character escaped: a job id or payload never moves the cursor or splits a line."""
    if v and v.isprintable() and " " not in v:
        return v
    return json.dumps(v)


__all__ = ["add_parser", "check_data_dir", "cmd_wal_dump", "cmd_wal_verify", "format_record"]
