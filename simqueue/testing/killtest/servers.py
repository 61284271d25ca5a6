"""The servers under test: ``simqueue run`` child processes on one data directory (port 0 on
127.0.0.1, the URL read from ``server.json``), signalled and always reaped; and the time bound
every wait of the loop is held to."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from simqueue.service.network import SERVER_FILE
from simqueue.testing.killtest.handler import HANDLER, RUNS_ENV
from simqueue.testing.killtest.results import KillTestError

#: The folder that holds the ``simqueue`` package (the repository, for a checkout).
REPO_ROOT = str(Path(__file__).resolve().parents[3])

Process = subprocess.Popen[bytes]


class Deadline:
    """The loop's time bound: past it, :meth:`check` ends the run with a :class:`KillTestError`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise KillTestError(f"time limit ({self.seconds:g} s) reached while {what}")


class Servers:
    """Starts, finds, signals and reaps the servers; every one it started is in :attr:`procs`."""

    def __init__(
        self,
        root: str,
        deadline: Deadline,
        *,
        workers: int,
        snapshot_interval: float,
        max_retry: int,
    ) -> None:
        self.data_dir = os.path.join(root, "q")
        self.runs_path = os.path.join(root, "runs.log")
        self.log_path = os.path.join(root, "servers.log")
        self.deadline = deadline
        self.flags = ["--workers", str(workers), "--snapshot-interval", f"{snapshot_interval}s"]
        self.flags += ["--max-retry", str(max_retry), "--task-timeout", "10s"]
        self.procs: list[Process] = []

    def spawn(self, fsync: str) -> Process:
        env = child_env()
        env[RUNS_ENV] = self.runs_path
        cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", self.data_dir]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--handler", HANDLER, "--fsync", fsync]
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd + self.flags,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.procs.append(proc)
        return proc

    def url_of(self, proc: Process) -> str | None:
        """The URL ``proc`` published in ``server.json``, once it listens."""
        try:
            with open(os.path.join(self.data_dir, SERVER_FILE), encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            return None
        return str(info["url"]) if info.get("pid") == proc.pid else None

    def wait_ready(self, proc: Process) -> str:
        while True:
            url = self.url_of(proc)
            if url:
                return url
            if proc.poll() is not None:
                raise KillTestError(
                    f"the server exited with code {proc.returncode} before it listened; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            self.deadline.check("waiting for a server to listen")
            time.sleep(0.005)

    def reap(self, proc: Process, sig: int = signal.SIGKILL, wait: float = 30) -> int:
        """Send ``sig`` (if it still runs) and wait for the exit; its return code."""
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise KillTestError(f"server pid {proc.pid} did not stop after signal {sig}") from None

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)

    def log_tail(self, lines: int = 10) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return "".join(fh.readlines()[-lines:])
        except OSError:
            return ""

    def verify_wal(self) -> tuple[int, str]:
        """``simqueue wal verify`` of the data directory: its exit code and verdict."""
        proc = subprocess.run(
            [sys.executable, "-m", "simqueue", "wal", "verify", self.data_dir],
            capture_output=True,
            text=True,
            timeout=120,
            env=child_env(),
        )
        return proc.returncode, (proc.stdout + proc.stderr).strip()


def child_env() -> dict[str, str]:
    """The environment of a child: no SIMQUEUE_* settings, and this checkout importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env
