"""The HTTP API: ``POST /jobs``, ``GET /jobs/<id>``, ``GET /status``, ``GET /metrics``.

Every answer is JSON (except the Prometheus text of ``/metrics``); every error is JSON with a 4xx
status, or 500 for a bug. Answers are HTTP/1.1 and the connection is kept alive for the next
request (``Connection: close`` from the client, or HTTP/1.0 without ``keep-alive``, closes it),
except after a request whose body was not read to its end (a refused ``POST``, a body sent to a
``GET``), after a request that cannot be framed (a bad request line or header: 400, 414, 431,
505), after a bug, and once the server stops: the connection closes after such an answer so an
unread body is never taken for the next request. ``Host``, ``Origin``, the content type and the
token are checked first (:mod:`simqueue.service.guard`). Nothing from a request ever becomes a
file path.

This module decides what each request is answered; :mod:`simqueue.service.http_loop` reads the
requests and sends the answers. A request is routed in two steps at most: :meth:`Router.head`
once its head is in (every answer except ``POST /jobs``'s, or the size of the body to read
first), then :meth:`Router.parse` and :meth:`Router.submit` with the body. An answer that
must wait for durability is a :class:`Deferred`: the record it waits for and how to build the
answer once the loop's commit covers it, so every request that arrived while one fsync ran
shares the next.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from simqueue.core.jobs import Job
from simqueue.service.guard import Guard
from simqueue.service.http11 import Headers, Request
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


@dataclass
class Reply:
    """One answer: status, body and content type, extra headers, and whether the connection
    closes after it."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] | None = None
    close: bool = False


@dataclass
class Deferred:
    """An answer that waits until record ``seq`` is acknowledged: ``finish()`` builds it then
    (and may raise :class:`ApiError`)."""

    seq: int
    finish: Callable[[], dict[str, Any]]


class Api(Protocol):
    """What the HTTP layer serves: the server's operations and limits. Each operation does its
    part under the queue's lock and returns at once; the loop waits for durability:
    ``try_commit(seq)`` says whether record ``seq`` is acknowledged, after leading the group
    commit if no other thread's is running (False at once while one is)."""

    access_log: bool
    max_body_bytes: int
    metrics: Metrics
    token: str | None

    def submit(self, jobs: list[Job]) -> Deferred: ...

    def job_deferred(self, job_id: str) -> Deferred: ...

    def status_deferred(self) -> Deferred: ...

    def try_commit(self, seq: int) -> bool: ...


def json_reply(
    status: int, obj: Any, headers: dict[str, str] | None = None, close: bool = False
) -> Reply:
    return Reply(status, _JSON.encode(obj).encode() + b"\n", "application/json", headers, close)


def error_reply(exc: ApiError, close: bool = False) -> Reply:
    extra = dict(exc.extra)
    headers = {"Allow": extra.pop("allow")} if "allow" in extra else None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    body = {"error": exc.message, "status": exc.status, **extra}
    return json_reply(exc.status, body, headers, close)


def bug_reply(req: Request | None, exc: BaseException) -> Reply:
    """A bug: logged, answered 500, and the connection closed."""
    what = f"{req.method} {req.target!r}" if req is not None else "a request"
    logger.error("error answering %s: %r", what, exc)
    return json_reply(500, {"error": f"internal error: {exc!r}", "status": 500}, close=True)


@dataclass
class BodyWanted:
    """``POST /jobs`` passed its checks: read ``length`` bytes of body, then parse and submit."""

    length: int


class Router:
    """What each request is answered, for one :class:`Api` behind one :class:`Guard`."""

    def __init__(self, app: Api, guard: Guard) -> None:
        self.app = app
        self.guard = guard
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

    def head(self, req: Request) -> Reply | Deferred | BodyWanted:
        """Route a request whose head is in. A refused request whose body was sent closes the
        connection after its answer (the loop drops the body meanwhile)."""
        with_body = has_body(req.headers)
        try:
            refusal = self.check_origin(req.headers)
            if refusal is not None:
                raise ApiError(*refusal)
            path = urlsplit(req.target).path
            if path == "/jobs" and req.method == "POST":
                return self._post_head(req)
            return self._read(req.method, path, req.headers)
        except ApiError as exc:
            return error_reply(exc, close=with_body)
        except UnicodeDecodeError:
            return error_reply(ApiError(400, "the request path is not valid UTF-8"), with_body)

    def _read(self, method: str, path: str, headers: Headers) -> Reply | Deferred:
        app = self.app
        if path == "/jobs":
            raise ApiError(405, f"{method} /jobs is not allowed; use POST", allow="POST")
        if path.startswith("/jobs/"):
            if method != "GET":
                raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")
            return app.job_deferred(unquote(path[len("/jobs/") :], errors="strict"))
        if path == "/status":
            _get_only(method, path)
            return app.status_deferred()
        if path == "/metrics":
            _get_only(method, path)
            return Reply(200, *app.metrics.exposition(headers.get("Accept")))
        if path == "/":
            _get_only(method, path)
            return json_reply(200, {"service": "simqueue", "endpoints": ENDPOINTS})
        raise ApiError(404, f"no such endpoint: {method} {path}")

    def _post_head(self, req: Request) -> BodyWanted:
        """``POST /jobs``: the token and content type, then the body's length within the size
        limit (the loop reserves it in the shared budget)."""
        refusal = self.guard.check_write(req.headers)
        if refusal is not None:
            raise ApiError(*refusal)
        length = _body_length(req.headers)
        limit = self.app.max_body_bytes
        if length > limit:
            raise ApiError(
                413,
                f"request body is {length} bytes; this server accepts at most {limit} "
                "(max_body_bytes): send the jobs in smaller batches",
                max_body_bytes=limit,
            )
        return BodyWanted(length)

    def parse(self, body: bytes, length: int) -> list[Job] | Reply:
        """``POST /jobs``'s body (short if the client ended first) as jobs, or the error
        answer. Touches nothing shared: the HTTP loop runs it on another thread for a large
        body."""
        if len(body) < length:
            message = f"request body ended after {len(body)} of {length} bytes"
            return error_reply(ApiError(400, message), close=True)
        try:
            return parse_jobs_text(body, "request body")
        except JobFileError as exc:
            return error_reply(ApiError(400, str(exc)))

    def submit(self, parsed: list[Job] | Reply) -> Reply | Deferred:
        """The parsed jobs appended (answered once durable), or the parse's error answer."""
        if isinstance(parsed, Reply):
            return parsed
        try:
            return self.app.submit(parsed)
        except ApiError as exc:
            return error_reply(exc)

    def finish(self, deferred: Deferred) -> Reply:
        """The answer of a deferred request once the loop's commit covers it (or failed)."""
        try:
            return json_reply(200, deferred.finish())
        except ApiError as exc:
            return error_reply(exc)


def has_body(headers: Headers) -> bool:
    """Whether the request says a body follows its head."""
    return headers.get("Content-Length", "0").strip() not in ("", "0") or bool(
        headers.get("Transfer-Encoding")
    )


def _get_only(method: str, path: str) -> None:
    if method not in ("GET", "HEAD"):
        raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")


def _body_length(headers: Headers) -> int:
    """The one Content-Length that frames the body (no chunked bodies)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        raise ApiError(411, "chunked request bodies are not supported; send Content-Length")
    raw = headers.get("Content-Length")
    if raw is None:
        raise ApiError(411, "POST /jobs needs a Content-Length header")
    if len(set(headers.get_all("Content-Length") or [])) > 1:
        raise ApiError(400, "conflicting Content-Length headers")
    try:
        length = int(raw)
        if length < 0:
            raise ValueError
    except ValueError:
        raise ApiError(400, f"bad Content-Length header: {raw!r}") from None
    return length


__all__ = [
    "ENDPOINTS",
    "Api",
    "ApiError",
    "BodyWanted",
    "Deferred",
    "Reply",
    "Router",
    "access_logger",
    "has_body",
]
