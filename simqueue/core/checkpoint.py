"""Checkpoints: the snapshots of one data directory, and what each makes redundant.

A queue keeps the newest two snapshots: the newest, and the previous one as the fallback should
the newest turn out unreadable. Taking a snapshot writes it (:func:`snapshot.write_snapshot`),
then prunes: snapshots older than the previous one, finished-jobs chunks (and their copies)
neither lists, and WAL segments wholly covered by the *previous* snapshot. The file formats are
in :mod:`simqueue.core.snapshot`.

Consecutive snapshots list the same chunks, so a chunk is the one file whose damage could make
both unreadable while the log they cover is gone: each chunk is therefore written twice (the
chunk and its copy), read from the copy when the chunk is damaged or missing, and put back from
the copy when recovery adopts a snapshot that needed it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from simqueue.core import snapshot as snap
from simqueue.core.errors import CorruptSnapshotError
from simqueue.core.jobs import JobRecord
from simqueue.core.storage import FileSystem
from simqueue.core.wal import WALWriter


class Checkpoints:
    """The snapshots a queue relies on, oldest first, and the chunk list of the newest."""

    def __init__(
        self,
        fs: FileSystem,
        snap_dir: str,
        snapshots: list[tuple[int, str]],
        chunks: list[dict[str, Any]],
    ) -> None:
        self.fs = fs
        self.snap_dir = snap_dir
        #: (last_seq, path) of each snapshot kept, oldest first.
        self.snapshots = snapshots
        #: The chunks the newest snapshot lists (the next one lists them too, or their merge).
        self.chunks = chunks
        # Snapshot path -> the chunks it lists, remembered when written, so pruning does not
        # read the previous snapshot back.
        self._chunks_of: dict[str, set[str]] = {}
        #: Held for the whole of one snapshot: one at a time, and the queue closes between them.
        self.writing = threading.Lock()

    @classmethod
    def found(
        cls, fs: FileSystem, snap_dir: str, adopted: snap.SnapshotState | None
    ) -> Checkpoints:
        """The snapshots on disk, given the one recovery adopted. Only those not newer than it
        count: a snapshot that failed to load must never become the "previous" one that pruning
        keeps as the fallback."""
        if adopted is None:
            return cls(fs, snap_dir, [], [])
        _repair_chunks(fs, snap_dir, adopted)
        kept = [s for s in snap.list_snapshots(fs, snap_dir)[::-1] if s[0] <= adopted.last_seq]
        return cls(fs, snap_dir, kept, list(adopted.chunks))

    def write(
        self,
        last_seq: int,
        now: float,
        live: tuple[bytes, int],
        finished: list[JobRecord],
        counters: dict[str, int],
        window: tuple[int, int] = (0, 0),
    ) -> str:
        """Write the snapshot at ``last_seq`` (and a chunk of the jobs ``finished`` since the
        previous one) durably; returns its path. ``live``: the live jobs' encoded rows and their
        count; ``window``: how many jobs have finished, and the ordinal of the oldest still in
        the retention window. The caller prunes once it has counted it."""
        path, chunks = snap.write_snapshot(
            self.fs, self.snap_dir, last_seq, now, live, finished, self.chunks, counters,
            upto=window[0], keep_from=window[1],
        )  # fmt: skip
        self.chunks = chunks
        self._chunks_of[path] = {m["name"] for m in chunks}
        self.snapshots = [s for s in self.snapshots if s[1] != path] + [(last_seq, path)]
        return path

    def prune(self, writer: WALWriter) -> None:
        """Delete what the newest two snapshots make redundant (see the module docstring)."""
        fs = self.fs
        keep = self.snapshots[-2:]
        removed = False
        for _, path in self.snapshots[:-2]:
            if fs.exists(path):
                fs.remove(path)
                removed = True
        self.snapshots = keep
        referenced = {m["name"] for m in self.chunks}
        names = self._chunks_of
        self._chunks_of = {p: names[p] for _, p in keep if p in names}
        if len(keep) == 2:
            referenced |= self._chunks_listed_by(keep[0][1])
        for name in fs.listdir(self.snap_dir):
            chunk = name.removesuffix(snap.COPY_SUFFIX)
            if _is_chunk(chunk) and chunk not in referenced:
                fs.remove(os.path.join(self.snap_dir, name))
                removed = True
        if removed:
            fs.fsync_dir(self.snap_dir)
        if len(keep) == 2:
            writer.delete_segments_through(keep[0][0])

    def _chunks_listed_by(self, path: str) -> set[str]:
        """The chunks a kept snapshot lists; one written before this process started is read
        once (an unreadable one protects none)."""
        listed = self._chunks_of.get(path)
        if listed is None:
            try:
                listed = snap.snapshot_chunk_names(self.fs, path)
            except CorruptSnapshotError:
                listed = set()
            self._chunks_of[path] = listed
        return listed


def _repair_chunks(fs: FileSystem, snap_dir: str, adopted: snap.SnapshotState) -> None:
    """Put back, durably, each chunk of ``adopted`` that was read from its copy, and each copy
    that is missing (a chunk written by schema 1 has none)."""
    repairs = list(adopted.repairs)
    names = set(fs.listdir(snap_dir))
    for meta in adopted.chunks:
        path = os.path.join(snap_dir, meta["name"])
        if meta["name"] + snap.COPY_SUFFIX not in names:
            try:
                data, _ = snap.read_chunk_file(fs, path, meta)
            except CorruptSnapshotError:
                continue  # read from its copy a moment ago: repaired below
            repairs.append((path + snap.COPY_SUFFIX, data))
    for path, data in repairs:
        tmp = path + snap.TMP_SUFFIX
        fs.write_file_durably(tmp, data)
        fs.rename(tmp, path)
    if repairs:
        fs.fsync_dir(snap_dir)


def _is_chunk(name: str) -> bool:
    return name.startswith(snap.CHUNK_PREFIX) and name.endswith(snap.CHUNK_SUFFIX)


def remove_temp_files(fs: FileSystem, snap_dir: str) -> None:
    """Delete what a snapshot interrupted by a crash left behind (its temp files), durably."""
    removed = False
    for name in fs.listdir(snap_dir):
        if name.endswith(snap.TMP_SUFFIX):
            fs.remove(os.path.join(snap_dir, name))
            removed = True
    if removed:
        fs.fsync_dir(snap_dir)


__all__ = ["Checkpoints", "remove_temp_files"]
