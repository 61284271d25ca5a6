"""Capturing the live jobs for a snapshot without stopping the queue for the whole encoding.

A snapshot stores the live jobs (pending in dispatch order, then in flight) exactly as they
were at its ``last_seq``. Encoding a million of them takes about a second; doing it under the
queue's mutex would stall every enqueue for that long. So a snapshot *captures* instead:

1. Under the mutex (a few milliseconds even for a million live jobs): the WAL is synced and
   rolled, and the capture takes ``last_seq`` and the ordered list of live job records (the
   list holds the records themselves, not copies).
2. Outside it, the rows are encoded a slice of :data:`SLICE_ROWS` records at a time, each slice
   under the mutex and followed by a short pause holding nothing, so no operation waits for more
   than one slice.
3. Between slices operations go on and change records. Copy on write keeps the capture exact:
   every effect that changes a job record (:class:`~simqueue.core.table.JobTable`'s ``_on_*``)
   first calls :meth:`LiveCapture.preserve`, which encodes the record's row *as it was* if the
   capture holds it and has not encoded it yet.

Which records the capture holds is decided without a set of a million ids: a record changed
after the capture was taken is one of the captured live jobs exactly when this is its first
change since and its ``ready_seq`` (the seq of the ENQUEUE or RETRY that made it pending) is at
most ``last_seq``. A job enqueued after the capture has a larger ``ready_seq``; one that was
live then keeps its old ``ready_seq`` until its first change, which is preserved before it is
applied; a finished job is never changed again. ``tests/core/test_capture.py`` checks the
encoded rows against a copy of the records taken at capture time, with every kind of change
made between slices.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from simqueue.core.jobs import JobRecord
from simqueue.core.snapshot import encode_jobs

#: Records encoded per slice, each slice under the queue's mutex: about 10 ms of work, the
#: longest an operation waits for a snapshot's encoding (benchmarks/bench_snapshot_hold.py).
SLICE_ROWS = 8192
#: How long the encoding pauses after each slice, holding neither the mutex nor the GIL.
HANDOVER_SECONDS = 0.0001
_NEVER = threading.Event()  # never set: waiting on it is a pause that releases the GIL


class LiveCapture:
    """The live jobs of one snapshot, as they were at ``last_seq``, encoded slice by slice."""

    def __init__(
        self,
        last_seq: int,
        live: list[JobRecord],
        finished: list[JobRecord] | None = None,
        counters: dict[str, int] | None = None,
        time: float = 0.0,
        window: tuple[int, int] = (0, 0),
    ) -> None:
        self.last_seq = last_seq
        self._live = live
        #: The rest of what the snapshot stores as of ``last_seq``: the jobs finished since the
        #: previous snapshot (finished jobs never change), the counters, the time, and the
        #: retention window as (jobs finished, ordinal of the oldest kept).
        self.finished = finished or []
        self.counters = counters or {}
        self.time = time
        self.window = window
        #: Row bytes of captured records as they were, taken at their first change (those
        #: changed after their slice was encoded are kept too, unused: checking would cost more).
        self._kept: dict[str, bytes] = {}
        self._encoded = 0  # records of ``_live`` encoded so far

    def __len__(self) -> int:
        return len(self._live)

    def preserve(self, rec: JobRecord) -> None:
        """Called by every effect that changes ``rec``, before it does (under the mutex)."""
        job_id = rec.id
        if rec.ready_seq <= self.last_seq and job_id not in self._kept:
            self._kept[job_id] = encode_jobs([rec])

    def encode(
        self,
        mutex: AbstractContextManager[Any],
        slice_rows: int | None = None,
        between: Callable[[], None] | None = None,
    ) -> bytes:
        """All captured rows, in capture order; each slice is encoded holding ``mutex``.
        ``between`` runs after each slice but the last, outside the mutex (tests change
        records there)."""
        size = slice_rows or SLICE_ROWS
        parts: list[bytes] = []
        live = self._live
        while self._encoded < len(live):
            with mutex:
                parts.append(self._encode_slice(live[self._encoded : self._encoded + size]))
                self._encoded += size
            if self._encoded >= len(live):
                break
            # Hand the mutex over: a thread waiting for it was woken by its release but, without
            # a pause here, loses the race for it to the next slice every time (a lock convoy;
            # benchmarks/bench_snapshot_hold.py). A 0.1 ms wait lets it take the mutex first.
            _NEVER.wait(HANDOVER_SECONDS)
            if between is not None:
                between()
        return b"".join(parts)

    def _encode_slice(self, recs: list[JobRecord]) -> bytes:
        """One slice's rows: runs of unchanged records packed together, kept rows in place."""
        kept = self._kept
        if not kept:
            return encode_jobs(recs)
        parts: list[bytes] = []
        run: list[JobRecord] = []
        for rec in recs:
            row = kept.get(rec.id)
            if row is None:
                run.append(rec)
                continue
            if run:
                parts.append(encode_jobs(run))
                run = []
            parts.append(row)
        if run:
            parts.append(encode_jobs(run))
        return b"".join(parts)


__all__ = ["SLICE_ROWS", "LiveCapture"]
