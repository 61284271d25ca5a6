"""Who may talk to the API: the ``Host`` and ``Origin`` checks against the bound address, the
JSON content type of writes, and the optional bearer token of mutating requests.

A web page in a browser can send simple cross-site requests to a local port, and DNS rebinding
makes a foreign name resolve to 127.0.0.1. So every request whose ``Host`` header names another
address is refused (403), as is every request whose ``Origin`` (browsers send it on cross-site
requests) is not this server; a ``POST /jobs`` whose ``Content-Type`` is present and not JSON is
refused (415). A request without ``Host`` or ``Content-Type`` (not a browser) passes those checks.
With a token file, ``POST /jobs`` needs ``Authorization: Bearer <token>`` (else 401).
"""

from __future__ import annotations

import hmac
import os
import stat
from typing import Protocol
from urllib.parse import urlsplit

from simqueue.service.network import is_loopback

#: The names every loopback-bound server answers to (with its port).
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
#: Addresses that bind every interface: any host name may reach them (use a token there).
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class Headers(Protocol):
    """A request's headers (:class:`simqueue.service.http11.Headers`, or a dict in tests)."""

    def get(self, name: str, /) -> str | None: ...


class TokenFileError(ValueError):
    """A token file that cannot be used (one line, names the file)."""


def read_token_file(path: str) -> str:
    """The token in ``path`` (surrounding whitespace dropped). Raises :class:`TokenFileError` if
    the file is missing, not a regular file, empty, or readable or writable by every user."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        raise TokenFileError(f"{path}: cannot read token file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise TokenFileError(f"{path}: the token file is not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o007:
            raise TokenFileError(
                f"{path}: the token file is accessible to every user (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        raw = fh.read(4097)
    try:
        token = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TokenFileError(f"{path}: the token file is not UTF-8 text") from None
    if not token or len(raw) > 4096 or any(c.isspace() for c in token):
        raise TokenFileError(f"{path}: the token file must hold one token of 1 to 4096 characters")
    return token


class Guard:
    """The checks for one server bound to ``host``:``port`` (``token``: None for no token)."""

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        bound = f"[{host}]" if ":" in host else host
        self.any_host = host in WILDCARD_HOSTS
        self.names = {bound.lower()} | (LOOPBACK_NAMES if is_loopback(host) else set())

    def expected(self) -> str:
        return " or ".join(f"{n}:{self.port}" for n in sorted(self.names))

    def _ours(self, name: str, port: int | None) -> bool:
        return (self.any_host or name.lower() in self.names) and (port or 80) == self.port

    def check_origin(self, headers: Headers) -> tuple[int, str] | None:
        """A refusal (status, message) for a foreign ``Host`` or ``Origin``; None if allowed."""
        host = headers.get("Host")
        if host is not None and not self._host_ok(host):
            return 403, (
                f"Host header {host!r} is not this server's address (expected "
                f"{self.expected()}); refused as a possible DNS rebinding"
            )
        origin = headers.get("Origin")
        if origin is not None and not self._origin_ok(origin):
            return 403, f"cross-origin request from {origin!r} refused (expected {self.expected()})"
        return None

    def _host_ok(self, host: str) -> bool:
        try:
            u = urlsplit("//" + host.strip())
            return u.hostname is not None and self._ours(_bracketed(u.hostname), u.port)
        except ValueError:
            return False

    def _origin_ok(self, origin: str) -> bool:
        try:
            u = urlsplit(origin.strip())
            if u.scheme != "http" or u.hostname is None:
                return False
            return self._ours(_bracketed(u.hostname), u.port)
        except ValueError:
            return False

    def check_write(self, headers: Headers) -> tuple[int, str] | None:
        """A refusal for a write without the token (401) or with a non-JSON body (415)."""
        if self.token is not None:
            got = headers.get("Authorization") or ""
            scheme, _, value = got.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                what = "a wrong token" if got else "no token"
                return 401, (
                    f"this server needs a token for POST /jobs (Authorization: Bearer ...); "
                    f"the request has {what}"
                )
        ctype = headers.get("Content-Type")
        if ctype is not None and ctype.split(";")[0].strip().lower() != "application/json":
            return 415, f"POST /jobs takes Content-Type application/json; got {ctype!r}"
        return None


def _bracketed(hostname: str) -> str:
    """urlsplit drops an IPv6 literal's brackets; the names keep them."""
    return f"[{hostname}]" if ":" in hostname else hostname


__all__ = ["Guard", "TokenFileError", "read_token_file"]
