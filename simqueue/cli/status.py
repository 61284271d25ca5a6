"""What ``simqueue status`` prints: a server's ``/status`` answer as a few aligned lines (the
terminal demo prints the same)."""

from __future__ import annotations

from typing import Any


def format_status(st: dict[str, Any]) -> str:
    """The ``/status`` document ``st`` as the lines a person reads."""
    c = st.get("counts") or {}
    cfg = st.get("config", {})
    lines = [
        f"simqueue at {st['url']} (pid {st['pid']}, up {st['uptime_seconds']:.1f} s, "
        f"data dir {st['data_dir']})",
        f"jobs:     {c.get('pending', 0)} pending, {c.get('in_flight', 0)} in flight, "
        f"{c.get('completed', 0)} completed, {c.get('dead', 0)} dead ({st['jobs']} total)",
        f"workers:  {st['workers']['busy']}/{st['workers']['total']} busy; "
        f"{st['dispatches']} attempts, {st['failures']} failed, {st['timeouts']} timed out, "
        f"{st['stale_results']} stale results",
        f"wal:      seq {st['seq']['last']}, durable {st['seq']['durable']}, "
        f"{st['fsyncs']} fsyncs (fsync={cfg.get('fsync')}), {st['snapshots']} snapshots",
    ]
    rec = st.get("recovery")
    lines.append(
        "recovery: " + (rec["description"] if rec else "none (started on a fresh directory)")
    )
    if st.get("stopping"):
        lines.append("state:    stopping")
    if st.get("fatal"):
        lines.append(f"fatal:    {st['fatal']}")
    return "\n".join(lines)
