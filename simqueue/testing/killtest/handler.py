"""The job handler the killed servers run (``simqueue run --handler``): it logs each run before
it works, so the run log says which attempts started in which server process."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

RUNS_ENV = "SQ_KILLTEST_RUNS"  # where handle() logs its runs (not SIMQUEUE_*: not a setting)
#: The ``--handler`` spec of :func:`handle`.
HANDLER = "simqueue.testing.killtest.handler:handle"

_runs_lock = threading.Lock()
_runs_fd: int | None = None


def handle(job: Any) -> None:
    """Log ``pid id attempt``, then sleep ``payload.sleep_ms``. One ``os.write`` on an
    ``O_APPEND`` descriptor: the line reaches the OS before the work starts, so it survives
    ``kill -9``."""
    global _runs_fd
    with _runs_lock:
        if _runs_fd is None:
            _runs_fd = os.open(os.environ[RUNS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_runs_fd, f"{os.getpid()} {job.id} {job.attempt}\n".encode())
    ms = (job.payload or {}).get("sleep_ms") or 0
    if ms > 0:
        time.sleep(ms / 1000.0)
