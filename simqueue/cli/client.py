"""How the client commands (``enqueue``, ``status``) find the server they talk to."""

from __future__ import annotations

import argparse
import json
import os

from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.settings import URL_ENV
from simqueue.service.network import SERVER_FILE

DEFAULT_URL = "http://127.0.0.1:8080"


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """``--url``, ``--data-dir`` (read the URL from its ``server.json``) and ``--timeout``."""
    parser.add_argument("--url", help=f"server URL (default: ${URL_ENV}, else {DEFAULT_URL})")
    parser.add_argument(
        "--data-dir", dest="data_dir", help="find the server's URL in DIR/server.json instead"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for an answer"
    )


def resolve_url(args: argparse.Namespace) -> str:
    """``--url``, else ``$SIMQUEUE_URL``, else the ``server.json`` of ``--data-dir``, else the
    default port on 127.0.0.1."""
    if getattr(args, "url", None):
        return str(args.url).rstrip("/")
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV].rstrip("/")
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        return _url_from_server_file(data_dir)
    return DEFAULT_URL


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


__all__ = ["DEFAULT_URL", "add_client_flags", "resolve_url"]
