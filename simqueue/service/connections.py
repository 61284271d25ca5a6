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
import selectors
import socket
import time
from selectors import EVENT_READ, EVENT_WRITE

from simqueue.service.http11 import Request, RequestBuffer

#: Descriptors kept free for the WAL, snapshots and everything else the process opens.
FD_RESERVE = 64
#: Connections never exceed this, whatever the file limit.
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


class Peer:
    """One open connection as the loop sees it: what it sent and what it is owed.

    ``since`` is when the server began waiting for its current request (the deadline counts
    from it), ``last_read`` when bytes last arrived or left (the read timeout counts from it).
    While a request is answered (``answering``: its reply waits for a commit) neither applies.
    ``linger_until`` is set once the connection is closing: its input is read and dropped until
    then, so the client reads the last answer rather than a reset."""

    __slots__ = (
        "sock",
        "fd",
        "address",
        "inbuf",
        "out",
        "since",
        "last_read",
        "request",
        "body_length",
        "reserved",
        "answering",
        "close_after",
        "ended",
        "linger_until",
        "mask",
        "closed",
        "paused",
    )

    def __init__(self, sock: socket.socket, address: str, now: float) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.address = address
        self.inbuf = RequestBuffer()
        self.out = b""  # answer bytes the socket has not taken yet
        self.since = now
        self.last_read = now
        self.request: Request | None = None  # a head whose body is still arriving
        self.body_length = 0
        self.reserved = 0  # bytes of the body budget this request holds
        self.answering = False
        self.close_after = False
        self.ended = False  # the client shut down its side
        self.linger_until = 0.0
        self.mask = 0  # the selector events registered for it (0: not registered)
        self.closed = False
        self.paused = False  # read no more for now: enough is buffered (``READ_AHEAD``)


class Connections:
    """The open connections, registered with the loop's selector, their limit and the request
    deadline; only the loop's thread changes them. Sending and closing are here: an answer the
    socket does not take at once waits in :attr:`Peer.out` for ``EPOLLOUT``."""

    def __init__(
        self,
        limit: int,
        selector: selectors.BaseSelector,
        bodies: BodyBudget,
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        self.limit = limit
        self.deadline = deadline
        self.peers: dict[int, Peer] = {}  # by file descriptor
        self._sel = selector
        self._bodies = bodies

    def __len__(self) -> int:
        return len(self.peers)

    def full(self) -> bool:
        return len(self.peers) >= self.limit

    def add(self, peer: Peer) -> None:
        self.peers[peer.fd] = peer
        self.update(peer)

    def send(self, peer: Peer, data: bytes) -> None:
        """``data`` after what is still unsent; what the socket does not take waits."""
        out = peer.out + data if peer.out else data
        try:
            sent = peer.sock.send(out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the client went away
            self.close(peer)
            return
        if sent:
            peer.last_read = time.monotonic()  # progress: a slow reader is not cut meanwhile
        peer.out = out[sent:]
        self.update(peer)

    def update(self, peer: Peer) -> None:
        """The events the loop waits for on this connection: input unless it ended or is
        paused, room to send while an answer is unsent."""
        reading = not (peer.ended or peer.paused)
        mask = (EVENT_READ if reading else 0) | (EVENT_WRITE if peer.out else 0)
        if mask == peer.mask or peer.closed:
            return
        if peer.mask == 0:
            self._sel.register(peer.sock, mask, peer)
        elif mask == 0:
            self._sel.unregister(peer.sock)
        else:
            self._sel.modify(peer.sock, mask, peer)
        peer.mask = mask

    def throttle(self, peer: Peer, read_ahead: int) -> None:
        """Read the connection only while at most ``read_ahead`` bytes past the body being read
        are buffered."""
        if not peer.closed:
            limit = read_ahead + (peer.body_length if peer.request is not None else 0)
            paused = len(peer.inbuf) > limit
            if paused != peer.paused:
                peer.paused = paused
                self.update(peer)

    def linger(self, peer: Peer, seconds: float) -> None:
        """Close after the last answer: no more sending; the input is dropped until the client
        closes or ``seconds`` pass (so the client reads the answer rather than a reset)."""
        if peer.ended:
            self.close(peer)
            return
        with contextlib.suppress(OSError):
            peer.sock.shutdown(socket.SHUT_WR)
        peer.linger_until = time.monotonic() + seconds

    def close(self, peer: Peer) -> None:
        if peer.closed:
            return
        peer.closed = True
        if peer.reserved:
            self._bodies.give(peer.reserved)
            peer.reserved = 0
        if peer.mask:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(peer.sock)
        peer.sock.close()
        self.peers.pop(peer.fd, None)

    def overdue(self, now: float, read_timeout: float) -> tuple[list[Peer], list[Peer]]:
        """The connections to cut now: (past their request deadline or read timeout, past
        their linger time). A connection whose request is being answered is never cut; one
        whose answer is being sent only if the client took none of it for ``read_timeout``."""
        late, lingered = [], []
        for peer in self.peers.values():
            if peer.linger_until:
                if now >= peer.linger_until:
                    lingered.append(peer)
            elif peer.out:  # an answer being sent: cut only if the client stopped reading it
                if now - peer.last_read >= read_timeout:
                    late.append(peer)
            elif not peer.answering and (
                now - peer.since >= self.deadline or now - peer.last_read >= read_timeout
            ):
                late.append(peer)
        return late, lingered


class BodyBudget:
    """The bytes of request bodies in memory at once, across all requests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        """Reserve ``n`` bytes; False (nothing reserved) if they do not fit."""
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


__all__ = [
    "FD_RESERVE",
    "REQUEST_DEADLINE",
    "BodyBudget",
    "Connections",
    "Peer",
    "connection_limit",
    "refuse",
]
