"""The data directory's lock: one open queue per directory, in this process or any other.

Two ``flock``\\ s, both exclusive: on the ``LOCK`` file (where people, and older simqueue
versions, look for it; it holds the owner's pid) and on the data directory itself, which cannot
be deleted while the queue runs. Deleting ``LOCK`` under a running queue therefore lets no
second writer in: the newcomer takes a fresh ``LOCK`` and is refused at the directory."""

from __future__ import annotations

import fcntl
import os

from simqueue.core.errors import DataDirLockedError

# The data directory's descriptor held beside each LOCK descriptor take_lock returns.
_DIR_FDS: dict[int, int] = {}


def _flock(fd: int, data_dir: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirLockedError(data_dir) from None


def take_lock(path: str, data_dir: str) -> int:
    """Take the exclusive ``flock`` on the file ``path`` (created if missing) and on the
    directory ``data_dir``, and return the file's descriptor, or raise
    :class:`DataDirLockedError` naming ``data_dir``. The kernel drops both locks when the
    process dies, so a crashed holder never leaves the directory locked."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    _flock(fd, data_dir)
    try:
        dir_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        release_lock(fd)
        raise
    try:
        _flock(dir_fd, data_dir)
    except DataDirLockedError:
        release_lock(fd)
        raise
    _DIR_FDS[fd] = dir_fd
    # The holder's pid, for people: written in place at a fixed width, so taking the lock
    # never truncates a file (a truncate can wait on the file system's journal).
    stamp = f"{os.getpid():<20}\n".encode()
    os.pwrite(fd, stamp, 0)
    if os.fstat(fd).st_size != len(stamp):
        os.ftruncate(fd, len(stamp))
    return fd


def release_lock(fd: int) -> None:
    """Give up a lock :func:`take_lock` returned and close its descriptors."""
    dir_fd = _DIR_FDS.pop(fd, None)
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        if dir_fd is not None:
            os.close(dir_fd)
