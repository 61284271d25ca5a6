"""The HTTP API: ``POST /jobs``, ``GET /jobs/<id>``, ``GET /status``, ``GET /metrics``.

Every answer is JSON (except the Prometheus text of ``/metrics``); every error is JSON with a 4xx
status, or 500 for a bug. Answers are HTTP/1.1 and the connection is kept alive for the next
request (``Connection: close`` from the client, or HTTP/1.0 without ``keep-alive``, closes it),
except after a request whose body was not read to its end (a refused ``POST``, a body sent to a
``GET``), after a request that cannot be framed (a bad request line or header: 400, 414, 431,
505), after a bug, and once the server stops: the connection closes after such an answer so an
unread body is never taken for the next request. An idle connection closes after the read
timeout (``RequestHandler.timeout``). Request bodies have a size limit, a shared memory budget
and a time limit; connections are bounded and each request has a deadline
(:mod:`simqueue.service.connections`); ``Host``, ``Origin``, the content type and the token are
checked first (:mod:`simqueue.service.guard`). Nothing from a request ever becomes a file path.
The operations themselves belong to the :class:`Api` the server passes in.

The server is a :class:`socketserver.ThreadingTCPServer` (a thread per connection, as
``POST /jobs`` blocks until its jobs are durable); each connection's requests are read and
answered by :mod:`simqueue.service.http11` rather than http.server, whose header parsing (the
:mod:`email` package), per-answer ``Date`` formatting and per-read ``poll()`` cost more CPU than
the rest of a one-job request. An answer leaves in one send; the access log line is formatted
only when the server was started with ``access_log``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import time
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from simqueue.core.jobs import Job
from simqueue.service.connections import (
    REQUEST_DEADLINE,
    BodyBudget,
    Connections,
    connection_limit,
    refuse,
)
from simqueue.service.guard import Guard
from simqueue.service.http11 import (
    CONTINUE,
    METHODS,
    BadRequest,
    Headers,
    SocketReader,
    answer,
    parse_head,
    sendall,
)
from simqueue.service.jobfile import JobFileError, parse_jobs_text
from simqueue.service.metrics import Metrics

logger = logging.getLogger(__name__)
#: One line per request, when the server was started with ``access_log``.
access_logger = logging.getLogger(__name__ + ".access")

ENDPOINTS = ["POST /jobs", "GET /jobs/<id>", "GET /status", "GET /metrics"]
#: One encoder for every answer: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), default=str)


class ApiError(Exception):
    """An HTTP error answer: status code and a one-line message (``extra`` joins the JSON;
    ``allow`` becomes the ``Allow`` header of a 405)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class Api(Protocol):
    """What the HTTP layer serves: the server's operations and limits."""

    access_log: bool
    max_body_bytes: int
    metrics: Metrics
    token: str | None

    def enqueue(self, jobs: list[Job]) -> dict[str, Any]: ...

    def job(self, job_id: str) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...


class ApiServer(socketserver.ThreadingTCPServer):
    """A threading server of :class:`RequestHandler` bound to one :class:`Api`."""

    daemon_threads = False  # stop() waits for requests being answered (their jobs are durable)
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: socketserver's 5 resets bursts of clients
    request_deadline = REQUEST_DEADLINE  # seconds for a request to arrive, however it trickles

    def __init__(self, address: tuple[str, int], app: Api) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.connections = Connections(connection_limit(), self.request_deadline)
        self.bodies = BodyBudget(2 * app.max_body_bytes)
        super().__init__(address, RequestHandler)
        self.guard = Guard(address[0], self.server_address[1], app.token)
        self._origins: dict[tuple[str | None, str | None], tuple[int, str] | None] = {}

    def check_origin(self, headers: Headers) -> tuple[int, str] | None:
        """The guard's verdict on ``Host`` and ``Origin``, remembered per pair of values: a
        client sends the same two on every request, and parsing them is not free."""
        key = (headers.get("Host"), headers.get("Origin"))
        try:
            return self._origins[key]
        except KeyError:
            pass
        verdict = self.guard.check_origin(headers)
        if len(self._origins) >= 256:  # a bound whatever the clients send
            self._origins.clear()
        self._origins[key] = verdict
        return verdict

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread per connection, up to the limit; past it a 503 and the connection closed."""
        if self.connections.admit(request):
            super().process_request(request, client_address)
            return
        limit = self.connections.limit
        refuse(request, f"too many connections (at most {limit}); retry later")
        self.shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        self.connections.release(request)
        super().shutdown_request(request)

    def service_actions(self) -> None:
        """Between accepts (every poll interval): cut requests past their deadline."""
        self.connections.sweep()


class RequestHandler(socketserver.BaseRequestHandler):
    """One connection: requests read by :class:`~simqueue.service.http11.SocketReader`, one
    after another, until one of them (or an error) closes it."""

    server: ApiServer
    timeout = 10  # seconds a client may take to send its request

    # what the request being answered is (the error paths and the access log read them)
    command = ""
    path = ""
    requestline = ""
    request_version = "HTTP/1.1"
    headers: Headers = Headers()
    close_connection = True

    # -- plumbing -----------------------------------------------------------------------------
    def setup(self) -> None:
        self.connection: socket.socket = self.request
        # headers and body leave in one send anyway; no delayed ACK holds the next answer
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = SocketReader(self.connection, self.timeout)

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        """One request, under the connection's deadline (none once the server is closing)."""
        if not self.server.connections.waiting(self.connection):
            self.close_connection = True
            return
        try:
            self._one_request()
        except OSError:  # the client went away, or its connection was cut at the deadline
            self.close_connection = True

    def _one_request(self) -> None:
        self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
        try:
            req = parse_head(self.reader.read_head())
        except BadRequest as exc:
            self.close_connection = True
            self._send_json(exc.status, {"error": exc.message, "status": exc.status})
            return
        if req is None:  # the client closed (or sent a blank line): nothing to answer
            self.close_connection = True
            return
        self.command, self.path, self.request_version = req.method, req.target, req.version
        self.requestline, self.headers = req.line, req.headers
        self.close_connection = not req.keep_alive
        if req.method not in METHODS:
            self.close_connection = True
            message = f"Unsupported method ({req.method!r})"
            self._send_json(501, {"error": message, "status": 501})
            return
        if req.expect_continue:  # curl waits (a second) for this before sending a body
            sendall(self.connection, CONTINUE)
        self._route(req.method)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        data = answer(
            status,
            body,
            content_type,
            headers,
            close=self.close_connection,
            keep_alive_header=self.request_version == "HTTP/1.0",
            head=self.command == "HEAD",
        )
        sendall(self.connection, data)
        if self.server.app.access_log:  # formatted only when asked for
            access_logger.info(
                '%s "%s" %d %d', self.client_address[0], self.requestline, status, len(body)
            )

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, _JSON.encode(obj).encode() + b"\n", "application/json", headers)

    # -- routing ------------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        """Answer one request; every failure becomes a JSON error answer."""
        try:
            refusal = self.server.check_origin(self.headers)
            if refusal is not None:
                self._drop_body()
                raise ApiError(*refusal)
            self._answer(method, urlsplit(self.path).path)
        except ApiError as exc:
            headers = {"Allow": exc.extra.pop("allow")} if "allow" in exc.extra else None
            self._send_json(
                exc.status, {"error": exc.message, "status": exc.status, **exc.extra}, headers
            )
        except UnicodeDecodeError:
            self._send_json(400, {"error": "the request path is not valid UTF-8", "status": 400})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except TimeoutError:
            raise  # a stalled client: handle_one_request drops the connection
        except Exception as exc:  # a bug: answer (JSON, 500) instead of dropping the connection
            logger.error("error answering %s %r: %r", method, self.path, exc)
            self.close_connection = True
            self._send_json(500, {"error": f"internal error: {exc!r}", "status": 500})

    def _answer(self, method: str, path: str) -> None:
        app = self.server.app
        if (method != "POST" or path != "/jobs") and self._has_body():
            self.close_connection = True  # a body nothing reads: never parse it as a request
        if path == "/jobs":
            if method != "POST":
                raise ApiError(405, f"{method} /jobs is not allowed; use POST", allow="POST")
            self._post_jobs()
            return
        self.server.connections.answering(self.connection)
        if path.startswith("/jobs/"):
            if method != "GET":
                raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")
            job_id = unquote(path[len("/jobs/") :], errors="strict")
            self._send_json(200, app.job(job_id))
        elif path == "/status":
            self._get_only(method, path)
            self._send_json(200, app.status())
        elif path == "/metrics":
            self._get_only(method, path)
            self._send(200, *app.metrics.exposition(self.headers.get("Accept")))
        elif path == "/":
            self._get_only(method, path)
            self._send_json(200, {"service": "simqueue", "endpoints": ENDPOINTS})
        else:
            raise ApiError(404, f"no such endpoint: {method} {path}")

    def _has_body(self) -> bool:
        return self.headers.get("Content-Length", "0").strip() not in ("", "0") or bool(
            self.headers.get("Transfer-Encoding")
        )

    def _get_only(self, method: str, path: str) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")

    # -- the request body ---------------------------------------------------------------------
    def _post_jobs(self) -> None:
        """``POST /jobs``: the token and content type, the body within the size limit and the
        shared budget, then the enqueue (which answers once the jobs are durable)."""
        refusal = self.server.guard.check_write(self.headers)
        if refusal is not None:
            self._drop_body()
            headers = {"WWW-Authenticate": "Bearer"} if refusal[0] == 401 else None
            self._send_json(refusal[0], {"error": refusal[1], "status": refusal[0]}, headers)
            return
        length = self._body_length()
        limit = self.server.app.max_body_bytes
        if length > limit:
            self._discard(length)
            raise ApiError(
                413,
                f"request body is {length} bytes; this server accepts at most {limit} "
                "(max_body_bytes): send the jobs in smaller batches",
                max_body_bytes=limit,
            )
        with self._reserved(length):
            jobs = self._read_jobs(length)
            self.server.connections.answering(self.connection)
            answer = self.server.app.enqueue(jobs)
        self._send_json(200, answer)

    @contextlib.contextmanager
    def _reserved(self, length: int) -> Iterator[None]:
        """``length`` bytes of the shared body budget while the body is read and enqueued."""
        bodies = self.server.bodies
        if not bodies.take(length):
            self._discard(length)
            raise ApiError(
                503,
                f"request bodies of {bodies.used} bytes are being processed (at most "
                f"{bodies.limit} at once); retry shortly",
            )
        try:
            yield
        finally:
            bodies.give(length)

    def _drop_body(self) -> None:
        """A refused request's body (if it says how long it is) is read and dropped briefly,
        and the connection closes."""
        self.close_connection = True
        with contextlib.suppress(ValueError):
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= self.server.app.max_body_bytes:
                self._discard(length)

    def _read_jobs(self, length: int) -> list[Job]:
        try:
            body = self.reader.read(length)
        except TimeoutError:  # headers, then silence: answer and free this thread
            self.close_connection = True
            raise ApiError(
                408, f"request body not received within {self.timeout:g} s; closing"
            ) from None
        if len(body) < length:
            self.close_connection = True
            raise ApiError(400, f"request body ended after {len(body)} of {length} bytes")
        try:
            return parse_jobs_text(body, "request body")
        except JobFileError as exc:
            raise ApiError(400, str(exc)) from None

    def _body_length(self) -> int:
        """The one Content-Length that frames the body (no chunked bodies)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(411, "chunked request bodies are not supported; send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.close_connection = True
            raise ApiError(411, "POST /jobs needs a Content-Length header")
        if len(set(self.headers.get_all("Content-Length") or [])) > 1:
            self.close_connection = True
            raise ApiError(400, "conflicting Content-Length headers")
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise ApiError(400, f"bad Content-Length header: {raw!r}") from None
        return length

    def _discard(self, length: int) -> None:
        """Read (and drop) an oversized body for a moment so the client sees our 413 rather
        than a reset connection; never buffer it, never wait long."""
        self.close_connection = True
        deadline = time.monotonic() + 2.0
        left = length
        with contextlib.suppress(OSError):
            self.reader.set_timeout(0.5)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.reader.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)


__all__ = ["ENDPOINTS", "Api", "ApiError", "ApiServer", "RequestHandler"]
