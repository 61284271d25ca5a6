"""The one package that touches paths, bytes on disk and fsync.

Everything the WAL and the snapshot code do to the disk goes through a :class:`FileSystem`, for
four reasons:

1. **Modeled durability.** Under the virtual clock a simulation may not want to pay for real
   ``os.fsync`` calls. With ``real_fsync=False`` bytes are really written to real files, but an
   fsync only *records* how far the file is durable. A simulated power loss then really cuts,
   tears or garbles each file after that point and really undoes directory changes (creates,
   renames, deletes) that were never made durable by an fsync of their directory.
2. **Power-loss emulation for real fsync too.** With ``track_power_loss=True`` the same
   bookkeeping runs alongside real fsyncs, so a teaching run can "pull the plug" either way.
3. **Fault injection.** Tests subclass it (see :mod:`simqueue.testing.faults`) and override
   :meth:`FileSystem.before` to fail or crash at the Nth operation.
4. **Write-behind** (modeled durability only, switched on by the owner): small writes gather in
   user space and reach the files in large writes, invisibly to anyone who looks.

Modules, one concept each:

* :mod:`~simqueue.core.storage.filesystem`: :class:`FileSystem`, real files with real or
  modeled ``fsync``/``fdatasync``, preallocation, and :class:`IOStats`;
* :mod:`~simqueue.core.storage.handle`: :class:`FileHandle`, an open file being appended to;
* :mod:`~simqueue.core.storage.durability`: what is durable, the power loss and its
  ``TEAR_MODES``;
* :mod:`~simqueue.core.storage.write_behind`: the gathering of writes;
* :mod:`~simqueue.core.storage.lock`: the data directory's lock.
"""

from __future__ import annotations

from simqueue.core.storage.durability import TEAR_MODES, PowerLossReport
from simqueue.core.storage.filesystem import FileSystem, IOStats
from simqueue.core.storage.handle import FileHandle
from simqueue.core.storage.write_behind import WRITE_BEHIND_BYTES

__all__ = [
    "TEAR_MODES",
    "WRITE_BEHIND_BYTES",
    "FileHandle",
    "FileSystem",
    "IOStats",
    "PowerLossReport",
]
