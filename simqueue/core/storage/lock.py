"""The data directory's lock: one open queue per directory, in this process or any other."""

from __future__ import annotations

import fcntl
import os

from simqueue.core.errors import DataDirLockedError


def take_lock(path: str, data_dir: str) -> int:
    """Take the exclusive ``flock`` on the file ``path`` (created if missing) and return its
    descriptor, or raise :class:`DataDirLockedError` naming ``data_dir``. The kernel drops the
    lock when the process dies, so a crashed holder never leaves the directory locked."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLockedError(data_dir) from None
    # The holder's pid, for people: written in place at a fixed width, so taking the lock
    # never truncates a file (a truncate can wait on the file system's journal).
    stamp = f"{os.getpid():<20}\n".encode()
    os.pwrite(fd, stamp, 0)
    if os.fstat(fd).st_size != len(stamp):
        os.ftruncate(fd, len(stamp))
    return fd


def release_lock(fd: int) -> None:
    """Give up a lock :func:`take_lock` returned and close its descriptor."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
