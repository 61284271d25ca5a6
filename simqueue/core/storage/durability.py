"""Modeled durability: what of the files a power cut right now would leave.

The model follows what POSIX promises and what the ALICE study found real file systems do: file
data survives only up to the last fsync of that file; a new directory entry (create, rename,
unlink) survives only if its directory was fsynced afterwards; the unsynced tail of a file may
vanish, survive in part, or come back as garbage or zeros (the ``TEAR_MODES``).

A :class:`~simqueue.core.storage.FileSystem` tells its model about every operation (the model
changes no file until :meth:`Tracked.cut`). :class:`Untracked` is the model of a file system
that emulates no power loss: it keeps nothing.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

#: What a power cut does to a file's unsynced tail: ``drop`` it, keep a random ``prefix`` of it,
#: keep a prefix of random bytes (``garble``) or of zeros (``zero``).
TEAR_MODES = ("drop", "prefix", "garble", "zero")


@dataclass
class PowerLossReport:
    """What a simulated power loss did to the files."""

    tear: str
    files_cut: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> (before, after)
    dir_ops_undone: list[str] = field(default_factory=list)


# The directory changes as plain classes, not dataclasses: making a dataclass costs more at
# import than everything else in this package.
class _Create:
    """A new file whose directory entry is not yet durable."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def undo(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)

    def describe(self) -> str:
        return f"create {os.path.basename(self.path)}"


class _Rename:
    """A rename not yet durable; ``replaced`` is the durable content of the file it replaced."""

    __slots__ = ("src", "dst", "replaced")

    def __init__(self, src: str, dst: str, replaced: bytes | None) -> None:
        self.src = src
        self.dst = dst
        self.replaced = replaced

    def undo(self) -> None:
        if os.path.exists(self.dst):
            os.rename(self.dst, self.src)
        if self.replaced is not None:
            with open(self.dst, "wb") as f:
                f.write(self.replaced)

    def describe(self) -> str:
        return f"rename {os.path.basename(self.src)} -> {os.path.basename(self.dst)}"


class _Remove:
    """An unlink not yet durable, with the durable content the file comes back with."""

    __slots__ = ("path", "content")

    def __init__(self, path: str, content: bytes) -> None:
        self.path = path
        self.content = content

    def undo(self) -> None:
        with open(self.path, "wb") as f:
            f.write(self.content)

    def describe(self) -> str:
        return f"remove {os.path.basename(self.path)}"


_DirOp = _Create | _Rename | _Remove


class Untracked:
    """The model of a file system without power-loss emulation: every hook does nothing."""

    def created(self, path: str) -> None:
        """``path`` was created, empty."""

    def opened(self, path: str, size: int) -> None:
        """An existing ``path`` of ``size`` bytes was opened for appending."""

    def synced(self, path: str, size: int) -> None:
        """The first ``size`` bytes of ``path`` are durable (an fsync, or a durable truncate)."""

    def dir_synced(self, path: str) -> None:
        """The entries of directory ``path`` are durable."""

    def durable_content(self, path: str) -> bytes | None:
        """What of ``path`` a power cut would leave (``None``: no such file, or not tracked)."""
        return None

    def renamed(self, src: str, dst: str, replaced: bytes | None) -> None:
        """``src`` was renamed over ``dst``, whose durable content was ``replaced``."""

    def removed(self, path: str, content: bytes | None) -> None:
        """``path``, whose durable content was ``content``, was unlinked."""

    def unsynced_bytes(self) -> int:
        """How many written bytes a power loss right now could take away."""
        return 0


class Tracked(Untracked):
    """The durable size of every file written, and the directory changes not yet durable."""

    def __init__(self) -> None:
        self._synced: dict[str, int] = {}
        self._dir_ops: dict[str, list[_DirOp]] = {}

    def created(self, path: str) -> None:
        self._synced[path] = 0
        self._dir_op(path, _Create(path))

    def opened(self, path: str, size: int) -> None:
        self._synced.setdefault(path, size)

    def synced(self, path: str, size: int) -> None:
        self._synced[path] = size

    def dir_synced(self, path: str) -> None:
        self._dir_ops.pop(os.path.abspath(path), None)

    def durable_content(self, path: str) -> bytes | None:
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            data = f.read()
        return data[: self._synced.get(path, len(data))]

    def renamed(self, src: str, dst: str, replaced: bytes | None) -> None:
        self._synced[dst] = self._synced.pop(src, os.path.getsize(dst))
        self._dir_op(dst, _Rename(src, dst, replaced))

    def removed(self, path: str, content: bytes | None) -> None:
        self._synced.pop(path, None)
        self._dir_op(path, _Remove(path, content or b""))

    def unsynced_bytes(self) -> int:
        total = 0
        for path, synced in self._synced.items():
            if os.path.exists(path):
                total += max(0, os.path.getsize(path) - synced)
        return total

    def _dir_op(self, path: str, op: _DirOp) -> None:
        self._dir_ops.setdefault(os.path.dirname(os.path.abspath(path)), []).append(op)

    def cut(self, rng: random.Random, tear: str) -> PowerLossReport:
        """Leave the files as a power cut now would, and start over with nothing unsynced:
        each unsynced file tail torn by ``tear`` (one of ``TEAR_MODES``), and the directory
        changes not yet fsynced undone (all of them for ``drop``, else a random latest part)."""
        report = PowerLossReport(tear=tear)
        for path, synced in sorted(self._synced.items()):
            cut = _tear_file(path, synced, rng, tear)
            if cut is not None:
                report.files_cut[path] = cut
        for _directory, ops in sorted(self._dir_ops.items()):
            survive = 0 if tear == "drop" else rng.randint(0, len(ops))
            for op in reversed(ops[survive:]):
                op.undo()
                report.dir_ops_undone.append(op.describe())
        self._dir_ops.clear()
        self._synced = {}
        return report


def _tear_file(path: str, synced: int, rng: random.Random, tear: str) -> tuple[int, int] | None:
    """Tear what of ``path`` lies past its first ``synced`` bytes; (size before, after), or
    ``None`` for a file that is gone or has nothing unsynced."""
    if not os.path.exists(path):
        return None
    size = os.path.getsize(path)
    if size <= synced:
        return None
    keep = synced if tear == "drop" else rng.randint(synced, size)
    with open(path, "r+b") as f:
        f.truncate(keep)
        if tear in ("garble", "zero") and keep > synced:
            f.seek(synced)
            n = keep - synced
            f.write(bytes(n) if tear == "zero" else rng.randbytes(n))
    return size, keep
