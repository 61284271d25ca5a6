"""``simqueue demo``: the original plan's demo, done for real.

The plan's demo starts the server, enqueues jobs, ``kill -9``-s it after ``sleep 3``, restarts it
and prints an assumed recovery time. This one measures instead
(:mod:`simqueue.cli.demo.steps`, one method per step):

1. starts ``simqueue run`` as a child process on a fresh data directory (port 0);
2. enqueues the jobs with one ``POST /jobs`` (answered once every job is durable);
3. watches ``GET /status`` and sends SIGKILL while jobs are in flight;
4. restarts the server on the same directory and reads the recovery time *the server measured*
   (snapshot load + WAL replay, from its :class:`~simqueue.RecoveryReport`);
5. waits until every job is COMPLETED or DEAD, stops the server with SIGTERM;
6. opens the directory itself and checks that every acknowledged job is there and finished,
   and that the WAL verifies clean (:mod:`~simqueue.cli.demo.check`);
7. writes ``exports/demo_recovery.png`` (and a CSV timeline and a JSON summary,
   :mod:`~simqueue.cli.demo.outputs`).

The jobs come from :mod:`~simqueue.cli.demo.jobs`, the child processes are managed by
:mod:`~simqueue.cli.demo.servers`, and :mod:`~simqueue.cli.demo.command` is the CLI command.
"""

from simqueue.cli.demo.errors import DemoError
from simqueue.cli.demo.jobs import DEFAULT_JOBS, generate_jobs
from simqueue.cli.demo.steps import run_demo

__all__ = ["run_demo", "generate_jobs", "DemoError", "DEFAULT_JOBS"]
