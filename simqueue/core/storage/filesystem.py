"""The :class:`FileSystem`: real files, real or modeled fsync, and the hook faults attach to."""

from __future__ import annotations

import errno
import os
import random
from dataclasses import dataclass

from simqueue.core.checks import choice
from simqueue.core.storage.durability import TEAR_MODES, PowerLossReport, Tracked, Untracked
from simqueue.core.storage.handle import FileHandle, write_all
from simqueue.core.storage.lock import release_lock, take_lock
from simqueue.core.storage.write_behind import WriteBehind

# A file's data, and the size needed to read it back, made durable: ``fdatasync`` where the OS
# has it (SQLite's choice too), since the WAL never needs the file's timestamps on disk. Names
# are made durable apart from this, by an fsync of the directory (:meth:`FileSystem.fsync_dir`).
_sync_data = getattr(os, "fdatasync", os.fsync)


@dataclass
class IOStats:
    """Counters a notebook or benchmark can read: the cost of durability made visible."""

    writes: int = 0
    bytes_written: int = 0
    fsyncs: int = 0
    dir_fsyncs: int = 0
    renames: int = 0
    removes: int = 0
    truncates: int = 0


#: Modes of the files and directories the queue creates (before the umask): the WAL holds
#: payloads, so only the owner reads it.
FILE_MODE = 0o600
DIR_MODE = 0o700


class FileSystem:
    """Real files; real or modeled fsync; optional power-loss bookkeeping (see the package
    docstring). ``real_fsync=False`` implies the bookkeeping: an fsync then only records how
    far a file is durable, and :meth:`power_loss` makes that true."""

    def __init__(self, *, real_fsync: bool = True, track_power_loss: bool = False) -> None:
        self.real_fsync = real_fsync
        self.track = track_power_loss or not real_fsync
        #: Gather writes in user space (:mod:`~simqueue.core.storage.write_behind`); for modeled
        #: durability only, switched on by the owner.
        self.write_behind = False
        self.stats = IOStats()
        self._model = Tracked() if self.track else Untracked()
        self._gathered = WriteBehind()

    def drain(self) -> None:
        """Put every write-behind byte into its file (a no-op without write-behind)."""
        self._gathered.drain()

    # -- hook for fault injection -----------------------------------------------------------
    def before(self, op: str, path: str) -> None:
        """Called before every mutating operation. Fault-injecting subclasses raise here."""

    # -- reading -------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def size(self, path: str) -> int:
        self._gathered.drain()
        return os.path.getsize(path)

    def read_bytes(self, path: str) -> bytes:
        self._gathered.drain()
        with open(path, "rb") as f:
            return f.read()

    # -- directories ---------------------------------------------------------------------------
    def makedirs(self, path: str) -> None:
        """Create ``path`` (and parents) and make the new entries durable."""
        missing = []
        p = os.path.abspath(path)
        while not os.path.isdir(p):
            missing.append(p)
            p = os.path.dirname(p)
        for d in reversed(missing):
            self.before("mkdir", d)
            os.mkdir(d, DIR_MODE)
            self.fsync_dir(os.path.dirname(d))

    def fsync_dir(self, path: str) -> None:
        """Make creates, renames and deletes inside ``path`` durable."""
        self.before("fsync_dir", path)
        self.stats.dir_fsyncs += 1
        if self.real_fsync:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._model.dir_synced(path)

    # -- files ---------------------------------------------------------------------------------
    def create(self, path: str) -> FileHandle:
        """A new, empty file opened for appending. Fails if it exists. (Not ``O_APPEND``: the
        file offset, which only our writes move, is the end of what was written, also when the
        file was preallocated beyond it.)"""
        self.before("create", path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        self._model.created(path)
        return FileHandle(path, fd, 0)

    def open_append(self, path: str) -> FileHandle:
        self._gathered.drain()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        size = os.fstat(fd).st_size
        self._model.opened(path, size)
        return FileHandle(path, fd, size)

    def write(self, handle: FileHandle, data: bytes) -> None:
        """Hand ``data`` to the OS (it survives a process crash, not yet a power loss)."""
        self.before("write", handle.path)
        if not (self.write_behind and self._gathered.gather(handle, data)):
            if handle.behind is not None:  # keep the order of the bytes
                self._gathered.put(handle)
            n = os.write(handle.fd, data)
            handle.size += n
            if n < len(data):  # a short write: keep going until all of it is in
                write_all(handle, data[n:])
                handle.size += len(data) - n
        self.stats.writes += 1
        self.stats.bytes_written += len(data)

    def fsync(self, handle: FileHandle) -> None:
        """Make everything written to ``handle`` so far durable (``fdatasync`` where the OS has
        it: the data and the file size, not the timestamps)."""
        self.before("fsync", handle.path)
        self.stats.fsyncs += 1
        if self.real_fsync:
            if handle.behind is not None:  # a real fsync must find every byte in the file
                self._gathered.put(handle)
            _sync_data(handle.fd)
        self._model.synced(handle.path, handle.size)

    @property
    def can_preallocate(self) -> bool:
        """Whether :meth:`preallocate` allocates: only under real fsync (modeled durability
        gains nothing from it) and where the OS offers ``posix_fallocate``."""
        return self.real_fsync and hasattr(os, "posix_fallocate")

    def preallocate(self, handle: FileHandle, size: int) -> None:
        """Allocate a file made by :meth:`create` to ``size`` bytes (zeros beyond what was
        written), so later writes below ``size`` never change its size and their fsync need not
        make a new size durable. Durable with the file's next fsync. A file system without
        fallocate is left as it is; no space on the disk is an error, as for a write."""
        if not self.can_preallocate or handle.size >= size:
            return
        self.before("preallocate", handle.path)
        try:
            os.posix_fallocate(handle.fd, 0, size)
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                return
            raise
        handle.allocated = size

    def release_preallocation(self, handle: FileHandle) -> None:
        """Cut a preallocated file back to what was written, durably: done when the file is
        finished, so only the file being written ever has unused space."""
        if handle.allocated:
            self.truncate_durably(handle.path, handle.size)
            handle.allocated = 0

    def close(self, handle: FileHandle) -> None:
        if handle.behind is not None:
            self._gathered.put(handle)
        if handle.fd >= 0:
            os.close(handle.fd)
            handle.fd = -1

    def write_file_durably(self, path: str, data: bytes) -> None:
        """Create ``path`` with ``data`` and fsync it (not its directory: callers rename next)."""
        handle = self.create(path)
        try:
            self.write(handle, data)
            self.fsync(handle)
        finally:
            self.close(handle)

    def truncate_durably(self, path: str, size: int) -> None:
        """Cut ``path`` to ``size`` bytes and fsync, so a later append cannot land after junk."""
        self.before("truncate", path)
        self._gathered.drain()
        self.stats.truncates += 1
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            self.stats.fsyncs += 1
            if self.real_fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self._model.synced(path, size)

    def rename(self, src: str, dst: str) -> None:
        """Atomic replace. Durable only after :meth:`fsync_dir` of the directory."""
        self.before("rename", dst)
        self._gathered.drain()
        replaced = self._model.durable_content(dst)
        os.rename(src, dst)
        self.stats.renames += 1
        self._model.renamed(src, dst, replaced)

    def remove(self, path: str) -> None:
        """Unlink. Durable only after :meth:`fsync_dir` of the directory."""
        self.before("remove", path)
        self._gathered.drain()
        content = self._model.durable_content(path)
        os.remove(path)
        self.stats.removes += 1
        self._model.removed(path, content)

    # -- locking -------------------------------------------------------------------------------
    def lock(self, path: str, data_dir: str) -> int:
        """Take the data directory's exclusive lock, or raise
        :class:`~simqueue.core.errors.DataDirLockedError` (see :mod:`.lock`)."""
        return take_lock(path, data_dir)

    def unlock(self, fd: int) -> None:
        release_lock(fd)

    # -- power loss ----------------------------------------------------------------------------
    def unsynced_bytes(self) -> int:
        """How many written bytes a power loss right now could take away."""
        self._gathered.drain()
        return self._model.unsynced_bytes()

    def power_loss(self, rng: random.Random, tear: str = "drop") -> PowerLossReport:
        """Leave the files as a power cut right now would: unsynced file tails dropped, kept in
        part, garbled or zeroed (``tear``), and directory changes not yet fsynced undone."""
        choice("tear", tear, TEAR_MODES)
        model = self._model
        if not isinstance(model, Tracked):
            raise ValueError("power_loss needs a FileSystem with track_power_loss=True")
        self._gathered.drain()  # what reached the OS is in its page cache: the cut decides
        return model.cut(rng, tear)
