"""The API's limits across connections: how many may be open, how long one request may take to
arrive, and how many request-body bytes may be in memory at once.

* **Connections** are bounded below the process's open-file limit (``RLIMIT_NOFILE``), keeping
  :data:`FD_RESERVE` descriptors for the log, snapshots and segment rolls: a connection over the
  bound gets a one-line 503 and is closed at once, so idle clients cannot starve the queue of
  file descriptors.
* **A request's deadline** (:data:`REQUEST_DEADLINE` seconds from the moment the server waits for
  it until its body is read) holds whatever the client trickles; the per-read timeout alone
  would let one byte every few seconds keep a connection forever. Stopping the server closes
  every connection that is not being answered.
* **Request bodies** share one budget (twice ``max_body_bytes`` by default): a body that does not
  fit while others are being read or processed is refused with 503.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from dataclasses import dataclass

#: Descriptors kept free for the WAL, snapshots and everything else the process opens.
FD_RESERVE = 64
#: Connections never exceed this, whatever the file limit (each costs a thread).
MAX_CONNECTIONS = 1024
#: Seconds from waiting for a request to having read its body.
REQUEST_DEADLINE = 20.0


def connection_limit(reserve: int = FD_RESERVE) -> int:
    """How many connections may be open: the soft ``RLIMIT_NOFILE`` less ``reserve`` (and an
    eighth of the limit), at least 4 and at most :data:`MAX_CONNECTIONS`."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(4, min(MAX_CONNECTIONS, soft - max(reserve, soft // 8)))


BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
)


def refuse(sock: socket.socket, message: str) -> None:
    """Answer 503 without waiting (a client that does not read it just misses it)."""
    body = b'{"error":"%s","status":503}\n' % message.encode()
    with contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(BUSY_ANSWER % (len(body), body))


@dataclass
class _Conn:
    sock: socket.socket
    since: float  # monotonic time the current request's deadline counts from
    answering: bool = False  # the request is in: never cut while it is answered


class Connections:
    """The open connections and their request deadlines; thread-safe."""

    def __init__(self, limit: int, deadline: float = REQUEST_DEADLINE) -> None:
        self.limit = limit
        self.deadline = deadline
        self.closing = False
        self._lock = threading.Lock()
        self._open: dict[int, _Conn] = {}

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, sock: socket.socket) -> bool:
        """Count a new connection; False (not counted) when at the limit or closing."""
        with self._lock:
            if self.closing or len(self._open) >= self.limit:
                return False
            self._open[id(sock)] = _Conn(sock, time.monotonic())
            return True

    def release(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.pop(id(sock), None)

    def waiting(self, sock: socket.socket) -> bool:
        """The connection waits for its next request (its deadline starts); False if the server
        is closing connections (the handler then closes this one)."""
        with self._lock:
            conn = self._open.get(id(sock))
            if conn is not None:
                conn.since, conn.answering = time.monotonic(), False
            return not self.closing

    def answering(self, sock: socket.socket) -> None:
        """The request is in; the deadline no longer applies."""
        with self._lock:
            conn = self._open.get(id(sock))
            if conn is not None:
                conn.answering = True

    def sweep(self) -> int:
        """Cut every connection past its deadline (every one not being answered, once
        closing); returns how many were cut."""
        now = time.monotonic()
        cut = 0
        with self._lock:
            for conn in self._open.values():
                if conn.answering or (not self.closing and now - conn.since < self.deadline):
                    continue
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
                conn.since = now + self.deadline  # cut once; its thread closes it
                cut += 1
        return cut

    def close_idle(self) -> int:
        """Stop admitting and cut every connection not being answered (the server stops)."""
        with self._lock:
            self.closing = True
        return self.sweep()


class BodyBudget:
    """The bytes of request bodies in memory at once, across all requests; thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        """Reserve ``n`` bytes; False (nothing reserved) if they do not fit."""
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


__all__ = [
    "FD_RESERVE",
    "REQUEST_DEADLINE",
    "BodyBudget",
    "Connections",
    "connection_limit",
    "refuse",
]
