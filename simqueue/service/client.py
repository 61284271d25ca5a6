"""The HTTP client of a simqueue server: one JSON request, and the one-line reasons it can fail.

The CLI, the terminal demo and the kill -9 loop all talk to a server through :func:`http_json`.
A server that does not answer raises :class:`ServerUnavailableError`; an answer that is not JSON
raises :class:`BadAnswerError`; HTTP error statuses are returned, not raised, because a 4xx
answer (a refused job file, an unknown id) is information the caller reports.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class ClientError(Exception):
    """A request to a simqueue server that got no usable answer (one-line message)."""


class ServerUnavailableError(ClientError):
    """Nothing answered at the URL (refused, timed out, unreachable)."""


class BadUrlError(ClientError):
    """The server URL cannot be parsed (a usage error)."""


class BadAnswerError(ClientError):
    """The server answered with a body that is not JSON."""


def http_json(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 120.0,
    token: str | None = None,
) -> tuple[int, Any]:
    """One request (``token``: sent as ``Authorization: Bearer``); returns (status, decoded JSON
    or None for an empty body). A URL that cannot be parsed raises :class:`BadUrlError`."""
    try:
        req = urllib.request.Request(url + path, data=body, method=method)
        urllib.parse.urlsplit(req.full_url).port  # noqa: B018 - raises on a bad port or bracket
    except ValueError as exc:
        raise BadUrlError(f"bad server URL {url!r}: {exc}") from None
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerUnavailableError(
            f"no simqueue server at {url} ({_reason(reason)}); start one with `simqueue run`"
        ) from None
    except ValueError as exc:  # what urllib finds wrong with the URL only when it connects
        raise BadUrlError(f"bad server URL {url!r}: {exc}") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise ServerUnavailableError(
            f"no answer from the simqueue server at {url} ({_reason(exc)})"
        ) from None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        raise BadAnswerError(
            f"{url}{path} answered {status} with something that is not JSON"
        ) from None


def _reason(exc: Any) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc)
