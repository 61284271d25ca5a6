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

A server that does not answer raises :class:`ServerUnavailableError`; an answer that is not JSON
raises :class:`BadAnswerError`; HTTP error statuses are returned, not raised, because a 4xx
answer (a refused job file, an unknown id) is information the caller reports.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
from typing import Any
from urllib.parse import urlsplit


class ClientError(Exception):
    """A request to a simqueue server that got no usable answer (one-line message)."""


class ServerUnavailableError(ClientError):
    """Nothing answered at the URL (refused, timed out, unreachable)."""


class BadUrlError(ClientError):
    """The server URL cannot be parsed (a usage error)."""


class BadAnswerError(ClientError):
    """The server answered with a body that is not JSON."""


#: Methods a broken kept-alive connection may be retried for on a fresh one.
_IDEMPOTENT = frozenset({"GET", "HEAD"})


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
        self._conn: http.client.HTTPConnection | None = None

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
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        reused = self._conn is not None and not _dropped(self._conn)
        if not reused:
            self.close()
        try:
            status, raw = self._exchange(method, path, body, headers)
        except (ConnectionError, http.client.RemoteDisconnected) as exc:
            self.close()
            if not (reused and method in _IDEMPOTENT):
                raise self._unavailable(exc) from None
            status, raw = self._retry(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._unavailable(exc) from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise BadAnswerError(
                f"{self.url}{path} answered {status} with something that is not JSON"
            ) from None

    def _retry(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        try:
            return self._exchange(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise self._unavailable(exc) from None

    def _exchange(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        conn = self._conn
        if conn is None:
            conn = self._conn = http.client.HTTPConnection(
                self._host, self._port, timeout=self.timeout
            )
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.request(method, self._prefix + path, body, headers)
        resp = conn.getresponse()
        raw = resp.read()
        if resp.will_close:
            self.close()
        return resp.status, raw

    def _unavailable(self, exc: BaseException) -> ServerUnavailableError:
        if isinstance(exc, ConnectionRefusedError | socket.gaierror):
            return ServerUnavailableError(
                f"no simqueue server at {self.url} ({_reason(exc)}); start one with "
                "`simqueue run`"
            )
        return ServerUnavailableError(
            f"no answer from the simqueue server at {self.url} ({_reason(exc)})"
        )


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


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the server closed this idle connection (it reads as ready, at EOF)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


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
