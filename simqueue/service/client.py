"""The HTTP client of a simqueue server: JSON requests over one kept-alive connection, and the
one-line reasons they can fail.

:class:`Client` keeps one HTTP/1.1 connection to a server and sends every request on it, so a
caller that sends many (a load client, the kill -9 loop polling ``/status``) pays one TCP
handshake, not one per request. A connection the server has closed meanwhile (it closes idle
ones after its read timeout) is noticed before the request is sent and opened again; one
that breaks once the request is on its way is never silently replayed for ``POST``, because
the server may have acknowledged the jobs before the connection broke. :func:`http_json` is one
request on a connection of its own, for a caller that sends one (the CLI's ``enqueue`` and
``status``, the demo).

The HTTP is written here on a plain socket rather than with :mod:`http.client`, which parses
every answer's headers with the :mod:`email` package: a load client sending one job per request
spent most of its CPU there. A request leaves in one send (``TCP_NODELAY``); an answer is read
to the end of its headers (at most 64 KiB), then its ``Content-Length`` body (an answer without
one runs to the end of the connection; a chunked one is refused). ``Connection: close`` or an
HTTP/1.0 answer closes the connection after it.

A server that does not answer raises :class:`ServerUnavailableError`; an answer that is not JSON
raises :class:`BadAnswerError`; HTTP error statuses are returned, not raised, because a 4xx
answer (a refused job file, an unknown id) is information the caller reports.
"""

from __future__ import annotations

import json
import select
import socket
from typing import Any
from urllib.parse import urlsplit

from simqueue.service.http11 import kernel_timeout, recv, sendall


class ClientError(Exception):
    """A request to a simqueue server that got no usable answer (one-line message)."""


class ServerUnavailableError(ClientError):
    """Nothing answered at the URL (refused, timed out, unreachable)."""


class BadUrlError(ClientError):
    """The server URL cannot be parsed (a usage error)."""


class BadAnswerError(ClientError):
    """The server answered with a body that is not JSON."""


class _Disconnected(ConnectionResetError):
    """The connection ended before the first byte of an answer (http.client's
    ``RemoteDisconnected``): on a reused connection, the server had closed it meanwhile."""


class _BadFraming(Exception):
    """An answer that is not HTTP/1.x, or that ended before its ``Content-Length``."""


#: Methods a broken kept-alive connection may be retried for on a fresh one.
_IDEMPOTENT = frozenset({"GET", "HEAD"})
#: Most bytes of an answer's status line and headers.
_MAX_HEAD = 65536


class Client:
    """Requests to the server at ``url`` over one kept-alive connection. One per thread.

    >>> with Client("http://127.0.0.1:8765") as c:   # doctest: +SKIP
    ...     c.request("GET", "/status")[0]
    200
    """

    def __init__(self, url: str, timeout: float = 120.0, token: str | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.token = token
        self._host, self._port = _address(url)
        self._prefix = urlsplit(url).path.rstrip("/")
        host = f"[{self._host}]" if ":" in self._host else self._host
        fixed = f"Host: {host}:{self._port}\r\n"
        if token is not None:
            if any(c in token for c in "\r\n\0"):
                raise ValueError("the token must be one line")
            fixed += f"Authorization: Bearer {token}\r\n"
        self._fixed = fixed  # headers every request carries
        self._conn: _Connection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        """One request; returns (status, decoded JSON or None for an empty body)."""
        data = self._encode(method, path, body)
        reused = self._conn is not None and not self._conn.dropped()
        if not reused:
            self.close()
        try:
            status, raw = self._exchange(data, method == "HEAD")
        except ConnectionError as exc:
            self.close()
            if not (reused and method in _IDEMPOTENT):
                raise self._unavailable(exc) from None
            status, raw = self._retry(data, method == "HEAD")
        except (OSError, _BadFraming) as exc:
            self.close()
            raise self._unavailable(exc) from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise BadAnswerError(
                f"{self.url}{path} answered {status} with something that is not JSON"
            ) from None

    def _encode(self, method: str, path: str, body: bytes | None) -> bytes:
        """The whole request: its line, headers and body, to leave in one send."""
        target = self._prefix + path
        if not target.isascii() or not target.isprintable() or " " in target:
            raise BadUrlError(f"bad request path {target!r}: not printable ASCII")
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if body is None:
            return (head + "\r\n").encode()
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    def _retry(self, data: bytes, head: bool) -> tuple[int, bytes]:
        try:
            return self._exchange(data, head)
        except (OSError, _BadFraming) as exc:
            self.close()
            raise self._unavailable(exc) from None

    def _exchange(self, data: bytes, head: bool) -> tuple[int, bytes]:
        conn = self._conn
        if conn is None:
            conn = self._conn = _Connection(self._host, self._port, self.timeout)
        sendall(conn.sock, data)
        status, raw, close = conn.response(head)
        if close:
            self.close()
        return status, raw

    def _unavailable(self, exc: BaseException) -> ServerUnavailableError:
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return ServerUnavailableError(
                f"no simqueue server at {self.url} ({_reason(exc)}); start one with `simqueue run`"
            )
        return ServerUnavailableError(
            f"no answer from the simqueue server at {self.url} ({_reason(exc)})"
        )


class _Connection:
    """One TCP connection (Nagle off: a request leaves at once) and the bytes received past
    the last answer."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rest = b""
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            kernel_timeout(self.sock, timeout)  # no poll() before every send and recv
        except BaseException:
            self.sock.close()
            raise
        self._poll = select.poll()  # not select(): that fails for descriptors over 1023
        self._poll.register(self.sock, select.POLLIN)

    def close(self) -> None:
        self.sock.close()

    def dropped(self) -> bool:
        """Whether the server closed this idle connection (it reads as ready, at EOF; an
        idle connection has nothing else to read)."""
        if self.rest:
            return True
        try:
            return bool(self._poll.poll(0))
        except (OSError, ValueError):
            return True

    def _recv(self, data: bytes, answering: bool = False) -> bytes:
        """``data`` and what arrives next; the end of the connection raises, as
        :class:`_Disconnected` if no byte of an answer came (``answering``: its head did)."""
        chunk = recv(self.sock)
        if not chunk:
            if data or answering:
                raise _BadFraming("the connection closed in the middle of the answer")
            raise _Disconnected("the server closed the connection without answering")
        return data + chunk

    def response(self, head: bool) -> tuple[int, bytes, bool]:
        """(status, body, whether the server closes the connection) of the next answer."""
        data = self.rest
        while True:
            end = data.find(b"\r\n\r\n")
            while end < 0:
                if len(data) > _MAX_HEAD:
                    raise _BadFraming("the answer's headers are too long")
                data = self._recv(data)
                end = data.find(b"\r\n\r\n")
            status, length, close = _head(data[:end])
            data = data[end + 4 :]
            if not 100 <= status < 200:  # an interim answer (100 Continue) precedes the real one
                break
        if head or status in (204, 304):
            length = 0
        if length is None:  # no Content-Length: the body runs to the end of the connection
            while chunk := recv(self.sock):
                data += chunk
            return status, data, True
        while len(data) < length:
            data = self._recv(data, answering=True)
        self.rest = data[length:]
        return status, data[:length], close


def _head(head: bytes) -> tuple[int, int | None, bool]:
    """(status, Content-Length or None, closes) of an answer's status line and headers."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _BadFraming(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
    close = parts[0] == b"HTTP/1.0"
    length: int | None = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit() or (length is not None and length != int(value)):
                raise _BadFraming(f"bad Content-Length in the answer: {value[:40]!r}")
            length = int(value)
        elif name == b"connection":
            tokens = {t.strip() for t in value.lower().split(b",")}
            close = b"close" in tokens or (close and b"keep-alive" not in tokens)
        elif name == b"transfer-encoding":
            raise _BadFraming("a chunked answer (this client reads Content-Length only)")
    return int(parts[1]), length, close


def http_json(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 120.0,
    token: str | None = None,
) -> tuple[int, Any]:
    """One request on a connection of its own (``token``: sent as ``Authorization: Bearer``);
    returns (status, decoded JSON or None for an empty body). A URL that cannot be parsed
    raises :class:`BadUrlError`."""
    with Client(url, timeout=timeout, token=token) as client:
        return client.request(method, path, body)


def _address(url: str) -> tuple[str, int]:
    """(host, port) of an ``http://`` URL (its path, if any, prefixes every request's);
    :class:`BadUrlError` for anything else."""
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as exc:
        raise BadUrlError(f"bad server URL {url!r}: {exc}") from None
    if u.scheme != "http" or not u.hostname:
        raise BadUrlError(f"bad server URL {url!r}: expected http://HOST:PORT")
    return u.hostname, port or 80


def _reason(exc: Any) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc)


__all__ = [
    "BadAnswerError",
    "BadUrlError",
    "Client",
    "ClientError",
    "ServerUnavailableError",
    "http_json",
]
