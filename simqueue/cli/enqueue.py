"""``simqueue enqueue``: submit a job file to a running server.

The file is checked here first with the server's own parser, so a mistake gets the exact message
(naming the file) and nothing is sent. The server answers once every job is durable; the request
is all or nothing.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from typing import BinaryIO

from simqueue.cli.client import add_client_flags, client_token, resolve_url
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command
from simqueue.service.client import http_json
from simqueue.service.jobfile import JobFileError, parse_jobs_text
from simqueue.service.network import DEFAULT_MAX_BODY


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue enqueue --file FILE`` and the client flags."""
    p = add_command(
        subparsers,
        "enqueue",
        help="submit a job file to a running server",
        description='Submit jobs from a JSON file, [{"id", "payload", "timeout_ms"}, ...] (the '
        "original demo's format). The file is checked first; the server answers once every job "
        "is durable. All or nothing: a duplicate id rejects the whole file.",
    )
    p.add_argument("--file", "-f", required=True, help="job file ('-' reads stdin)")
    p.add_argument(
        "--max-body-bytes",
        dest="max_body_bytes",
        type=int,
        default=DEFAULT_MAX_BODY,
        help=f"refuse a job file larger than this (default {DEFAULT_MAX_BODY}, the server's)",
    )
    add_client_flags(p)
    p.set_defaults(func=cmd_enqueue)


def cmd_enqueue(args: argparse.Namespace) -> int:
    """Read, check and POST the job file; report how many jobs the server made durable."""
    raw, source = read_job_file(args.file, args.max_body_bytes)
    check_job_file(raw, source)
    url = resolve_url(args)
    token = client_token(args)
    t0 = time.perf_counter()
    status, answer = http_json(url, "POST", "/jobs", raw, timeout=args.timeout, token=token)
    elapsed = time.perf_counter() - t0
    if status != 200:
        msg = answer.get("error") if isinstance(answer, dict) else None
        msg = (msg or f"HTTP {status}").replace("request body", source)
        code = ExitCode.BAD_INPUT if 400 <= status < 500 else ExitCode.FAILURE
        raise CliError(f"{url} refused {source}: {msg}", code)
    print(
        f"enqueued {answer['accepted']} job(s) from {source} in {elapsed:.3f} s "
        f"(durable; their last WAL record is seq {answer['last_seq']})"
    )
    return ExitCode.OK


def read_job_file(path: str, limit: int = DEFAULT_MAX_BODY) -> tuple[bytes, str]:
    """The file's bytes (``-`` reads stdin) and the name messages use for it. A file larger
    than ``limit`` bytes is refused: a regular file by its size, before reading; anything else
    (a pipe, a device such as /dev/zero) once ``limit + 1`` bytes arrived."""
    try:
        if path == "-":
            return _bounded_read(sys.stdin.buffer, "<stdin>", limit), "<stdin>"
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise _too_big(path, f"is {st.st_size} bytes", limit)
            return _bounded_read(fh, path, limit), path
    except OSError as exc:
        raise CliError(
            f"{path}: cannot read job file: {exc.strerror or exc}", ExitCode.BAD_INPUT
        ) from None


def _bounded_read(fh: BinaryIO, source: str, limit: int) -> bytes:
    raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise _too_big(source, f"has more than {limit} bytes", limit)
    return raw


def _too_big(source: str, size: str, limit: int) -> CliError:
    return CliError(
        f"{source}: the job file {size}; the limit is {limit} (--max-body-bytes): split it",
        ExitCode.BAD_INPUT,
    )


def check_job_file(raw: bytes, source: str) -> None:
    """The server's own job-file rules, applied before anything is sent."""
    try:
        parse_jobs_text(raw, source)
    except JobFileError as exc:
        raise CliError(str(exc), ExitCode.BAD_INPUT) from None


__all__ = ["add_parser", "check_job_file", "cmd_enqueue", "read_job_file"]
