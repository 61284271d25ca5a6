"""The files under a folder, for tests that hold two runs' files to one another byte for byte."""

from __future__ import annotations

import os


def file_bytes(root: str) -> dict[str, bytes]:
    """Every file under ``root``, by its path relative to ``root``, with its contents."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out
