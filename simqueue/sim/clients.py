"""The clients of the simulated queue: how their enqueues reach it, and what they do when it is
down.

A client is acknowledged once its ENQUEUE record is durable under the fsync policy (the
controller's ``_acknowledge``). While the queue is down after a crash, a client that arrives, or
that was still waiting for its acknowledgement at the crash, waits and enqueues once the queue
serves again (``clients="retry"``: a backlog that drains), or gives up and is counted
(``"reject"``; :mod:`simqueue.sim.engine` does the counting). A client that retries is
acknowledged at once if recovery found its job (the recovered state is durable), else its job is
enqueued again under the same id; its acknowledgement latency runs from its first arrival.
"""

from __future__ import annotations

from collections.abc import Iterable

from simqueue.core.jobs import Job
from simqueue.sim.controller import Controller
from simqueue.sim.trace import ARRIVE, ENQUEUED


def admit_jobs(live: Controller, jobs: Iterable[Job | str]) -> None:
    """Enqueue explicit jobs now (``Simulation.enqueue``), in order."""
    batch = [j if isinstance(j, Job) else Job(str(j)) for j in jobs]
    for j in batch:
        live.model.draw_first(j.id)
    last = live.q.enqueue_many(batch)
    first = last - len(batch) + 1
    now = live.clock.now()
    durable = live.q.writer.durable_seq
    for i, j in enumerate(batch):
        live._unacked.append((first + i, j.id, now))
        live.trace.append((now, ARRIVE, j.id, 0, None, first + i, durable, None))
    live.world.jobs_arrived += len(batch)
    live._after_io()
    # Dispatch as the next event rather than inside this call, so a notebook that enqueues and
    # then steps sees each DISPATCH as a step of its own.
    live.dispatch_soon()


def unacknowledged(live: Controller) -> list[tuple[str, float]]:
    """(job id, arrived at) of every client still waiting for its acknowledgement."""
    return [(job_id, arrived) for _, job_id, arrived in live._unacked]


def readmit(live: Controller, waiting: list[tuple[str | None, float]]) -> None:
    """The clients that waited through an outage enqueue now, in the order they came."""
    q = live.q
    now = live.clock.now()
    for job_id, arrived in waiting:
        if job_id is not None and job_id in q:
            live.trace.append((now, ENQUEUED, job_id, 0, None, None, q.durable_seq, "retried"))
            live.world.acks.add(job_id, arrived, now)
        else:
            live._admit(job_id, arrived)


__all__ = ["admit_jobs", "readmit", "unacknowledged"]
