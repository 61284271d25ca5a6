"""Where the server listens and how much it accepts: the defaults the server and the settings
loader share, the test for an address that only this machine can reach, and ``server.json``,
which tells clients on this machine where a data directory's server listens."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os

#: The port ``simqueue run`` binds when none is given.
DEFAULT_PORT = 8080

#: Written into the data directory once the server listens: url, host, port, pid.
SERVER_FILE = "server.json"

#: The largest request body the server reads (a bigger one is refused with 413).
DEFAULT_MAX_BODY = 16 * 1024 * 1024
#: Finished jobs a server remembers (its duplicate-id window) unless configured otherwise: a
#: server runs for months, so its memory and recovery must follow a window, not its history.
DEFAULT_RETAIN_FINISHED = 100_000


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (the safe default for an unauthenticated API)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def non_loopback_warning(host: str) -> str | None:
    """The warning ``simqueue run`` prints when the API would be reachable from elsewhere."""
    if is_loopback(host):
        return None
    return (
        f"warning: binding to {host}: the API has no authentication; anyone who can reach this "
        "address can read job payloads (and, without --token-file, enqueue jobs)"
    )


def write_server_file(data_dir: str, url: str, host: str, port: int, started_at: float) -> None:
    """Record this process's address (url, host, port, pid) in ``server.json``, atomically: a
    reader sees the old address or the new one."""
    info = {"url": url, "host": host, "port": port, "pid": os.getpid(), "started_at": started_at}
    path = os.path.join(data_dir, SERVER_FILE)
    tmp = path + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
        fh.write("\n")
    os.replace(tmp, path)


def remove_server_file(data_dir: str) -> None:
    """The server stopped listening; a missing file is fine."""
    with contextlib.suppress(OSError):
        os.remove(os.path.join(data_dir, SERVER_FILE))
