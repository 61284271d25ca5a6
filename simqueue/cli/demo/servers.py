"""The demo's server processes: ``python -m simqueue run`` children on one data directory, their
shared log file, and the ``/status`` requests the demo watches them with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import TracebackType
from typing import IO, Any, NamedTuple

from simqueue.cli.demo.errors import DemoError
from simqueue.cli.demo.jobs import REPO_ROOT
from simqueue.cli.demo.timeline import Deadline
from simqueue.service.client import ClientError, http_json
from simqueue.service.network import SERVER_FILE

#: How often ``server.json`` is checked while a server starts (seconds).
READY_POLL = 0.01
#: How many lines of the server log a start-up failure quotes.
LOG_TAIL_LINES = 8


def server_flags(workers: int, failure_rate: float) -> list[str]:
    """The ``simqueue run`` flags of both servers: short simulated jobs, group commit every
    10 ms and frequent snapshots, so a few seconds show every part of recovery."""
    return [
        *("--workers", str(workers)),
        *("--failure-rate", str(failure_rate)),
        *("--service-time", "constant(0.01)"),
        *("--task-timeout", "3s"),
        *("--max-retry", "3"),
        *("--fsync", "batch"),
        *("--flush-interval", "10ms"),
        *("--snapshot-interval", "0.5s"),
        *("--grace", "5s"),
    ]


class Running(NamedTuple):
    """A started server: its process and the URL it wrote into ``server.json``."""

    proc: subprocess.Popen[bytes]
    url: str


class ServerProcesses:
    """Starts servers on ``data_dir`` with ``flags``, all writing to the open ``log`` (the file at
    ``log_path``); on exit kills any still running, so the demo never leaves a child behind."""

    def __init__(
        self, data_dir: str, flags: list[str], log: IO[str], log_path: str, deadline: Deadline
    ) -> None:
        self.data_dir = data_dir
        self.flags = flags
        self.log = log
        self.log_path = log_path
        self.deadline = deadline
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> ServerProcesses:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.kill_all()

    def start(self) -> Running:
        """A new server process, once it has recovered the directory and listens."""
        proc = self._spawn()
        return Running(proc, self._wait_ready(proc))

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", self.data_dir, "--port", "0"]
        proc = subprocess.Popen(
            cmd + self.flags,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> str:
        """The URL once the server (this pid) has recovered and listens."""
        path = os.path.join(self.data_dir, SERVER_FILE)
        while True:
            if proc.poll() is not None:
                raise DemoError(
                    f"the server exited with code {proc.returncode} before it was ready; "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )
            try:
                with open(path, encoding="utf-8") as fh:
                    info = json.load(fh)
                if info.get("pid") == proc.pid:
                    return str(info["url"])
            except (OSError, ValueError):
                pass
            self.deadline.check("waiting for the server to start")
            time.sleep(READY_POLL)

    def kill_all(self) -> None:
        """SIGKILL every child still running, and reap it."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass


def fetch_status(url: str) -> dict[str, Any]:
    """The server's ``GET /status`` answer, or a :class:`DemoError` saying why there is none."""
    try:
        code, st = http_json(url, "GET", "/status", timeout=10)
    except ClientError as exc:
        raise DemoError(str(exc)) from None
    if code != 200 or not isinstance(st, dict):
        raise DemoError(f"{url}/status answered HTTP {code}")
    return st


def _tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log)"


__all__ = ["Running", "ServerProcesses", "fetch_status", "server_flags"]
