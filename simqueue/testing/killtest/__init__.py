"""``python -m simqueue.testing.killtest``: ``kill -9`` real ``simqueue run`` servers under load,
again and again, and check every restart against what the clients were told.

One module per part: :mod:`.handler` (the job handler the servers run, which logs each run before
it works), :mod:`.clients` (the load), :mod:`.servers` (start, find, signal and reap the child
processes), :mod:`.checks` (what every kill and restart is held to), :mod:`.loop` (one lifetime
after another, then a last server that drains the queue), :mod:`.results` (the figures) and
:mod:`.cli`. ``docs/reliability.md`` ("Real processes: kill -9 loop") describes a run and its
figures. Only 127.0.0.1, every wait bounded, every child reaped.
"""

from simqueue.testing.killtest.checks import Ledger
from simqueue.testing.killtest.cli import build_parser, main, run_killtest
from simqueue.testing.killtest.clients import Clients
from simqueue.testing.killtest.handler import HANDLER, RUNS_ENV, handle
from simqueue.testing.killtest.loop import FSYNC_CHOICES, KillLoop
from simqueue.testing.killtest.results import KillTestError, Lifetime, Summary, format_summary
from simqueue.testing.killtest.servers import REPO_ROOT, Servers

__all__ = [
    "FSYNC_CHOICES",
    "HANDLER",
    "REPO_ROOT",
    "RUNS_ENV",
    "Clients",
    "KillLoop",
    "KillTestError",
    "Ledger",
    "Lifetime",
    "Servers",
    "Summary",
    "build_parser",
    "format_summary",
    "handle",
    "main",
    "run_killtest",
]
