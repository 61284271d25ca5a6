"""The optional C accelerator, ``simqueue/core/wal/_codec.c``, and the switch that turns it off.

Two loops of the durable core cost the most per job and have a C implementation beside their
pure-Python one: framing a WAL record and decoding the WAL records replay reads
(:mod:`simqueue.core.wal.codec`; both a few hundred nanoseconds of ``struct`` and ``zlib`` calls
per record in Python, most of it call overhead, and a CRC-32 that zlib computes slowly for small
records).
The C module is built when the package is installed where a C compiler is at hand; it writes and
reads exactly the bytes the pure-Python code does (the tests check one against the other). Where
it is not built, or with the environment variable ``SIMQUEUE_PURE_PYTHON=1``, simqueue runs in
pure Python, slower and otherwise the same.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

#: Set to anything but "" or "0", this environment variable makes simqueue run in pure Python.
PURE_PYTHON_ENV = "SIMQUEUE_PURE_PYTHON"


def _load() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        return importlib.import_module("simqueue.core.wal._codec")
    except ImportError:
        return None


_CODEC = _load()

#: True when this process uses the C accelerator.
ACCELERATED = _CODEC is not None


def accelerated(name: str, fallback: Any) -> Any:
    """The C implementation of ``name`` when the accelerator is in use, else ``fallback``."""
    return getattr(_CODEC, name) if _CODEC is not None else fallback
