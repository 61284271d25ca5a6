"""The HTTP front end: one thread reads every connection, commits, and answers.

Each turn of :meth:`ApiServer.serve_forever` waits (``epoll``) until a connection has sent
something, a new one arrives, a commit ended or :attr:`ApiServer.tick` passed; reads what every
ready connection sent; and routes each complete request
(:class:`~simqueue.service.http_api.Router`). ``POST /jobs`` appends its jobs and its answer waits,
as does a read that must be durable. Then the loop asks the queue to acknowledge the last record
the waiting answers need (:meth:`~simqueue.core.durable.DurableTable.try_acknowledge`): if no
commit is running it leads one (one write and one fsync for all that was appended, the workers'
records too, :mod:`simqueue.service.follow`) and answers them all; if a worker's commit is
running it reads on, and the end of that commit wakes it (:meth:`ApiServer.wake`). So requests
that arrive during an fsync share the next one, and no request is handed from thread to thread:
on the one CPU the server's threads share, such hand-offs cost more than the request's work.
A large body is parsed on the parser thread (:mod:`simqueue.service.parser`).

A connection whose answer the socket does not take at once keeps the rest (``EPOLLOUT``) and routes
nothing further until it is sent, so pipelined requests are answered in order; past
:data:`READ_AHEAD` buffered bytes it is not read either. Every :attr:`ApiServer.tick` the loop cuts
connections past their request deadline or read timeout
(:meth:`~simqueue.service.connections.Connections.overdue`): a body that stops arriving is answered
408. A connection that must close after its answer (:mod:`simqueue.service.http_api` says when)
shuts down its sending side and has its input dropped for up to :attr:`ApiServer.linger` seconds,
so the client reads the answer rather than a reset.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from selectors import EVENT_READ, EVENT_WRITE
from typing import Any

from simqueue.core.jobs import Job
from simqueue.service.connections import (
    REQUEST_DEADLINE,
    BodyBudget,
    Connections,
    Peer,
    connection_limit,
    refuse,
)
from simqueue.service.guard import Guard
from simqueue.service.http11 import CONTINUE, METHODS, BadRequest, Request, answer, parse_head
from simqueue.service.http_api import (
    Api,
    ApiError,
    BodyWanted,
    Deferred,
    Reply,
    Router,
    access_logger,
    bug_reply,
    error_reply,
    has_body,
)
from simqueue.service.parser import PARSE_ELSEWHERE, Parser

_WAKE = object()  # the selector key of the socket that wakes the loop
#: Bytes buffered past the body being read at which the loop stops reading a connection.
READ_AHEAD = 256 * 1024


class ApiServer:
    """The listening socket and every connection, served by :meth:`serve_forever` on one
    thread; :meth:`shutdown` and :meth:`server_close` may be called from any other."""

    request_deadline = REQUEST_DEADLINE  # seconds for a request to arrive, however it trickles
    read_timeout = 10.0  # seconds a connection may send nothing while a request is awaited
    linger = 2.0  # seconds a closing connection's input is read and dropped
    tick = 0.1  # seconds between checks of deadlines, at most
    backlog = 128  # listen backlog: bursts of new clients are not reset

    def __init__(self, address: tuple[str, int], app: Api) -> None:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(self.backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.socket = sock
        self.server_address: tuple[Any, ...] = sock.getsockname()
        self.app = app
        self.bodies = BodyBudget(2 * app.max_body_bytes)
        self.router = Router(app, Guard(address[0], self.server_address[1], app.token))
        self._sel = selectors.DefaultSelector()
        self.connections = Connections(
            connection_limit(), self._sel, self.bodies, self.request_deadline
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(sock, EVENT_READ, None)
        self._sel.register(self._wake_r, EVENT_READ, _WAKE)
        self._deferred: list[tuple[Peer, Request, Deferred]] = []
        self._commit_wanted = False  # deferred answers wait for another thread's commit
        self._parser: Parser[tuple[Peer, Request], list[Job] | Reply]
        self._parser = Parser(self._poke)
        self._loop_thread = 0
        self._stopping = False
        self._serving = threading.Event()
        self._served = threading.Event()
        self._next_sweep = 0.0
        self._answered_at = -float("inf")

    # ------------------------------------------------------------------ running and stopping
    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serve until :meth:`shutdown`; then every connection is closed (answers already
        built are sent first, if the socket takes them)."""
        self.tick = min(self.tick, poll_interval)
        self._loop_thread = threading.get_ident()
        self._serving.set()
        try:
            while not self._stopping:
                self._turn()
            self._parser.close()
            self._take_parsed()
            self._settle(block=True)
        finally:
            self._close_all()
            self._served.set()

    def shutdown(self) -> None:
        """Stop serving: no new connection or request; returns once the loop has answered
        what it was committing and closed every connection."""
        self._stopping = True
        self._poke()
        if self._serving.is_set():
            self._served.wait()

    def server_close(self) -> None:
        """Release the listening socket and the loop's own (after :meth:`shutdown`)."""
        self._stopping = True
        if not self._serving.is_set():
            self._close_all()
        self._parser.close()
        for s in (self.socket, self._wake_r, self._wake_w):
            s.close()
        self._sel.close()

    def _close_all(self) -> None:
        for peer in list(self.connections.peers.values()):
            if peer.out:
                with contextlib.suppress(OSError):
                    peer.sock.send(peer.out)
            self.connections.close(peer)

    # ------------------------------------------------------------------ one turn
    def _turn(self) -> None:
        for key, mask in self._sel.select(self.tick):
            peer = key.data
            if peer is None:
                self._accept()
            elif peer is _WAKE:
                with contextlib.suppress(OSError):
                    self._wake_r.recv(4096)
            else:
                if mask & EVENT_WRITE and not peer.closed:
                    self._flush(peer)
                if mask & EVENT_READ and not peer.closed:
                    self._receive(peer)
        self._take_parsed()
        self._settle()
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.tick
            self._sweep(now)

    def _accept(self) -> None:
        """Every connection waiting to be accepted; past the limit, a 503 and closed."""
        while True:
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, or the connection was reset meanwhile
                return
            if self._stopping or self.connections.full():
                limit = self.connections.limit
                refuse(sock, f"too many connections (at most {limit}); retry later")
                sock.close()
                continue
            sock.setblocking(False)
            # headers and body leave in one send anyway; no delayed ACK holds the next answer
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = Peer(sock, str(address[0]), time.monotonic())
            self.connections.add(peer)

    def _receive(self, peer: Peer) -> None:
        try:
            chunk = peer.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the client
            self.connections.close(peer)
            return
        if peer.linger_until:  # closing: the input is dropped until the client closes
            if not chunk:
                self.connections.close(peer)
            return
        if chunk:
            peer.last_read = time.monotonic()
            peer.inbuf.feed(chunk)
        else:
            peer.ended = True
            self.connections.update(peer)
        self._advance(peer)

    def _flush(self, peer: Peer) -> None:
        """The socket can take more of an answer: send it; once all is sent, close or read on."""
        self.connections.send(peer, b"")
        if not peer.out and not peer.closed:
            if peer.close_after:
                self.connections.linger(peer, self.linger)
            else:
                self._advance(peer)

    # ------------------------------------------------------------------ requests
    def _advance(self, peer: Peer) -> None:
        """Route every complete request the connection has sent, in order, until one must wait
        (for its body, a commit, or the socket to take an answer); then read on from it only
        while little is buffered: a client that pipelines requests faster than they are
        answered (or stops reading its answers) is held back by TCP, not by this process's
        memory."""
        self._route_requests(peer)
        self.connections.throttle(peer, READ_AHEAD)

    def _route_requests(self, peer: Peer) -> None:
        while not (peer.answering or peer.out or peer.close_after or peer.closed):
            if peer.request is not None:
                if len(peer.inbuf) < peer.body_length and not peer.ended:
                    return
                self._route_body(peer)
                continue
            try:
                head = peer.inbuf.take_head(ended=peer.ended)
                if head is None:
                    return
                req = parse_head(head)
            except BadRequest as exc:
                self._deliver(peer, None, error_reply(ApiError(exc.status, exc.message), True))
                return
            if req is None:  # the client closed (or sent a blank line): nothing to answer
                self.connections.close(peer)
                return
            self._route_head(peer, req)

    def _route_head(self, peer: Peer, req: Request) -> None:
        if req.method not in METHODS:
            reply = error_reply(ApiError(501, f"Unsupported method ({req.method!r})"), True)
            self._deliver(peer, req, reply)
            return
        if req.expect_continue:  # curl waits (a second) for this before sending a body
            self.connections.send(peer, CONTINUE)
        try:
            routed = self.router.head(req)
        except Exception as exc:  # a bug: answer (JSON, 500) instead of dropping the connection
            routed = bug_reply(req, exc)
        if not isinstance(routed, BodyWanted):
            # a body nothing reads: never parse it as a request
            peer.close_after = has_body(req.headers)
            self._answer(peer, req, routed)
            return
        bodies = self.bodies
        if not bodies.take(routed.length):
            message = (
                f"request bodies of {bodies.used} bytes are being processed (at most "
                f"{bodies.limit} at once); retry shortly"
            )
            self._deliver(peer, req, error_reply(ApiError(503, message), close=True))
            return
        peer.request, peer.body_length, peer.reserved = req, routed.length, routed.length

    def _route_body(self, peer: Peer) -> None:
        req, length = peer.request, peer.body_length
        assert req is not None
        peer.request = None
        body = peer.inbuf.take(length)
        if length >= PARSE_ELSEWHERE:
            self._parse_elsewhere(peer, req, body, length)
            return
        try:
            routed = self.router.submit(self.router.parse(body, length))
        except Exception as exc:  # a bug
            routed = bug_reply(req, exc)
        self._answer(peer, req, routed)

    def _parse_elsewhere(self, peer: Peer, req: Request, body: bytes, length: int) -> None:
        """Parse a large body on the parser thread, so the loop serves everyone else meanwhile;
        :meth:`_take_parsed` submits it when done."""
        peer.answering = True
        self._parser.parse((peer, req), self.router.parse, body, length)

    def _take_parsed(self) -> None:
        """Submit what the parser thread finished parsing (in the loop's thread)."""
        for (peer, req), outcome in self._parser.finished():
            try:
                routed = self.router.submit(outcome())
            except Exception as exc:  # a bug
                routed = bug_reply(req, exc)
            peer.answering = False
            if not peer.closed:
                self._answer(peer, req, routed)

    def _answer(self, peer: Peer, req: Request, routed: Reply | Deferred) -> None:
        if isinstance(routed, Deferred):
            peer.answering = True
            self._deferred.append((peer, req, routed))
        else:
            self._deliver(peer, req, routed)

    def _settle(self, block: bool = False) -> None:
        """Answer every request that waits for durability once the commit covering the last
        of them returned: this thread leads it if no other thread's is running (one fsync for
        all the turn appended); otherwise it reads on, and the end of that commit wakes it
        (:meth:`wake`). Then route what the answered connections sent meanwhile (which may
        wait for the next commit). ``block``: wait for the commit whatever runs (stopping)."""
        while self._deferred:
            self._commit_wanted = True
            if not block and not self.app.try_commit(self._deferred[-1][2].seq):
                return
            batch, self._deferred = self._deferred, []
            self._answered_at = time.monotonic()
            self._commit_wanted = False
            for peer, req, deferred in batch:
                try:
                    reply = self.router.finish(deferred)
                except Exception as exc:  # a bug
                    reply = bug_reply(req, exc)
                peer.answering = False
                if not peer.closed:
                    self._deliver(peer, req, reply)
            for peer, _, _ in batch:
                if not peer.closed:
                    self._advance(peer)

    def _poke(self) -> None:
        """End the loop's wait in ``epoll`` (from any thread)."""
        with contextlib.suppress(OSError):
            self._wake_w.send(b"!")

    def last_answer(self) -> float:
        """When the loop last answered requests after their commit (``time.monotonic``); inf
        while some wait for its next commit (from any thread: :mod:`simqueue.service.follow`)."""
        return float("inf") if self._deferred else self._answered_at

    def wake(self) -> None:
        """Another thread's commit ended: wake the loop if it waits for one (from any thread;
        the queue's commit listener)."""
        if self._commit_wanted and threading.get_ident() != self._loop_thread:
            self._poke()

    # ------------------------------------------------------------------ answers
    def _deliver(self, peer: Peer, req: Request | None, reply: Reply) -> None:
        """Send ``reply``; the next request's deadline starts; close after it if it says so."""
        self.bodies.give(peer.reserved)  # the body's share of the budget, if it had one
        peer.reserved = 0
        close = (
            reply.close or peer.close_after or req is None or not req.keep_alive or self._stopping
        )
        data = answer(
            reply.status,
            reply.body,
            reply.content_type,
            reply.headers,
            close=close,
            keep_alive_header=req is not None and req.version == "HTTP/1.0",
            head=req is not None and req.method == "HEAD",
        )
        self.connections.send(peer, data)
        if self.app.access_log:  # formatted only when asked for
            line = req.line if req is not None else ""
            access_logger.info('%s "%s" %d %d', peer.address, line, reply.status, len(reply.body))
        peer.since = peer.last_read = time.monotonic()
        if close and not peer.closed:
            peer.close_after = True
            if not peer.out:
                self.connections.linger(peer, self.linger)

    def _sweep(self, now: float) -> None:
        """Cut connections past their deadline or read timeout (a body that stopped arriving
        is answered 408), and those that lingered long enough."""
        late, lingered = self.connections.overdue(now, self.read_timeout)
        for peer in lingered:
            self.connections.close(peer)
        for peer in late:
            if peer.request is not None and now - peer.last_read >= self.read_timeout:
                message = f"request body not received within {self.read_timeout:g} s; closing"
                self._deliver(peer, peer.request, error_reply(ApiError(408, message), True))
            else:
                self.connections.close(peer)


__all__ = ["PARSE_ELSEWHERE", "READ_AHEAD", "ApiServer"]
