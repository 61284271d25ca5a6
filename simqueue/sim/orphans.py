"""The results of the attempts in flight at a crash: workers run apart from the queue and outlive
its crash, so each still arrives, and the recovered queue fences it by its token.

A token carries the epoch of the life of the queue that handed it out
(:mod:`simqueue.core.fencing`); every recovery takes a new epoch, so no attempt of the recovered
queue has the token of a result from before the crash, even when a power cut took the DISPATCH
back and the same attempt number is handed out again. Each such result is refused, traced as
FENCED and counted (``Summary.fenced``).
"""

from __future__ import annotations

from simqueue.core.errors import SimQueueError
from simqueue.core.fencing import describe_token, token_parts
from simqueue.sim.controller import Controller
from simqueue.sim.trace import FENCED

#: A result of an attempt in flight at a crash, still on its way: (when it arrives, job id,
#: token, whether the attempt failed).
Orphan = tuple[float, str, int, bool]


def orphans(live: Controller, token_base: int) -> list[Orphan]:
    """The results still to come of the attempts ``live`` had in flight (hung ones never
    report)."""
    out: list[Orphan] = []
    finish, late = live._on_finish, live._on_late
    for time, _, action, args, _daemon in live.kernel._heap:
        if action == finish:  # (worker, job id, attempt, fails)
            out.append((time, args[1], token_base + args[2], args[3]))
        elif action == late:  # (job id, attempt, fails)
            out.append((time, args[0], token_base + args[1], args[2]))
    out.sort()
    return out


def deliver(live: Controller, results: list[Orphan]) -> None:
    """Let the results of an earlier life arrive (those due during the outage: now)."""
    now = live.clock.now()
    for time, job_id, token, fails in results:
        live.kernel.schedule(max(time, now), _arrive, live, job_id, token, fails)


def _arrive(live: Controller, job_id: str, token: int, fails: bool) -> None:
    """A result from before a crash reaches the recovered queue: fenced by its token, whose
    epoch no attempt of this life has."""
    q = live.q
    current = q.token_of(job_id) if job_id in q else None
    if token == current:  # an epoch taken twice: the fencing promise is broken
        raise SimQueueError(f"{job_id}: token {describe_token(token)} was handed out twice")
    live.world.fenced += 1
    why = f"{'failure' if fails else 'success'} with token {describe_token(token)}, from " + (
        "before the crash"
        if current is None
        else f"before the crash; now {describe_token(current)}"
    )
    attempt = token_parts(token)[1]
    live.trace.append(
        (live.clock.now(), FENCED, job_id, attempt, None, None, q.writer.durable_seq, why)
    )


__all__ = ["Orphan", "deliver", "orphans"]
