"""An open file the durable core appends to, and the loop that writes every byte of a buffer."""

from __future__ import annotations

import errno
import os


class FileHandle:
    """An open file we append to. ``size`` is where the next write lands."""

    __slots__ = ("path", "fd", "size", "behind", "allocated")

    def __init__(self, path: str, fd: int, size: int) -> None:
        self.path = path
        self.fd = fd
        self.size = size  # counts bytes still waiting in ``behind``
        self.allocated = 0  # preallocated file size (0: none); writes land below it
        self.behind: bytearray | None = None  # write-behind bytes not yet in the file


def write_all(handle: FileHandle, data: bytes) -> None:
    """Write all of ``data`` at the handle's file offset, however many ``write`` calls it takes
    (a pipe, a signal or a full disk can make one write short). Does not move ``size``."""
    view = memoryview(data)
    while view:
        n = os.write(handle.fd, view)
        if n <= 0:  # pragma: no cover - os.write raises instead on real systems
            raise OSError(errno.EIO, "short write", handle.path)
        view = view[n:]
