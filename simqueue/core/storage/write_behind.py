"""Write-behind: written bytes wait in their handle, as in the OS page cache, and reach the file
in large writes.

A simulation hands the log to the OS at every group commit: a hundred small ``write`` system
calls per simulated second, each costing more than the records it carries. While a
:class:`~simqueue.core.storage.FileSystem` has ``write_behind`` on (modeled durability only: a
real fsync must find every byte in the file), its writes go through :meth:`WriteBehind.gather`,
and the gathered bytes go to the file when ``WRITE_BEHIND_BYTES`` have gathered, and whenever
anything could tell the difference: the file is read, sized, renamed, removed, truncated, closed
or cut by a power loss, and at :meth:`~simqueue.core.storage.FileSystem.drain`.

Nothing else changes: a handle's ``size``, the fsync offsets and the statistics count bytes when
they are written, gathered or not, so no answer the file system gives depends on it.
"""

from __future__ import annotations

from simqueue.core.storage.handle import FileHandle, write_all

#: How many bytes a handle gathers before they go to the file; a larger write goes straight in.
WRITE_BEHIND_BYTES = 1 << 20


class WriteBehind:
    """The handles holding gathered bytes, in the order they started gathering."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[FileHandle] = []

    def gather(self, handle: FileHandle, data: bytes) -> bool:
        """Hold ``data`` in ``handle`` (moving its ``size``); ``False`` for a write too large to
        gather, which the caller writes through after :meth:`put` of the handle."""
        if len(data) >= WRITE_BEHIND_BYTES:
            return False
        behind = handle.behind
        if behind is None:
            behind = handle.behind = bytearray()
            self.pending.append(handle)
        behind += data
        handle.size += len(data)
        if len(behind) >= WRITE_BEHIND_BYTES:
            self.put(handle)
        return True

    def put(self, handle: FileHandle) -> None:
        """Write ``handle``'s gathered bytes to its file (it must hold some)."""
        self._write_out(handle)
        self.pending.remove(handle)

    def drain(self) -> None:
        """Write every handle's gathered bytes to its file."""
        if self.pending:
            for handle in self.pending:
                self._write_out(handle)
            self.pending.clear()

    @staticmethod
    def _write_out(handle: FileHandle) -> None:
        data = handle.behind
        if data and handle.fd >= 0:
            write_all(handle, bytes(data))
        handle.behind = None
