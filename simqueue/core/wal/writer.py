"""Appending to the log: segments, records, group-commit bookkeeping, preallocation.

Writing rules
-------------
Records are encoded into a user-space buffer; :meth:`WALWriter.flush` hands the buffer to the OS
(survives a process crash) and :meth:`WALWriter.sync` also fsyncs it (survives a power cut). A
new segment is made durable (header fsynced, directory fsynced) before any record goes into it,
and the old segment is fsynced before the switch, so only the last segment can ever be torn.

Under real fsync, a new segment is also allocated to its full size when it is created
(``posix_fallocate``, flag PREALLOCATED) and records are written into that space: an append then
never changes the file's size, so its fsync (an ``fdatasync``) does not have to make a new size
durable too (what that saves under ``fsync="always"``: ``docs/performance-history.md``). The
unused space is cut off (``ftruncate``, fsynced) when the segment is finished or the log is
closed, before any newer segment exists, so only the last segment ever has it. Modeled
durability, which only simulates fsync, does not preallocate.
"""

from __future__ import annotations

import os
import struct

from simqueue.core.storage import FileHandle, FileSystem
from simqueue.core.wal.codec import frame_into
from simqueue.core.wal.format import PREALLOCATED, encode_header, segment_name

_FIELDS = (("time", "d"), ("attempt", "I"), ("worker", "i"), ("extra", "d"), ("reason", "B"))


def refusal(
    exc: Exception,
    time: float,
    attempt: int,
    worker: int,
    extra: float,
    reason: int,
    job_id: bytes,
    payload: bytes,
) -> ValueError:
    """The one-line :class:`ValueError` for a record the codec refused: which field, which
    value (found by packing each field on its own, off the hot path)."""
    for (name, code), value in zip(_FIELDS, (time, attempt, worker, extra, reason), strict=True):
        try:
            struct.pack("<" + code, value)
        except (struct.error, TypeError, OverflowError, ValueError) as err:
            return ValueError(f"WAL record field {name} refused: {value!r} ({err})")
    if not isinstance(job_id, bytes) or len(job_id) > 0xFFFF:
        return ValueError(f"WAL record field job id refused (over 65535 bytes or not bytes): {exc}")
    return ValueError(f"WAL record refused: {exc} (payload of {len(payload)} bytes)")


def _no_segment() -> ValueError:
    return ValueError("WAL write with no open segment (the writer was closed or abandoned)")


class WALWriter:
    """Appends records to the newest segment. Single-threaded; callers serialise access.

    ``written_seq`` is the last record handed to the OS, ``durable_seq`` the last one fsynced:
    what group commit reads to know which records it may acknowledge."""

    def __init__(
        self,
        fs: FileSystem,
        wal_dir: str,
        next_seq: int,
        segment_bytes: int,
        segments: list[tuple[int, str]],
    ) -> None:
        self.fs = fs
        self.wal_dir = wal_dir
        self.segment_bytes = segment_bytes
        self.segments = list(segments)  # (first_seq, path), oldest first, including current
        self.next_seq = next_seq
        self.written_seq = next_seq - 1  # handed to the OS
        self.durable_seq = next_seq - 1  # fsynced
        self.bytes_total = 0
        self._buf = bytearray()
        self._handle: FileHandle | None = None  # the segment appended to; None once closed
        self._closed_sizes: dict[str, int] = {}  # segments no longer appended to never change

    def bytes_on_disk(self) -> int:
        """Bytes in every segment still on disk plus the buffer, without a stat per call."""
        total = len(self._buf)
        current = self._handle
        for _, path in self.segments:
            if current is not None and path == current.path:
                total += current.size
                continue
            size = self._closed_sizes.get(path)
            if size is None:
                try:
                    size = self.fs.size(path)
                except FileNotFoundError:
                    size = 0
                self._closed_sizes[path] = size
            total += size
        return total

    # -- segments ---------------------------------------------------------------------------
    def open_new_segment(self) -> None:
        """Start a segment at ``next_seq``: header written and fsynced, directory fsynced."""
        path = os.path.join(self.wal_dir, segment_name(self.next_seq))
        handle = self.fs.create(path)
        prealloc = self.fs.can_preallocate
        self.fs.write(handle, encode_header(self.next_seq, PREALLOCATED if prealloc else 0))
        if prealloc:
            self.fs.preallocate(handle, self.segment_bytes)
        self.fs.fsync(handle)
        self.fs.fsync_dir(self.wal_dir)
        self._handle = handle
        self.segments.append((self.next_seq, path))

    def roll(self) -> None:
        """Finish the current segment durably and start the next one."""
        # Not ``sync()``: that rolls a full segment, and the segment being finished is full.
        self._write_and_fsync()
        if self._handle is not None:
            self.fs.release_preallocation(self._handle)  # before any newer segment exists
            self.fs.close(self._handle)
        self.open_new_segment()

    @property
    def segment_size(self) -> int:
        return self._handle.size + len(self._buf) if self._handle else 0

    # -- appending --------------------------------------------------------------------------
    def append(
        self,
        rtype: int,
        job_id: bytes,
        time: float,
        attempt: int = 0,
        worker: int = -1,
        extra: float = 0.0,
        reason: int = 0,
        payload: bytes = b"",
    ) -> int:
        """Encode one record into the buffer and return its seq. Not yet visible to the OS.

        A field the format cannot hold raises :class:`ValueError` naming it, before any seq is
        taken or any byte buffered (both codecs check every field before they append)."""
        seq = self.next_seq
        try:
            frame_into(self._buf, rtype, seq, time, attempt, worker, extra, reason, job_id, payload)
        except (struct.error, TypeError, OverflowError, ValueError) as exc:
            raise refusal(exc, time, attempt, worker, extra, reason, job_id, payload) from None
        self.next_seq = seq + 1
        return seq

    @property
    def buffered(self) -> int:
        return self.next_seq - 1 - self.written_seq

    def buffered_bytes(self) -> bytes:
        """A copy of the records appended but not yet handed to the OS (what a process crash
        loses), for views of the log such as the step view's."""
        return bytes(self._buf)

    def flush(self) -> None:
        """Hand buffered records to the OS: they now survive a process crash."""
        handle = self._write_buffer()
        if handle.size >= self.segment_bytes:
            self.roll()

    def sync(self) -> None:
        """Flush and fsync: everything appended so far survives a power cut."""
        self._write_and_fsync()
        handle = self._handle
        if handle is not None and handle.size >= self.segment_bytes:
            self.roll()

    def _write_buffer(self) -> FileHandle:
        """Hand the buffered records to the current segment; return that segment's handle."""
        handle = self._handle
        if handle is None:
            raise _no_segment()
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self.fs.write(handle, data)
            self.bytes_total += len(data)
        self.written_seq = self.next_seq - 1
        return handle

    # -- group commit from outside the writer ------------------------------------------------
    # A committer that fsyncs without holding the queue's mutex (``always`` under threads) hands
    # the buffer over, fsyncs the handle itself, then reports back; appends go on meanwhile.
    def write_for_fsync(self) -> tuple[FileHandle, int]:
        """Hand the buffer to the OS; the segment to fsync and the seq that fsync will cover."""
        return self._write_buffer(), self.written_seq

    def fsynced(self, handle: FileHandle, upto: int) -> None:
        """An fsync of ``handle`` covered the records through ``upto``; roll that segment if it
        is still the current one and full."""
        if upto > self.durable_seq:
            self.durable_seq = upto
        if handle is self._handle and handle.size >= self.segment_bytes:
            self.roll()

    def continue_segment(self, path: str) -> None:
        """Append into the existing segment ``path`` (listed already, holding no records)."""
        self._handle = self.fs.open_append(path)

    def _write_and_fsync(self) -> None:
        """Write the buffer to the current segment and fsync it, without rolling."""
        handle = self._write_buffer()
        if self.durable_seq < self.written_seq:
            self.fs.fsync(handle)
            self.durable_seq = self.written_seq

    def close(self, release: bool = True) -> None:
        """Close the current segment; with ``release`` (after a successful final sync) first cut
        its unused preallocated space, so a cleanly closed log ends at its last record."""
        if self._handle is not None:
            if release:
                self.fs.release_preallocation(self._handle)
            self.fs.close(self._handle)
            self._handle = None

    def abandon(self) -> None:
        """A process crash: user-space buffer lost, file descriptor closed by the kernel."""
        self._buf.clear()
        self.close(release=False)  # a killed process cuts nothing: its zeros stay

    def delete_segments_through(self, seq: int) -> list[str]:
        """Delete segments whose every record has seq <= ``seq`` (never the current one).

        Oldest first, each deletion made durable (directory fsync) before the next: a power cut
        may persist unsynced deletions in any order, and losing an older one while a newer one
        sticks would leave a gap in the log that recovery must refuse as corruption (the crash
        campaign, :mod:`simqueue.testing.crashsim`, cuts power between these steps)."""
        removed = []
        while len(self.segments) > 1 and self.segments[1][0] - 1 <= seq:
            _, path = self.segments.pop(0)
            self._closed_sizes.pop(path, None)
            self.fs.remove(path)
            self.fs.fsync_dir(self.wal_dir)
            removed.append(path)
        return removed
