"""The ``simqueue`` command: run a durable job server, talk to it, replay the original demo for
real, run headless simulations, and inspect a write-ahead log.

Every command has ``--help``. Exit codes are named in :class:`ExitCode`; errors are one line on
stderr, never a traceback. ``main(argv)`` returns the exit code (the console script and
``python -m simqueue`` pass it to :func:`sys.exit`). What a command tells its user is printed;
``-v``/``-vv`` also show the ``simqueue`` loggers' INFO/DEBUG records on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.parser import build_parser
from simqueue.service.client import ClientError, ServerUnavailableError

#: The logger every simqueue module logs under (``logging.getLogger(__name__)``).
LOGGER = "simqueue"
LOG_FORMAT = "%(name)s: %(levelname)s: %(message)s"


def log_level(verbosity: int) -> int:
    """WARNING without ``-v``, INFO with one, DEBUG with two or more."""
    if verbosity <= 0:
        return logging.WARNING
    return logging.INFO if verbosity == 1 else logging.DEBUG


class StderrHandler(logging.Handler):
    """Writes each record to the current ``sys.stderr`` (looked up at every record, so a
    redirected or captured stderr gets them too)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(verbosity: int) -> Iterator[logging.Logger]:
    """The ``simqueue`` logger at :func:`log_level` with a stderr handler while one command runs;
    its level and handlers are put back afterwards (``main`` may run many times in a process)."""
    logger = logging.getLogger(LOGGER)
    level = logger.level
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(log_level(verbosity))
    try:
        yield logger
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the ``simqueue`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.USAGE
    with cli_logging(args.verbose):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command's exit code; every error it raises becomes one line on stderr."""
    try:
        return int(args.func(args))
    except CliError as exc:
        return _fail(exc.message, exc.code)
    except ServerUnavailableError as exc:
        return _fail(str(exc), ExitCode.UNAVAILABLE)
    except ClientError as exc:
        return _fail(str(exc), ExitCode.FAILURE)
    except KeyboardInterrupt:
        print("simqueue: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `simqueue wal dump DIR | head`: the reader left; that is not an error.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


def _fail(message: str, code: int) -> int:
    print(f"simqueue: error: {message}", file=sys.stderr)
    return int(code)


__all__ = ["CliError", "ExitCode", "build_parser", "cli_logging", "log_level", "main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
