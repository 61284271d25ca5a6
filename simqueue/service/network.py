"""Where the server listens and how much it accepts: the defaults the server and the settings
loader share, and the test for an address that only this machine can reach."""

from __future__ import annotations

import ipaddress

#: The port ``simqueue run`` binds when none is given.
DEFAULT_PORT = 8080

#: The largest request body the server reads (a bigger one is refused with 413).
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (the safe default for an unauthenticated API)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
