"""The jobs the demo enqueues: the shipped ``data/jobs_demo.json``, a file given with ``--jobs``,
or ``--count`` jobs generated in the original demo's format."""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from typing import Any

from simqueue.cli.demo.errors import DemoError
from simqueue.cli.errors import ExitCode
from simqueue.service.jobfile import JobFileError, parse_jobs_text

#: The folder that holds the ``simqueue`` package (the repository, for a checkout).
REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
DEFAULT_JOBS = os.path.join(REPO_ROOT, "data", "jobs_demo.json")
#: How many jobs stand in for ``data/jobs_demo.json`` when it is not there (an installed copy).
DEFAULT_COUNT = 2000


@dataclass(frozen=True)
class DemoJobs:
    """The request body the demo posts, where it came from and the ids it must find again."""

    body: bytes
    source: str
    ids: list[str]

    @property
    def total(self) -> int:
        return len(self.ids)


def generate_jobs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Jobs in the original demo's format; each simulates 5-25 ms of work."""
    rng = random.Random(seed)
    width = max(4, len(str(count)))
    return [
        {
            "id": f"task-{i:0{width}d}",
            "payload": {"value": i, "sleep_ms": rng.randint(5, 25)},
            "timeout_ms": 3000,
        }
        for i in range(1, count + 1)
    ]


def load_jobs(jobs_file: str | None, count: int | None) -> DemoJobs:
    """The jobs to post, checked by the server's own job-file parser before any server starts."""
    body, source = _job_bytes(jobs_file, count)
    try:
        jobs = parse_jobs_text(body, source)
    except JobFileError as exc:
        raise DemoError(str(exc), ExitCode.BAD_INPUT) from None
    return DemoJobs(body, source, [j.id for j in jobs])


def _job_bytes(jobs_file: str | None, count: int | None) -> tuple[bytes, str]:
    if count is not None:
        return _generated(count)
    path = jobs_file or DEFAULT_JOBS
    if jobs_file is None and not os.path.exists(path):
        return _generated(DEFAULT_COUNT)
    try:
        with open(path, "rb") as fh:
            body = fh.read()
    except OSError as exc:
        raise DemoError(
            f"{path}: cannot read job file: {exc.strerror or exc}", ExitCode.BAD_INPUT
        ) from None
    return body, path if os.path.isabs(jobs_file or "") else os.path.relpath(path)


def _generated(count: int) -> tuple[bytes, str]:
    return json.dumps(generate_jobs(count)).encode(), f"{count} generated jobs"


__all__ = ["DEFAULT_JOBS", "DemoJobs", "generate_jobs", "load_jobs"]
