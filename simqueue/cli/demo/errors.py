"""The one exception of ``simqueue demo``: the demo could not be run at all."""

from __future__ import annotations

from simqueue.cli.errors import ExitCode


class DemoError(Exception):
    """The demo could not be run (not: the demo found a problem, which it reports).

    ``code`` is the exit code the CLI leaves with: 2 for a bad option, 3 for a job file or data
    directory it cannot use, 1 otherwise."""

    def __init__(self, message: str, code: int = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.code = code


__all__ = ["DemoError"]
