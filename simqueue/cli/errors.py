"""How a ``simqueue`` command ends: the named exit codes and the one-line error that carries one.

Every command module raises :class:`CliError`; :func:`simqueue.cli.main.main` prints its message
on stderr (``simqueue: error: ...``) and returns its code, so no command prints a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``simqueue`` returns. ``wal verify`` uses 0/1/2 for clean/torn/corrupt."""

    OK = 0
    FAILURE = 1  # the command ran and something failed (a storage error, a demo check)
    USAGE = 2  # bad flags, config file or environment variable
    BAD_INPUT = 3  # a job file, request or directory the queue cannot use (or refused)
    UNAVAILABLE = 4  # no simqueue server answering at the URL
    LOCKED = 5  # the data directory is in use by another server
    INTERRUPTED = 130  # Ctrl+C in a client command

    # ``simqueue wal verify``
    WAL_CLEAN = 0
    WAL_TORN = 1
    WAL_CORRUPT = 2


class CliError(Exception):
    """A one-line error and the exit code to leave with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


__all__ = ["CliError", "ExitCode"]
