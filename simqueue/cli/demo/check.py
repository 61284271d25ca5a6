"""The demo's verdict, from the data directory itself rather than from what the server said."""

from __future__ import annotations

from typing import Any

#: How many missing ids the summary lists (the count is always exact).
MISSING_IDS_SHOWN = 20


def verify_directory(data_dir: str, ids: list[str]) -> dict[str, Any]:
    """Open the directory ourselves: every acknowledged job present and finished, WAL clean."""
    from simqueue.core import wal
    from simqueue.core.jobs import FINAL_STATES
    from simqueue.core.queue import DurableQueue

    q = DurableQueue.open(data_dir, durability="real")
    try:
        missing = [i for i in ids if i not in q]
        unfinished = [i for i in ids if i in q and q.state_of(i) not in FINAL_STATES]
        counts = q.counts()
    finally:
        q.close()
    report = wal.verify(data_dir)
    return {
        "ok": not missing and not unfinished and report.status == "clean",
        "present": len(ids) - len(missing),
        "missing": len(missing),
        "missing_ids": missing[:MISSING_IDS_SHOWN],
        "unfinished": len(unfinished),
        "counts": counts,
        "wal": report.describe(),
    }


__all__ = ["verify_directory"]
