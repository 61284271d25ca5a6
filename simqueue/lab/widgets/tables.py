"""The step view's two tables: the jobs the latest events touched (state, attempt, fencing
token, worker) and the event log, as HTML."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from simqueue.core.errors import SimQueueError
from simqueue.core.fencing import token_parts
from simqueue.sim.trace import TraceEvent

if TYPE_CHECKING:
    from simqueue.core.queue import DurableQueue
    from simqueue.sim.simulation import Simulation

__all__ = ["event_log_html", "job_table_html", "shown_job_ids"]

_TABLE = "style='font-size:12px;border-collapse:collapse' cellpadding='2'"


def shown_job_ids(sim: Simulation, events: int = 40, limit: int = 10) -> list[str]:
    """The jobs in flight (they hold tokens), then those of the latest ``events`` trace
    events, newest first; at most ``limit``."""
    ids: list[str] = [] if sim.crashed else sim.engine.q.in_flight_ids()[:limit]
    for t in reversed(sim.trace[-events:]):
        if len(ids) >= limit:
            break
        job = t[2]
        if job is not None and job not in ids:
            ids.append(job)
    return ids


def _token(q: DurableQueue, job_id: str) -> str:
    """The fencing token of the job's attempt in flight, as ``epoch:attempt``
    (core/fencing.py); blank for a job not in flight."""
    token = q.token_of(job_id)
    if token is None:
        return ""
    epoch, attempt = token_parts(token)
    return f"{epoch}:{attempt}"


def job_table_html(sim: Simulation) -> str:
    """One row per recently touched job; while crashed, a line saying the table is gone."""
    if sim.crashed:
        return "<i>the queue is down: its job table is gone with the process until recover()</i>"
    q = sim.engine.q
    rows = []
    for job_id in shown_job_ids(sim):
        try:
            info = q.job(job_id)
        except (KeyError, SimQueueError):
            rows.append(
                f"<tr><td>{html.escape(job_id)}</td><td colspan='4'><i>not in the table "
                "(its ENQUEUE was lost)</i></td></tr>"
            )
            continue
        worker = "" if info.worker is None else str(info.worker)
        rows.append(
            f"<tr><td>{html.escape(info.id)}</td><td>{info.state.value}</td>"
            f"<td>{info.attempt}</td><td>{_token(q, info.id)}</td><td>{worker}</td></tr>"
        )
    c = q.counts()
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items())
    head = "<tr><th>job</th><th>state</th><th>attempt</th><th>token</th><th>worker</th></tr>"
    return (
        f"<div style='font-size:12px'>{counts}</div><table {_TABLE}>{head}{''.join(rows)}</table>"
    )


def event_log_html(sim: Simulation, base: int, read: int, last: int = 10) -> str:
    """The latest ``last`` events handed out (trace entries ``base`` to ``read``), newest
    last, numbered by their position in the run (the first is 1)."""
    trace = sim.trace
    start = max(base, read - last)
    lines = [
        f"<tr><td style='color:#666'>{i - base + 1}</td><td style='white-space:nowrap'>"
        f"{html.escape(TraceEvent.from_tuple(trace[i]).describe())}</td></tr>"
        for i in range(start, read)
    ]
    return (
        f"<div style='overflow-x:auto'><table class='sq-event-log' {_TABLE}>"
        f"{''.join(lines)}</table></div>"
    )
