"""The floor under any Python HTTP server that answers after an fsync, on this machine.

``python -m benchmarks.http_floor DIR`` serves ``POST /jobs`` on 127.0.0.1 (it prints the port)
from one thread and one ``selectors`` loop, and nothing else: each turn it reads every request
that arrived, notes each job id, writes one record a job into preallocated space of
``DIR/floor.log`` with one ``pwrite``, runs one ``fdatasync``, then answers every request of the
turn. Requests arriving during the fsync wait for the next turn, so the fsync is shared as in a
group commit. It is not a queue: no job table beyond a set of ids, no DISPATCH or ACK, no worker,
no checksum, no limits, no error answers. ``benchmarks/bench_server.py`` measures it with the same
clients as simqueue: what simqueue's server costs above it is the queue's work and its threads,
and a latency bound this loop, which does nothing else, misses is not one to expect a Python
server that keeps a queue to meet on the same disk.

Written by hand (not with ``http.server`` or asyncio) because each of those costs more per
request than the measure it is meant to bound.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
from typing import Any

from .common import temp_dir
from .server_process import ROOT, child_env, drive, post_one_job, stop

#: Preallocated bytes of the log; writes wrap to the start (the floor never reads it back).
LOG_BYTES = 64 << 20
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"


def _requests(buf: bytes) -> tuple[list[bytes], bytes]:
    """The bodies of the complete requests at the start of ``buf``, and what is left."""
    bodies: list[bytes] = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return bodies, buf
        length = 0
        for line in buf[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(buf) < end + 4 + length:
            return bodies, buf
        bodies.append(buf[end + 4 : end + 4 + length])
        buf = buf[end + 4 + length :]


class Floor:
    """The loop's state: the log, its write offset, the ids seen and the last seq."""

    def __init__(self, directory: str) -> None:
        self.fd = os.open(os.path.join(directory, "floor.log"), os.O_WRONLY | os.O_CREAT)
        os.posix_fallocate(self.fd, 0, LOG_BYTES)
        os.fsync(self.fd)
        self.offset = 0
        self.ids: set[str] = set()
        self.seq = 0

    def accept(self, body: bytes, records: list[bytes]) -> bytes:
        """One request's jobs as records (none without a body: a client's first ``GET``); its
        answer."""
        jobs = json.loads(body) if body else []
        for job in jobs:
            self.seq += 1
            self.ids.add(job["id"])
            records.append(b"%d %s\n" % (self.seq, job["id"].encode()))
        answer = b'{"accepted":%d,"last_seq":%d}\n' % (len(jobs), self.seq)
        return ANSWER % (len(answer), answer)

    def commit(self, records: list[bytes]) -> None:
        """One pwrite and one fdatasync for every record of the turn."""
        data = b"".join(records)
        if self.offset + len(data) > LOG_BYTES:
            self.offset = 0
        os.pwrite(self.fd, data, self.offset)
        self.offset += len(data)
        os.fdatasync(self.fd)


def serve(listener: socket.socket, floor: Floor) -> None:
    """Forever: read what arrived, one write and fsync for all of it, then every answer."""
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    while True:
        records: list[bytes] = []
        answers: list[tuple[socket.socket, bytes]] = []
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is listener:
                conn, _ = listener.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ)
                pending[conn] = b""
                continue
            data = sock.recv(65536)
            if not data:
                sel.unregister(sock)
                sock.close()
                del pending[sock]
                continue
            bodies, pending[sock] = _requests(pending[sock] + data)
            answers += [(sock, floor.accept(body, records)) for body in bodies]
        if records:
            floor.commit(records)
        for sock, answer in answers:
            sock.sendall(answer)


def produce_floor(clients: int, n: int, base: str | None) -> dict[str, Any]:
    """``clients`` kept-alive HTTP clients against :mod:`benchmarks.http_floor` (the least a
    server answering after its fsync costs), one job per POST, as :func:`produce_simqueue`."""
    with temp_dir(base) as d:
        cmd = [sys.executable, "-m", "benchmarks.http_floor", d]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=child_env(), cwd=ROOT)
        try:
            assert proc.stdout is not None
            url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
            out = drive(proc.pid, url, clients, n, post_one_job)
        finally:
            stop(proc, signal.SIGKILL)
    return out


def floor_bounds(cells: list[dict[str, Any]], bare: dict[str, list[float]]) -> dict[str, float]:
    """The latency bounds and the throughput ratio for the floor (:mod:`benchmarks.http_floor`),
    each as :func:`targets` takes them: a yardstick for the targets, not a target."""

    def runs(clients: int, key: str) -> list[float]:
        return next(c[key] for c in cells if c["system"] == "floor" and c["clients"] == clients)

    huey16 = next(c for c in cells if c["system"] == "huey" and c["clients"] == 16)
    pairs = {
        "p50_1_in_bare": (runs(1, "runs_p50_ms"), bare["1"]),
        "p99_16_in_bare": (runs(16, "runs_p99_ms"), bare["16"]),
        "over_huey_16": (runs(16, "runs_jobs_per_s"), huey16["runs_jobs_per_s"]),
    }
    return {
        k: statistics.median(x / y for x, y in zip(a, b, strict=True))
        for k, (a, b) in pairs.items()
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.http_floor DIR", file=sys.stderr)
        return 2
    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    # on one CPU, as simqueue's server keeps its threads (simqueue/service/work.py, OneCpu)
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[os.getpid() % len(cpus)]})
    floor = Floor(argv[0])
    print(listener.getsockname()[1], flush=True)
    serve(listener, floor)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
