"""The retention window: how long finished jobs stay in memory and in snapshots.

Without a window a queue keeps every job it has ever finished, so its memory, its snapshots and
its recovery time grow with its history. With ``retain_finished`` (a count) and/or
``retain_seconds`` a COMPLETED or DEAD job leaves the job table once it falls out of the window,
and later snapshots leave it out: recovery then costs what the window holds plus the log since
the last snapshot, whatever the history. Inside the window a job id is still remembered, so an
enqueue of it is a duplicate; outside it the id is forgotten and may be enqueued anew, as a
message queue's de-duplication window works (docs/semantics.md, "Retention").

Jobs leave the window only when a job finishes (ACK or DEAD applied), using that record's time,
so the live queue and a replay of its log retire exactly the same jobs at the same points: a
replayed ENQUEUE of a forgotten id is accepted exactly where the live one was.

A finished job's *ordinal* is how many jobs had finished when it did (1 for the first). Each
finished-jobs chunk records the ordinal of the newest job it can hold (``upto``), so a snapshot
drops a chunk whose every job has left the window without reading it.
"""

from __future__ import annotations

import math
from collections import deque

from simqueue.core.jobs import JobRecord


class Retention:
    """The finished jobs still in the window, oldest first, and the rule that retires them."""

    def __init__(self, count: int | None, seconds: float | None) -> None:
        self.count = count
        self.seconds = math.inf if seconds is None else seconds
        self._kept: deque[JobRecord] = deque()
        #: How many jobs have left the window (its table) so far, and how many had when
        #: :meth:`in_window` last looked: none since, and every job finished since is still in.
        self.retired = 0
        self._retired_seen = 0

    def __len__(self) -> int:
        return len(self._kept)

    def __str__(self) -> str:
        bounds = []
        if self.count is not None:
            bounds.append(f"the newest {self.count:,} finished jobs")
        if self.seconds != math.inf:
            bounds.append(f"those finished within {self.seconds:g} s of the newest")
        return "the queue remembers " + " and ".join(bounds)

    def finished(self, rec: JobRecord, t: float, jobs: dict[str, JobRecord]) -> None:
        """``rec`` finished at ``t``: it joins the window, and jobs that fall out leave ``jobs``
        (unless their id has been enqueued anew since)."""
        kept = self._kept
        kept.append(rec)
        count, oldest = self.count, t - self.seconds
        while kept:
            head = kept[0]
            fin = head.finished_at
            if (count is None or len(kept) <= count) and (fin is None or fin >= oldest):
                break
            kept.popleft()
            self.retired += 1
            if jobs.get(head.id) is head:
                del jobs[head.id]

    def in_window(self, recs: list[JobRecord], jobs: dict[str, JobRecord]) -> list[JobRecord]:
        """Those of ``recs`` (the jobs finished since the last call) the job table still holds:
        all of them when no job has left the window since (a job leaves the table, or its id
        is taken anew, only after it leaves the window)."""
        if self.retired == self._retired_seen:
            return recs
        self._retired_seen = self.retired
        return [r for r in recs if jobs.get(r.id) is r]

    def oldest_ordinal(self, finished_total: int) -> int:
        """The ordinal of the oldest finished job still in the window."""
        return finished_total - len(self._kept) + 1


__all__ = ["Retention"]
