"""``python -m simqueue.testing.killtest``: the options, one run of the loop in a work directory,
and the summary on stdout (progress goes to the ``simqueue.testing.killtest`` loggers)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile

from simqueue.testing.killtest.loop import KillLoop
from simqueue.testing.killtest.results import KillTestError, Summary, format_summary

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simqueue.testing.killtest",
        description="kill -9 real `simqueue run` servers under load, again and again; check "
        "every restart against the jobs the clients saw acknowledged.",
    )
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs to send (50)")
    p.add_argument("--seed", type=int, default=1, help="seed of every random choice (1)")
    p.add_argument("--clients", type=int, default=3, help="client threads POSTing batches (3)")
    p.add_argument("--workers", type=int, default=4, help="server worker threads (4)")
    p.add_argument("--max-batch", type=int, default=20, help="jobs per POST, at most (20)")
    p.add_argument("--min-pause", type=float, default=0.01, help="client pause, s (0.01)")
    p.add_argument("--max-pause", type=float, default=0.06, help="client pause, s (0.06)")
    p.add_argument("--min-uptime", type=float, default=0.3, help="s under load, at least (0.3)")
    p.add_argument("--max-uptime", type=float, default=1.5, help="s under load, at most (1.5)")
    p.add_argument(
        "--early", type=float, default=0.15, help="fraction of kills aimed at start-up (0.15)"
    )
    p.add_argument("--snapshot-interval", type=float, default=0.5, help="seconds (0.5)")
    p.add_argument("--max-retry", type=int, default=10, help="server --max-retry (10)")
    p.add_argument("--sample", type=int, default=20, help="acked ids to GET per restart (20)")
    p.add_argument("--time-limit", type=float, default=900.0, help="give up after (900 s)")
    p.add_argument("--work-dir", help="use this directory (kept); default: a temporary one")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", help="also write the summary as JSON to this file")
    return p


def run_killtest(argv: list[str] | None = None) -> Summary:
    """Parse ``argv`` and run the loop; returns the :class:`Summary` (``.ok``)."""
    args = build_parser().parse_args(argv)
    keep = args.keep or args.work_dir is not None
    if args.work_dir is None:
        args.work_dir = tempfile.mkdtemp(prefix="simqueue-killtest-")
    try:
        return KillLoop(args).run()
    finally:
        if keep:
            log.info("killtest: kept %s", args.work_dir)
        else:
            shutil.rmtree(args.work_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """0 when every check held, 1 on a violation, 2 when the loop could not run."""
    args = build_parser().parse_args(argv)
    try:
        summary = run_killtest(argv)
    except KillTestError as exc:
        print(f"killtest: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("killtest: interrupted", file=sys.stderr)
        return 130
    print(format_summary(summary))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2, default=str)
            fh.write("\n")
    print("killtest: OK" if summary.ok else f"killtest: FAILED ({len(summary.violations)})")
    return 0 if summary.ok else 1
