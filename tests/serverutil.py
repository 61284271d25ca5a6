"""Helpers for the server and CLI tests: start a server (in this process or as a child process
on an ephemeral port of 127.0.0.1), talk JSON to it, wait for a condition with a bound."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import simqueue
from simqueue import Config
from simqueue.service.server import SERVER_FILE, Server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(simqueue.__file__)))
BOUND = 60.0  # no wait in these tests may take longer than this


def wait_until(pred: Callable[[], Any], timeout: float = BOUND, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request (http.client: full control over headers)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=BOUND)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def call(url: str, method: str, path: str, obj: Any = None) -> tuple[int, Any]:
    body = None if obj is None else json.dumps(obj).encode()
    status, _, raw = request(url, method, path, body)
    return status, json.loads(raw) if raw else None


def counts(url: str) -> dict[str, int]:
    status, st = call(url, "GET", "/status")
    assert status == 200
    return st["counts"]


def finished(url: str, total: int) -> bool:
    c = counts(url)
    return c["completed"] + c["dead"] == total and not c["pending"] and not c["in_flight"]


@contextlib.contextmanager
def in_process(data_dir: Path | str, **kwargs: Any) -> Iterator[Server]:
    """A server in this process on an ephemeral port; ``kwargs`` go to Config, except the
    server's own (handler, max_body_bytes, grace)."""
    own = {k: kwargs.pop(k) for k in ("handler", "max_body_bytes", "grace") if k in kwargs}
    own.setdefault("grace", 5.0)
    kwargs.setdefault("workers", 2)
    kwargs.setdefault("service_time", "constant(0.001)")
    kwargs.setdefault("failure_rate", 0.0)
    srv = Server(str(data_dir), Config(**kwargs), port=0, **own)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def spawn(data_dir: Path | str, *args: str, log: Path | None = None) -> subprocess.Popen:
    """``python -m simqueue run --data-dir DIR --port 0 ARGS`` as a child process."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the caller
    cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", str(data_dir), "--port", "0"]
    return subprocess.Popen(
        [*cmd, *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=child_env(),
        cwd=ROOT,
    )


def wait_ready(proc: subprocess.Popen, data_dir: Path | str) -> str:
    """The URL once the child (this pid) has recovered and listens."""
    path = os.path.join(data_dir, SERVER_FILE)

    def ready() -> str | None:
        assert proc.poll() is None, f"server exited early with code {proc.returncode}"
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            return None
        return info["url"] if info.get("pid") == proc.pid else None

    return wait_until(ready, what="the server to listen")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    """Signal the child and reap it (SIGKILL if it does not stop in time)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError("the server did not stop in time") from None


@contextlib.contextmanager
def child_server(data_dir: Path | str, *args: str, log: Path | None = None) -> Iterator[Any]:
    """A child server; yields (proc, url); always reaped, whatever the test did."""
    proc = spawn(data_dir, *args, log=log)
    try:
        yield proc, wait_ready(proc, data_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def free_port() -> int:
    """A port nothing listens on (bound and released, on 127.0.0.1)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jobs(n: int, start: int = 0, **payload: Any) -> list[dict[str, Any]]:
    return [{"id": f"job-{i}", "payload": {"i": i, **payload}} for i in range(start, start + n)]
