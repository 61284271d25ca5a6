"""Fencing tokens that survive crashes: a durable *epoch* per life of the queue, and the token
``(epoch, attempt)`` every dispatch hands out.

An attempt number alone is not unique across crashes: under ``fsync="batch"`` or ``"never"`` a
DISPATCH reaches its worker before it is durable, a power cut takes the record away, and the
recovered queue hands the same attempt number out again. So every open of a data directory
(recovery included) takes a new epoch, one above the last, and makes it durable before the queue
accepts any work: the file ``EPOCH`` is replaced atomically (temp file written and fsynced,
renamed, the directory fsynced). A power cut at any point of that leaves either the old file
(then this open handed out no token: it had not returned) or the new one, whole; the
``TEAR_MODES`` of :mod:`simqueue.core.storage.durability` cannot tear it, since its bytes are
fsynced before its name exists.

A token is one integer, ``epoch << 32 | attempt`` (attempts fit in the WAL's 32 bits): tokens of
one job only grow, across any number of crashes, and none is handed out twice (docs/semantics.md,
"Fencing tokens").
"""

from __future__ import annotations

import os
import zlib
from typing import Protocol

from simqueue.core.errors import StorageError
from simqueue.core.storage import FileSystem

EPOCH_NAME = "EPOCH"
#: The temp file an epoch is written to before it is renamed to ``EPOCH``.
EPOCH_TMP_NAME = EPOCH_NAME + ".tmp"
_ATTEMPT_BITS = 32
_ATTEMPT_MASK = (1 << _ATTEMPT_BITS) - 1


def make_token(epoch: int, attempt: int) -> int:
    """The fencing token of ``attempt`` handed out in ``epoch``."""
    return epoch << _ATTEMPT_BITS | attempt


def token_parts(token: int) -> tuple[int, int]:
    """``(epoch, attempt)`` of a token."""
    return token >> _ATTEMPT_BITS, token & _ATTEMPT_MASK


def describe_token(token: int) -> str:
    """A token as people read it, e.g. ``epoch 3, attempt 2``."""
    epoch, attempt = token_parts(token)
    return f"epoch {epoch}, attempt {attempt}"


def _encode(epoch: int) -> bytes:
    body = f"epoch {epoch}".encode()
    return body + f" crc {zlib.crc32(body):08x}\n".encode()


def parse_epoch(data: bytes) -> int | None:
    """The epoch the bytes of a complete ``EPOCH`` file hold; None for anything else."""
    try:
        body, crc = data.decode("ascii").rstrip("\n").rsplit(" crc ", 1)
        word, number = body.split(" ")
        epoch = int(number)
        ok = word == "epoch" and epoch >= 0 and int(crc, 16) == zlib.crc32(body.encode())
    except ValueError:
        return None
    return epoch if ok else None


def _decode(path: str, data: bytes) -> int:
    epoch = parse_epoch(data)
    if epoch is None:
        raise StorageError(f"{path} is damaged: cannot tell which fencing epoch came last")
    return epoch


def read_epoch(fs: FileSystem, data_dir: str) -> int:
    """The last durable epoch of ``data_dir`` (0 for a directory no queue has opened)."""
    path = os.path.join(data_dir, EPOCH_NAME)
    if not fs.exists(path):
        return 0
    return _decode(path, fs.read_bytes(path))


def advance_epoch(fs: FileSystem, data_dir: str) -> int:
    """Take the next epoch and make it durable before returning it."""
    path = os.path.join(data_dir, EPOCH_NAME)
    tmp = os.path.join(data_dir, EPOCH_TMP_NAME)
    if fs.exists(tmp):  # an open cut short before its rename: that epoch was never used
        fs.remove(tmp)
    epoch = read_epoch(fs, data_dir) + 1
    fs.write_file_durably(tmp, _encode(epoch))
    fs.rename(tmp, path)
    fs.fsync_dir(data_dir)
    return epoch


class _Opened(Protocol):
    fs: FileSystem
    data_dir: str

    def abandon(self) -> None: ...


def open_epoch(queue: _Opened) -> int:
    """The epoch of a queue just opened (recovered) on its directory. If it cannot be made
    durable the queue is abandoned (lock released) and the open fails with a StorageError."""
    try:
        return advance_epoch(queue.fs, queue.data_dir)
    except BaseException as exc:
        queue.abandon()
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write the fencing epoch in {queue.data_dir}: {exc}"
            ) from exc
        raise


__all__ = [
    "EPOCH_NAME",
    "EPOCH_TMP_NAME",
    "advance_epoch",
    "describe_token",
    "make_token",
    "open_epoch",
    "parse_epoch",
    "read_epoch",
    "token_parts",
]
