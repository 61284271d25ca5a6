"""``simqueue status``: a running server's ``/status`` answer as a few aligned lines (the demo
prints the same lines), or its raw JSON."""

from __future__ import annotations

import argparse
import json
from typing import Any

from simqueue.cli.client import add_client_flags, client_token, resolve_url
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command
from simqueue.service.client import http_json


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue status [--json]`` and the client flags."""
    p = add_command(
        subparsers,
        "status",
        help="show a running server's counts, WAL position and last recovery",
        description="Show a running server's job counts, WAL sequence numbers, fsync count and "
        "the report of its last recovery.",
    )
    p.add_argument("--json", action="store_true", help="print the raw JSON of GET /status")
    add_client_flags(p)
    p.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    """Ask the server for ``/status`` and print it."""
    url = resolve_url(args)
    token = client_token(args)
    status, answer = http_json(url, "GET", "/status", timeout=args.timeout, token=token)
    if status != 200 or not isinstance(answer, dict):
        raise CliError(f"{url}/status answered HTTP {status}", ExitCode.FAILURE)
    print(json.dumps(answer, indent=2) if args.json else format_status(answer))
    return ExitCode.OK


def format_status(st: dict[str, Any]) -> str:
    """The ``/status`` document ``st`` as the lines a person reads."""
    c = st.get("counts") or {}
    cfg = st.get("config", {})
    lines = [
        f"simqueue at {st['url']} (pid {st['pid']}, up {st['uptime_seconds']:.1f} s, "
        f"data dir {st['data_dir']})",
        f"jobs:     {c.get('pending', 0)} pending, {c.get('in_flight', 0)} in flight, "
        f"{c.get('completed', 0)} completed, {c.get('dead', 0)} dead ({st['jobs']} total)",
        f"workers:  {st['workers']['busy']}/{st['workers']['total']} busy; "
        f"{st['dispatches']} attempts, {st['failures']} failed, {st['timeouts']} timed out, "
        f"{st['stale_results']} stale results",
        f"wal:      seq {st['seq']['last']}, durable {st['seq']['durable']}, "
        f"{st['fsyncs']} fsyncs (fsync={cfg.get('fsync')}), {st['snapshots']} snapshots",
    ]
    rec = st.get("recovery")
    lines.append(
        "recovery: " + (rec["description"] if rec else "none (started on a fresh directory)")
    )
    if st.get("stopping"):
        lines.append("state:    stopping")
    if st.get("fatal"):
        lines.append(f"fatal:    {st['fatal']}")
    return "\n".join(lines)


__all__ = ["add_parser", "cmd_status", "format_status"]
