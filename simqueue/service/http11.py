"""The little HTTP/1.1 the API speaks: a request's line and headers read from a socket, and an
answer written as one ``bytes``.

http.server parses every request's headers with the :mod:`email` package and formats a fresh
``Date`` for every answer; at one job per request that was most of the server's CPU. This
module does only what the API needs, with http.server's limits and error messages:

* :class:`RequestBuffer` holds what a connection sent and has not been taken, so a request split
  across reads, or pipelined behind another, is framed the same:
  :meth:`~RequestBuffer.take_head` returns the bytes up to the blank line ending the headers;
  the body stays for the caller, framed by ``Content-Length``.
* :func:`parse_head` checks the request line (at most :data:`MAX_LINE` bytes, else 414) and the
  headers (at most :data:`MAX_HEADERS` lines of :data:`MAX_LINE` bytes and
  :data:`MAX_HEADER_BYTES` in all, else 431). A malformed line raises :class:`BadRequest` (400;
  505 for HTTP/2 and later); so does a header line without a colon, folded onto the previous
  one, or with space before its colon (RFC 9112 section 5: such lines invite request
  smuggling).
* :class:`Headers`: case-insensitive lookup (``get``, ``get_all``, ``in``), the first value
  winning as with ``email.message.Message``.
* :func:`answer` builds the status line, headers and body in one join, with a ``Date`` computed
  at most once a second.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import overload

#: Longest request line or header line, in bytes (http.server's and http.client's limit).
MAX_LINE = 65536
#: Most header lines in one request (http.client's limit).
MAX_HEADERS = 100
#: Most bytes of header lines in one request: 100 lines of 64 KiB each would let every
#: connection hold 6.5 MB.
MAX_HEADER_BYTES = 65536
#: Methods with a handler; any other is answered 501.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BadRequest(Exception):
    """A request that cannot be framed: status and message; the connection must close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Headers:
    """A request's headers: case-insensitive names, several values per name in order."""

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        key = name.lower()
        values = self._values.get(key)
        if values is None:
            self._values[key] = [value]
        else:
            values.append(value)

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, default: str, /) -> str: ...

    def get(self, name: str, default: str | None = None, /) -> str | None:
        """The first value of ``name`` (any case), or ``default``."""
        values = self._values.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        """Every value of ``name`` in the order sent, or ``default`` if there is none."""
        values = self._values.get(name.lower())
        return list(values) if values else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __len__(self) -> int:
        return sum(len(v) for v in self._values.values())

    def items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in self._values.items() for v in values]


@dataclass
class Request:
    """One request's head; ``keep_alive`` is what the client asked for by version and
    ``Connection`` (the server may still close)."""

    method: str
    target: str
    version: str
    line: str
    headers: Headers
    keep_alive: bool
    expect_continue: bool


class RequestBuffer:
    """The bytes received on one connection and not yet taken: a request split across reads,
    or pipelined behind another, is framed the same. :meth:`take_head` returns the bytes up to
    the blank line ending the headers; the body is taken by ``Content-Length`` with
    :meth:`take`. A :class:`bytearray`, so a large body arriving in many reads is not copied
    once per read."""

    __slots__ = ("data", "_seen")

    def __init__(self) -> None:
        self.data = bytearray()
        self._seen = 0  # no blank line ends before this offset: a trickle is not rescanned

    def __len__(self) -> int:
        return len(self.data)

    def feed(self, chunk: bytes) -> None:
        self.data += chunk

    def take_head(self, ended: bool = False) -> bytes | None:
        """A request's line and headers through the blank line that ends them; None if they
        have not all arrived, unless the input ``ended``: then whatever came (b"" if nothing).
        Raises :class:`BadRequest` once more than the limits allow has come without that
        blank line."""
        buf = self.data
        end = _head_end(buf, self._seen)
        if end < 0 and ended:
            end = len(buf)
        if end >= 0:
            head = bytes(buf[:end])
            del buf[:end]
            self._seen = 0
            return head
        if len(buf) > _MAX_HEAD:
            head = bytes(buf)
            buf.clear()
            if b"\n" not in head[: MAX_LINE + 1]:
                raise BadRequest(414, HTTPStatus.REQUEST_URI_TOO_LONG.phrase)
            parse_head(head)  # raises for the limit passed, if one line says which
            raise BadRequest(431, "Request header fields too large")
        self._seen = max(0, len(buf) - 2)
        return None

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes from the front."""
        out = bytes(self.data[:n])
        del self.data[:n]
        return out


def kernel_timeout(sock: socket.socket, seconds: float | None) -> None:
    """Make ``sock`` blocking, its reads and sends failing after ``seconds`` without progress
    (None: never), counted by the kernel (``SO_RCVTIMEO``, ``SO_SNDTIMEO``) rather than by a
    ``poll()`` before each call, as a Python socket timeout does; :func:`recv` reads it."""
    sock.settimeout(None)
    seconds = seconds or 0.0  # a zero timeval means none
    whole = int(seconds)
    tv = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)


def recv(sock: socket.socket, n: int = 65536) -> bytes:
    """Up to ``n`` bytes from a socket set up by :func:`kernel_timeout`; :class:`TimeoutError`
    once its timeout passes."""
    try:
        return sock.recv(n)
    except BlockingIOError:  # EAGAIN: SO_RCVTIMEO passed
        raise TimeoutError("timed out") from None


def sendall(sock: socket.socket, data: bytes) -> None:
    """All of ``data`` to a socket set up by :func:`kernel_timeout`; :class:`TimeoutError`
    once its timeout passes without progress."""
    try:
        sock.sendall(data)
    except BlockingIOError:  # EAGAIN: SO_SNDTIMEO passed
        raise TimeoutError("timed out") from None


#: Most bytes read while looking for the end of a request's headers.
_MAX_HEAD = MAX_LINE + MAX_HEADER_BYTES + 4


def _head_end(buf: bytes | bytearray, start: int = 0) -> int:
    """Where the head in ``buf`` ends (after its blank line), or -1 if it has not yet; no
    blank line ends before ``start``."""
    if buf[:1] == b"\n" or buf[:2] == b"\r\n":  # a blank line first: no request
        return 1 if buf[:1] == b"\n" else 2
    crlf, lf = buf.find(b"\n\r\n", start), buf.find(b"\n\n", start)
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf + 2
    return crlf + 3 if crlf >= 0 else -1


def parse_head(head: bytes) -> Request | None:
    """The request in ``head`` (from :meth:`RequestBuffer.take_head`); None if it holds no
    request line (the connection ended, or sent a blank line). Raises :class:`BadRequest`."""
    lines = head.decode("iso-8859-1").split("\n")
    line = lines[0].rstrip("\r")
    if len(lines[0]) >= MAX_LINE:  # with its newline, longer than MAX_LINE
        raise BadRequest(414, HTTPStatus.REQUEST_URI_TOO_LONG.phrase)
    words = line.split()
    if not words:
        return None
    method, target, version, keep_alive = _request_line(line, words)
    headers = _headers(lines)
    tokens = _tokens(headers.get("Connection"))
    if "close" in tokens:
        keep_alive = False
    elif "keep-alive" in tokens:
        keep_alive = True
    expect = (headers.get("Expect") or "").strip().lower() == "100-continue"
    return Request(
        method,
        target,
        version,
        line,
        headers,
        keep_alive,
        expect and version != "HTTP/1.0" and version != "HTTP/0.9",
    )


def _request_line(line: str, words: list[str]) -> tuple[str, str, str, bool]:
    """(method, target, version, keep-alive by version), with http.server's checks."""
    version = "HTTP/0.9"
    keep_alive = False
    if len(words) >= 3:
        version = words[-1]
        number = _version(version)
        if number is None:
            raise BadRequest(400, f"Bad request version ({version!r})")
        if number >= (2, 0):
            raise BadRequest(505, f"Invalid HTTP version ({version[5:]})")
        keep_alive = number >= (1, 1)
    if not 2 <= len(words) <= 3:
        raise BadRequest(400, f"Bad request syntax ({line!r})")
    method, target = words[0], words[1]
    if len(words) == 2 and method != "GET":
        raise BadRequest(400, f"Bad HTTP/0.9 request type ({method!r})")
    if target.startswith("//"):  # as http.server: never taken for a scheme-relative URL
        target = "/" + target.lstrip("/")
    return method, target, version, keep_alive


def _version(version: str) -> tuple[int, int] | None:
    if not version.startswith("HTTP/"):
        return None
    parts = version[5:].split(".")
    if len(parts) != 2 or not all(p.isdigit() and p.isascii() and len(p) <= 10 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _headers(lines: list[str]) -> Headers:
    """The header lines after the request line, up to the blank one (or the end of the input,
    as http.client reads), within the limits."""
    headers = Headers()
    size = 0
    for count, raw in enumerate(lines[1:], 1):
        text = raw.rstrip("\r")
        if not text:
            break
        if len(raw) >= MAX_LINE:
            raise BadRequest(431, "Line too long")
        if count > MAX_HEADERS:
            raise BadRequest(431, "Too many headers")
        size += len(raw) + 1
        if size > MAX_HEADER_BYTES:
            raise BadRequest(431, "Request header fields too large")
        name, colon, value = text.partition(":")
        if not colon or not name or " " in name or "\t" in name:
            raise BadRequest(400, f"Bad header line ({text!r})")
        headers.add(name, value.strip())
    return headers


def _tokens(value: str | None) -> set[str]:
    if not value:
        return set()
    return {t.strip().lower() for t in value.split(",")}


# ------------------------------------------------------------------------------------ answers
_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n".encode() for s in HTTPStatus}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date: tuple[int, bytes] = (0, b"")


def date_header(now: float | None = None) -> bytes:
    """``Date: ...\\r\\n`` (RFC 9110 IMF-fixdate), recomputed when the second changes: one
    tuple, swapped whole, so threads never see half of one."""
    global _date
    second = int(time.time() if now is None else now)
    cached = _date
    if cached[0] == second:
        return cached[1]
    t = time.gmtime(second)
    text = (
        f"Date: {_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT\r\n"
    ).encode()
    _date = (second, text)
    return text


def answer(
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
    keep_alive_header: bool = False,
    head: bool = False,
) -> bytes:
    """One whole answer: status line, ``Server``, ``Date``, the content headers, ``headers``,
    ``Connection: close`` (or ``keep-alive``, for an HTTP/1.0 client that asked) and the body
    (none for ``HEAD``; its ``Content-Length`` still says how long it would be)."""
    parts = [
        _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n".encode(),
        b"Server: simqueue\r\n",
        date_header(),
        b"Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type.encode(), len(body)),
    ]
    if headers:
        parts.extend(f"{k}: {v}\r\n".encode("iso-8859-1") for k, v in headers.items())
    if close:
        parts.append(b"Connection: close\r\n")
    elif keep_alive_header:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(body)
    return b"".join(parts)


__all__ = [
    "CONTINUE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_LINE",
    "METHODS",
    "BadRequest",
    "Headers",
    "Request",
    "answer",
    "date_header",
    "kernel_timeout",
    "RequestBuffer",
    "parse_head",
    "recv",
    "sendall",
]
