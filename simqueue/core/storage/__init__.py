"""The one module that touches paths, bytes on disk and fsync.

Everything the WAL and the snapshot code do to the disk goes through a :class:`FileSystem`, for
three reasons:

1. **Modeled durability.** Under the virtual clock a simulation may not want to pay for real
   ``os.fsync`` calls. With ``real_fsync=False`` bytes are really written to real files, but an
   fsync only *records* how far the file is durable. A simulated power loss then really cuts,
   tears or garbles each file after that point and really undoes directory changes (creates,
   renames, deletes) that were never made durable by an fsync of their directory.
2. **Power-loss emulation for real fsync too.** With ``track_power_loss=True`` the same
   bookkeeping runs alongside real fsyncs, so a teaching run can "pull the plug" either way.
3. **Fault injection.** Tests subclass it (see :mod:`simqueue.testing.faults`) and override
   :meth:`FileSystem.before` to fail or crash at the Nth operation.
4. **Write-behind (modeled durability only, switched on by the owner).** A simulation hands the
   log to the OS at every group commit: a hundred small ``write`` system calls per simulated
   second, each costing more than the records it carries. While ``write_behind`` is true,
   written bytes wait in the handle (playing the OS page cache) and go to the file in large
   writes: when ``WRITE_BEHIND_BYTES`` have gathered, when the file is read, sized, renamed,
   removed, truncated, closed or cut by a power loss, and at :meth:`FileSystem.drain`. The
   simulation switches it on only inside its event loop and drains when the loop ends, so
   anyone looking at the files between calls sees every written byte. Sizes, fsync offsets and
   the statistics count bytes when they are written, as before.

The model of a power loss follows what POSIX promises and what the ALICE study found real file
systems do: file data survives only up to the last fsync of that file; a new directory entry
(create, rename, unlink) survives only if its directory was fsynced afterwards; the unsynced tail
of a file may vanish, survive in part, or come back as garbage or zeros.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
from dataclasses import dataclass, field

from simqueue.core.errors import DataDirLockedError

# A file's data, and the size needed to read it back, made durable: ``fdatasync`` where the OS
# has it (SQLite's choice too), since the WAL never needs the file's timestamps on disk. Names
# are made durable apart from this, by an fsync of the directory (:meth:`FileSystem.fsync_dir`).
_sync_data = getattr(os, "fdatasync", os.fsync)

TEAR_MODES = ("drop", "prefix", "garble", "zero")
WRITE_BEHIND_BYTES = 1 << 20


class FileHandle:
    """An open file we append to. ``size`` is where the next write lands."""

    __slots__ = ("path", "fd", "size", "behind", "allocated")

    def __init__(self, path: str, fd: int, size: int) -> None:
        self.path = path
        self.fd = fd
        self.size = size  # counts bytes still waiting in ``behind``
        self.allocated = 0  # preallocated file size (0: none); writes land below it
        self.behind: bytearray | None = None  # write-behind bytes not yet in the file


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


@dataclass
class PowerLossReport:
    """What a simulated power loss did to the files."""

    tear: str
    files_cut: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (before, after)
    dir_ops_undone: list[str] = field(default_factory=list)


class FileSystem:
    """Real files; real or modeled fsync; optional power-loss bookkeeping."""

    def __init__(self, *, real_fsync: bool = True, track_power_loss: bool = False) -> None:
        self.real_fsync = real_fsync
        self.track = track_power_loss or not real_fsync
        #: Gather writes in user space (see point 4 above); never with a real fsync.
        self.write_behind = False
        self.stats = IOStats()
        self._synced: dict[str, int] = {}
        self._dir_ops: dict[str, list[tuple]] = {}
        self._behind: list[FileHandle] = []  # handles holding write-behind bytes

    # -- write-behind ----------------------------------------------------------------------------
    def drain(self) -> None:
        """Put every write-behind byte into its file (a no-op without write-behind)."""
        for handle in self._behind:
            self._drain(handle)
        self._behind.clear()

    def _drain(self, handle: FileHandle) -> None:
        data = handle.behind
        if data and handle.fd >= 0:
            self._write_all(handle, bytes(data))
        handle.behind = None

    def _write_all(self, handle: FileHandle, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(handle.fd, view)
            if n <= 0:  # pragma: no cover - os.write raises instead on real systems
                raise OSError(errno.EIO, "short write", handle.path)
            view = view[n:]

    # -- hook for fault injection -----------------------------------------------------------
    def before(self, op: str, path: str) -> None:
        """Called before every mutating operation. Fault-injecting subclasses raise here."""

    # -- reading -------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))

    def size(self, path: str) -> int:
        if self._behind:
            self.drain()
        return os.path.getsize(path)

    def read_bytes(self, path: str) -> bytes:
        if self._behind:
            self.drain()
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
            os.mkdir(d)
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
        if self.track:
            self._dir_ops.pop(os.path.abspath(path), None)

    # -- files ---------------------------------------------------------------------------------
    def create(self, path: str) -> FileHandle:
        """A new, empty file opened for appending. Fails if it exists. (Not ``O_APPEND``: the
        file offset, which only our writes move, is the end of what was written, also when the
        file was preallocated beyond it.)"""
        self.before("create", path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if self.track:
            self._synced[path] = 0
            self._dir_op(path, ("create", path))
        return FileHandle(path, fd, 0)

    def open_append(self, path: str) -> FileHandle:
        if self._behind:
            self.drain()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        size = os.fstat(fd).st_size
        if self.track:
            self._synced.setdefault(path, size)
        return FileHandle(path, fd, size)

    def write(self, handle: FileHandle, data: bytes) -> None:
        """Hand ``data`` to the OS (it survives a process crash, not yet a power loss)."""
        self.before("write", handle.path)
        if self.write_behind and len(data) < WRITE_BEHIND_BYTES:
            behind = handle.behind
            if behind is None:
                behind = handle.behind = bytearray()
                self._behind.append(handle)
            behind += data
            handle.size += len(data)
            if len(behind) >= WRITE_BEHIND_BYTES:
                self._drain(handle)
                self._behind.remove(handle)
        else:
            if handle.behind is not None:  # keep the order of the bytes
                self._drain(handle)
                self._behind.remove(handle)
            n = os.write(handle.fd, data)
            handle.size += n
            if n < len(data):  # a short write: keep going until all of it is in
                self._write_all(handle, data[n:])
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
                self._drain(handle)
                self._behind.remove(handle)
            _sync_data(handle.fd)
        if self.track:
            self._synced[handle.path] = handle.size

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
            self._drain(handle)
            self._behind.remove(handle)
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
        if self._behind:
            self.drain()
        self.stats.truncates += 1
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            self.stats.fsyncs += 1
            if self.real_fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.track:
            self._synced[path] = size

    def rename(self, src: str, dst: str) -> None:
        """Atomic replace. Durable only after :meth:`fsync_dir` of the directory."""
        self.before("rename", dst)
        if self._behind:
            self.drain()
        saved = None
        if self.track and os.path.exists(dst):
            saved = self._durable_content(dst)
        os.rename(src, dst)
        self.stats.renames += 1
        if self.track:
            self._synced[dst] = self._synced.pop(src, os.path.getsize(dst))
            self._dir_op(dst, ("rename", src, dst, saved))

    def remove(self, path: str) -> None:
        """Unlink. Durable only after :meth:`fsync_dir` of the directory."""
        self.before("remove", path)
        if self._behind:
            self.drain()
        saved = self._durable_content(path) if self.track else None
        os.remove(path)
        self.stats.removes += 1
        if self.track:
            self._synced.pop(path, None)
            self._dir_op(path, ("remove", path, saved))

    # -- locking -------------------------------------------------------------------------------
    def lock(self, path: str, data_dir: str) -> int:
        """Take the data directory's exclusive lock, or raise :class:`DataDirLockedError`."""
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

    def unlock(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # -- power loss ----------------------------------------------------------------------------
    def _dir_op(self, path: str, op: tuple) -> None:
        self._dir_ops.setdefault(os.path.dirname(os.path.abspath(path)), []).append(op)

    def _durable_content(self, path: str) -> bytes:
        data = self.read_bytes(path)
        return data[: self._synced.get(path, len(data))]

    def unsynced_bytes(self) -> int:
        """How many written bytes a power loss right now could take away."""
        if self._behind:
            self.drain()
        total = 0
        for path, synced in self._synced.items():
            if os.path.exists(path):
                total += max(0, os.path.getsize(path) - synced)
        return total

    def power_loss(self, rng: random.Random, tear: str = "drop") -> PowerLossReport:
        """Leave the files as a power cut right now would: unsynced file tails dropped, kept in
        part, garbled or zeroed (``tear``), and directory changes not yet fsynced undone."""
        if tear not in TEAR_MODES:
            raise ValueError(f"tear must be one of {TEAR_MODES}, got {tear!r}")
        if not self.track:
            raise ValueError("power_loss needs a FileSystem with track_power_loss=True")
        self.drain()  # what reached the OS is in its page cache: the cut below decides its fate
        report = PowerLossReport(tear=tear)
        for path, synced in sorted(self._synced.items()):
            if not os.path.exists(path):
                continue
            size = os.path.getsize(path)
            if size <= synced:
                continue
            keep = synced if tear == "drop" else rng.randint(synced, size)
            with open(path, "r+b") as f:
                f.truncate(keep)
                if tear in ("garble", "zero") and keep > synced:
                    f.seek(synced)
                    n = keep - synced
                    f.write(bytes(n) if tear == "zero" else rng.randbytes(n))
            report.files_cut[path] = (size, keep)
        for _directory, ops in sorted(self._dir_ops.items()):
            survive = 0 if tear == "drop" else rng.randint(0, len(ops))
            for op in reversed(ops[survive:]):
                self._undo(op)
                report.dir_ops_undone.append(_describe(op))
        self._dir_ops.clear()
        self._synced = {}
        return report

    @staticmethod
    def _undo(op: tuple) -> None:
        kind = op[0]
        if kind == "create":
            if os.path.exists(op[1]):
                os.remove(op[1])
        elif kind == "rename":
            _, src, dst, saved = op
            if os.path.exists(dst):
                os.rename(dst, src)
            if saved is not None:
                with open(dst, "wb") as f:
                    f.write(saved)
        elif kind == "remove":
            _, path, saved = op
            with open(path, "wb") as f:
                f.write(saved or b"")


def _describe(op: tuple) -> str:
    if op[0] == "rename":
        return f"rename {os.path.basename(op[1])} -> {os.path.basename(op[2])}"
    return f"{op[0]} {os.path.basename(op[1])}"
