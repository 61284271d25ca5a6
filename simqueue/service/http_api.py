"""The HTTP API: ``POST /jobs``, ``GET /jobs/<id>``, ``GET /status``, ``GET /metrics``.

Every answer is JSON (except the Prometheus text of ``/metrics``); every error is JSON with a 4xx
status, or 500 for a bug, and the connection survives it. Request bodies have a size limit and a
time limit; nothing from a request ever becomes a file path. The operations themselves belong to
the :class:`Api` the server passes in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from simqueue.core.jobs import Job
from simqueue.service.jobfile import JobFileError, parse_jobs_text
from simqueue.service.metrics import CONTENT_TYPE, Metrics

logger = logging.getLogger(__name__)
#: One line per request, when the server was started with ``access_log``.
access_logger = logging.getLogger(__name__ + ".access")

ENDPOINTS = ["POST /jobs", "GET /jobs/<id>", "GET /status", "GET /metrics"]


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

    def enqueue(self, jobs: list[Job]) -> dict[str, Any]: ...

    def job(self, job_id: str) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...


class ApiServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`Api`."""

    daemon_threads = False  # stop() waits for requests being answered (their jobs are durable)
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: socketserver's 5 resets bursts of clients

    def __init__(self, address: tuple[str, int], app: Api) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, RequestHandler)


class RequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    server_version = "simqueue"
    sys_version = ""
    timeout = 10  # seconds a client may take to send its request
    error_content_type = "application/json"

    # -- plumbing -----------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.access_log:
            access_logger.info("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, unsupported method) as JSON."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # garbage request line: still answer with headers
        self._send_json(code, {"error": message or phrase, "status": code})

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(obj, indent=None, separators=(",", ":"), default=str).encode() + b"\n"
        self._send(status, body, "application/json", headers)

    # -- routing ------------------------------------------------------------------------------
    def _route(self, method: str) -> None:
        """Answer one request; every failure becomes a JSON error answer."""
        try:
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
            raise  # a stalled client: http.server drops the connection
        except Exception as exc:  # a bug: answer (JSON, 500) instead of dropping the connection
            logger.error("error answering %s %r: %r", method, self.path, exc)
            self.close_connection = True
            self._send_json(500, {"error": f"internal error: {exc!r}", "status": 500})

    def _answer(self, method: str, path: str) -> None:
        app = self.server.app
        if path == "/jobs":
            if method != "POST":
                raise ApiError(405, f"{method} /jobs is not allowed; use POST", allow="POST")
            self._send_json(200, app.enqueue(self._read_jobs()))
        elif path.startswith("/jobs/"):
            if method != "GET":
                raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")
            job_id = unquote(path[len("/jobs/") :], errors="strict")
            self._send_json(200, app.job(job_id))
        elif path == "/status":
            self._get_only(method, path)
            self._send_json(200, app.status())
        elif path == "/metrics":
            self._get_only(method, path)
            self._send(200, app.metrics.render(), CONTENT_TYPE)
        elif path == "/":
            self._get_only(method, path)
            self._send_json(200, {"service": "simqueue", "endpoints": ENDPOINTS})
        else:
            raise ApiError(404, f"no such endpoint: {method} {path}")

    def _get_only(self, method: str, path: str) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")

    # -- the request body ---------------------------------------------------------------------
    def _read_jobs(self) -> list[Job]:
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
        try:
            body = self.rfile.read(length)
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
            self.connection.settimeout(0.5)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)

    # -- methods ------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")


__all__ = ["ENDPOINTS", "Api", "ApiError", "ApiServer", "RequestHandler"]
