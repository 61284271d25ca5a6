"""The disk model: what a disk holds after a prefix of a trace, and the disk states a power cut
may turn it into; plus laying such a state out as real files in a scratch directory.

After ``k`` operations the model knows, per file, the bytes written and how many of them an fsync
made durable, and per directory, the entries the last directory fsync made durable and the
creates, renames and deletes since then.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from simqueue.testing.crashsim.recording import Op

DATA_DIR = "q"  # the queue's directory inside each scratch root
_DIR = -1  # a directory entry that is itself a directory

#: A materialized disk state: file path -> bytes, directory path -> None.
Files = dict[str, bytes | None]


@dataclass(frozen=True, slots=True)
class DirOp:
    """A directory change not yet made durable by a directory fsync."""

    kind: str  # create mkdir rename remove
    name: str
    ino: int
    new_name: str = ""  # rename: the new name

    def describe(self) -> str:
        return f"{self.kind} {self.name}" + (f"->{self.new_name}" if self.kind == "rename" else "")


class Disk:
    """What the disk holds after a prefix of a trace, and what a power cut could take away.

    Files are inodes: ``data`` (everything written) of which the first ``synced`` bytes are
    durable (the engine only appends; a truncation is always fsynced), plus the unsynced writes
    as ``(start, end)`` spans. Directories map names to inodes; ``dur`` holds the entries as of
    the last directory fsync, ``pending`` the operations since."""

    def __init__(self, initial: Files) -> None:
        self.data: list[bytearray] = []
        self.synced: list[int] = []
        self.spans: list[list[tuple[int, int]]] = []
        self.cur: dict[str, dict[str, int]] = {"": {}}
        self.dur: dict[str, dict[str, int]] = {"": {}}
        self.pending: dict[str, list[DirOp]] = {"": []}
        for path in sorted(initial, key=lambda p: (p.count(os.sep), p)):
            parent, name = os.path.split(path)
            content = initial[path]
            if content is None:
                target = _DIR
                self.cur[path], self.dur[path], self.pending[path] = {}, {}, []
            else:
                target = self._new(bytes(content))
                self.synced[target] = len(content)
            self.cur[parent][name] = target
            self.dur[parent][name] = target

    def _new(self, content: bytes = b"") -> int:
        self.data.append(bytearray(content))
        self.synced.append(0)
        self.spans.append([])
        return len(self.data) - 1

    def _ino(self, path: str) -> int:
        parent, name = os.path.split(path)
        return self.cur[parent][name]

    def apply(self, op: Op) -> None:
        """Replay one operation of the trace."""
        if op.kind in ("write", "fsync", "truncate"):
            self._apply_to_file(op)
        else:
            self._apply_to_directory(op)

    def _apply_to_file(self, op: Op) -> None:
        ino = self._ino(op.path)
        if op.kind == "write":
            buf = self.data[ino]
            if op.offset != len(buf):
                raise ValueError(f"the model knows appends only: {op.describe()}")
            buf += op.data
            self.spans[ino].append((op.offset, len(buf)))
        elif op.kind == "fsync":
            self.synced[ino] = len(self.data[ino])
            self.spans[ino] = []
        else:  # truncate_durably: cut and fsync
            del self.data[ino][op.size :]
            self.synced[ino] = op.size
            self.spans[ino] = []

    def _apply_to_directory(self, op: Op) -> None:
        kind = op.kind
        parent, name = os.path.split(op.path)
        if kind == "fsync_dir":
            self.dur[op.path] = dict(self.cur[op.path])
            self.pending[op.path] = []
        elif kind == "create":
            ino = self._new()
            self.cur[parent][name] = ino
            self.pending[parent].append(DirOp("create", name, ino))
        elif kind == "mkdir":
            self.cur[parent][name] = _DIR
            self.pending[parent].append(DirOp("mkdir", name, _DIR))
            self.cur[op.path], self.dur[op.path], self.pending[op.path] = {}, {}, []
        elif kind == "rename":
            parent2, name2 = os.path.split(op.path2)
            if parent2 != parent:
                raise ValueError(f"the model knows renames within a directory only: {op}")
            ino = self.cur[parent].pop(name)
            self.cur[parent][name2] = ino
            self.pending[parent].append(DirOp("rename", name, ino, name2))
        elif kind == "remove":
            ino = self.cur[parent].pop(name)
            self.pending[parent].append(DirOp("remove", name, ino))
        else:
            raise ValueError(f"unknown operation {kind!r}")

    # -- what a power cut may leave ----------------------------------------------------------
    def unsynced_files(self) -> list[tuple[int, str]]:
        """(inode, current path) of every reachable file with unsynced bytes."""
        out = []
        for d, entries in self.cur.items():
            for name, ino in entries.items():
                if ino != _DIR and len(self.data[ino]) > self.synced[ino]:
                    out.append((ino, os.path.join(d, name)))
        return sorted(out, key=lambda x: x[1])

    def pending_dirs(self) -> list[str]:
        return sorted(d for d, ops in self.pending.items() if ops)

    def materialize(
        self,
        dirs_all: bool,
        files_all: bool,
        dir_ops: dict[str, list[DirOp]] | None = None,
        contents: dict[int, bytes] | None = None,
    ) -> Files:
        """The files and directories after a power cut in which pending directory operations
        survive if ``dirs_all`` (or as ``dir_ops`` says for some directories) and unsynced bytes
        survive if ``files_all`` (or as ``contents`` says for some inodes)."""
        entries: dict[str, dict[str, int]] = {}
        for d, durable in self.dur.items():
            chosen = dir_ops.get(d) if dir_ops and d in dir_ops else None
            if chosen is None:
                chosen = self.pending[d] if dirs_all else []
            entries[d] = apply_dir_ops(durable, chosen) if chosen else durable
        out: Files = {}
        stack = [""]
        while stack:
            d = stack.pop()
            for name, target in entries.get(d, {}).items():
                path = os.path.join(d, name)
                if target == _DIR:
                    out[path] = None
                    stack.append(path)
                elif contents and target in contents:
                    out[path] = contents[target]
                elif files_all:
                    out[path] = bytes(self.data[target])
                else:
                    out[path] = bytes(self.data[target][: self.synced[target]])
        return out


def apply_dir_ops(durable: dict[str, int], ops: Iterable[DirOp]) -> dict[str, int]:
    """The entries of a directory after those of its pending ``ops`` that survived."""
    entries = dict(durable)
    for op in ops:
        if op.kind in ("create", "mkdir"):
            entries[op.name] = op.ino
        elif op.kind == "rename":  # the new entry names the inode whether or not its create landed
            if entries.get(op.name) == op.ino:
                del entries[op.name]
            entries[op.new_name] = op.ino
        elif op.kind == "remove" and entries.get(op.name) == op.ino:
            del entries[op.name]
    return entries


def state_digest(files: Files) -> bytes:
    """A digest of a materialized state: equal states are recovered once."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(files):
        content = files[path]
        h.update(path.encode() + (b"/D" if content is None else b"/F%d:" % len(content)))
        if content:
            h.update(content)
    return h.digest()


def write_state(root: str, files: Files) -> None:
    """Lay a materialized state out under ``root`` (emptied first)."""
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    for path in sorted(files, key=lambda p: (p.count(os.sep), p)):
        full = os.path.join(root, path)
        content = files[path]
        if content is None:
            os.makedirs(full, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(content)


def read_state(root: str) -> Files:
    """The inverse of :func:`write_state` (the LOCK file is left out: it is only a flock)."""
    out: Files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for name in filenames:
            if name == "LOCK":
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.normpath(os.path.join(rel, name))] = f.read()
    return out


def scratch_dir(prefix: str) -> str:
    """A fresh temporary directory, in memory (``/dev/shm``) when there is one: fsync is
    modeled here, and thousands of recoveries go several times faster without a disk journal."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    return tempfile.mkdtemp(prefix=prefix, dir=base)
