"""A ``simqueue run`` child process for the server benchmarks: started on a fresh data
directory and found through its ``server.json``, stopped, asked for its status, and the CPU it
and the measuring process used (Linux ``/proc``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from simqueue.service.client import Client, http_json

from .queue_systems import run_producers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child_env() -> dict[str, str]:
    """The environment of a benchmark's child process: this checkout first on the path, and no
    ``SIMQUEUE_*`` setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def spawn(
    data_dir: str, fsync: str, workers: int, any_cpu: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", data_dir, "--port", "0"]
    cmd += ["--workers", str(workers), "--service-time", "constant(0)", "--failure-rate", "0"]
    cmd += ["--fsync", fsync, "--snapshot-interval", "10s"] + (["--any-cpu"] if any_cpu else [])
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(), cwd=ROOT
    )
    path = os.path.join(data_dir, "server.json")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"simqueue run exited with {proc.returncode}")
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
            if info.get("pid") == proc.pid:
                return proc, str(info["url"])
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("simqueue run did not start within 60 s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def post_one_job(client: Client, i: int) -> None:
    """``POST /jobs`` of job ``job-<i>``, raising unless it is answered 200."""
    status, answer = client.request("POST", "/jobs", b'[{"id":"job-%d"}]' % i)
    if status != 200:
        raise RuntimeError(f"POST /jobs answered {status}: {answer}")


def drive(
    pid: int, url: str, clients: int, n: int, request: Callable[[Client, int], object]
) -> dict[str, Any]:
    """``clients`` threads, each with its own kept-alive :class:`Client` to ``url`` (opened by a
    ``GET /``, not timed), calling ``request(client, i)`` for its share of ``n``: what
    :func:`~benchmarks.queue_systems.run_producers` returns, plus the CPU seconds the server
    (process ``pid``) and this process spent meanwhile (``server_cpu_s``, ``client_cpu_s``)."""
    conns = [Client(url, timeout=120) for _ in range(clients)]
    try:
        cpu0, own0 = cpu_seconds(pid), own_cpu()
        out = run_producers(
            clients,
            n,
            lambda c, i: request(conns[c], i),
            lambda c: conns[c].request("GET", "/"),
        )
        out["server_cpu_s"] = cpu_seconds(pid) - cpu0
        out["client_cpu_s"] = own_cpu() - own0
    finally:
        for conn in conns:
            conn.close()
    return out


def server_status(url: str) -> dict[str, Any]:
    status, st = http_json(url, "GET", "/status", timeout=60)
    if status != 200:
        raise RuntimeError(f"GET /status answered {status}")
    return dict(st)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def file_system(path: str) -> str:
    """The mount (device and type) that holds ``path``, from /proc/mounts."""
    path = os.path.realpath(path)
    best = ("?", "?", "")
    try:
        with open("/proc/mounts", encoding="utf-8") as fh:
            for line in fh:
                dev, mnt, fstype = line.split()[:3]
                if (path + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best[2]):
                    best = (dev, fstype, mnt)
    except OSError:
        pass
    return f"{best[0]} ({best[1]}) at {best[2] or '?'}"
