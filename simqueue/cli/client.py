"""How the client commands (``enqueue``, ``status``) find the server they talk to."""

from __future__ import annotations

import argparse
import json
import os
from urllib.parse import urlsplit

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.settings import URL_ENV
from simqueue.service.network import SERVER_FILE

DEFAULT_URL = "http://127.0.0.1:8080"
#: The token file a client command sends when ``--token-file`` is not given.
TOKEN_FILE_ENV = "SIMQUEUE_TOKEN_FILE"


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--data-dir`` (read the URL from its ``server.json``) and ``--timeout``."""
    parser.add_argument("--url", help=f"server URL (default: ${URL_ENV}, else {DEFAULT_URL})")
    parser.add_argument(
        "--data-dir", dest="data_dir", help="find the server's URL in DIR/server.json instead"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for an answer"
    )
    parser.add_argument(
        "--token-file",
        dest="token_file",
        help=f"send the token in this file (the server's --token-file; default ${TOKEN_FILE_ENV})",
    )


def client_token(args: argparse.Namespace) -> str | None:
    """The token of ``--token-file`` (else ``$SIMQUEUE_TOKEN_FILE``), or None."""
    return read_token(getattr(args, "token_file", None) or os.environ.get(TOKEN_FILE_ENV) or None)


def read_token(path: str | None) -> str | None:
    """The token in the file ``path`` (None: no token); a bad file is a usage error."""
    from simqueue.service.guard import TokenFileError, read_token_file

    if path is None:
        return None
    try:
        return read_token_file(path)
    except TokenFileError as exc:
        raise CliError(f"--token-file: {exc}", ExitCode.USAGE) from None


def resolve_url(args: argparse.Namespace) -> str:
    """``--url``, else ``$SIMQUEUE_URL``, else the ``server.json`` of ``--data-dir``, else the
    default port on 127.0.0.1. A URL that is not ``http://host[:port]`` is a usage error."""
    if getattr(args, "url", None):
        return checked_url(str(args.url).rstrip("/"), "--url")
    if os.environ.get(URL_ENV):
        return checked_url(os.environ[URL_ENV].rstrip("/"), f"${URL_ENV}")
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        return _url_from_server_file(data_dir)
    return DEFAULT_URL


def checked_url(url: str, where: str) -> str:
    """``url`` if it parses as ``http://host[:port]``; else a one-line :class:`CliError`."""
    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises ValueError on a bad port or bracket
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("expected http://HOST[:PORT]")
    except ValueError as exc:
        raise CliError(f"{where}: bad server URL {url!r}: {exc}", ExitCode.USAGE) from None
    return url


def _url_from_server_file(data_dir: str) -> str:
    """The URL a running server wrote into ``DATA_DIR/server.json`` when it started listening."""
    path = os.path.join(data_dir, SERVER_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            return str(json.load(fh)["url"]).rstrip("/")
    except FileNotFoundError:
        raise CliError(
            f"no simqueue server is running on {data_dir} (no {SERVER_FILE} there); "
            f"start one with: simqueue run --data-dir {data_dir}",
            ExitCode.UNAVAILABLE,
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"{path}: cannot read the server address: {exc}", ExitCode.FAILURE) from None


__all__ = ["DEFAULT_URL", "add_client_flags", "checked_url", "client_token", "resolve_url"]
