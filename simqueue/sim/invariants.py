"""The durability promises of docs/semantics.md ("Invariants after any crash and recovery"),
checked against a running simulation.

At each crash the :class:`Ledger` reads the trace since the previous crash and writes down what
the queue has promised and must keep: acknowledged enqueues, ACKs and DEADs that reached the
durable log, the highest durable attempt of each job. After recovery, and whenever asked,
:meth:`Ledger.violations` lists every promise broken, in words a student can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simqueue.core.jobs import COMPLETED, DEAD, IN_FLIGHT, PENDING
from simqueue.core.queue import DurableQueue
from simqueue.sim.trace import COMPLETE, DISPATCH, ENQUEUED, TraceTuple
from simqueue.sim.trace import DEAD as DEAD_EVENT


class Ledger:
    """Promises made so far, and the acknowledged jobs ``fsync="never"`` lost to power cuts."""

    def __init__(self) -> None:
        self.acknowledged: dict[str, float] = {}  # job -> time acknowledged
        self.must_complete: dict[str, int] = {}  # job -> ACK seq
        self.must_be_dead: dict[str, int] = {}
        self.attempt_floor: dict[str, int] = {}
        self.lost_acknowledged: list[dict[str, Any]] = []
        self.last_survivor_seq = 0
        self.violations_found: list[str] = []
        self.tokens_issued: dict[tuple[str, int], float] = {}  # (job, token) -> when

    def absorb(self, events: Iterable[TraceTuple], survive_seq: int) -> None:
        """Record what became durable among ``events`` (records with seq <= ``survive_seq``
        are guaranteed to be on disk after this crash)."""
        for t, kind, job_id, attempt, _w, seq, _d, _x in events:
            if job_id is None:  # a group commit, snapshot, crash or recovery: no job's promise
                continue
            if kind == ENQUEUED:
                self.acknowledged[job_id] = t
            elif seq is None or seq > survive_seq:
                continue
            elif kind == COMPLETE:
                self.must_complete[job_id] = seq
            elif kind == DEAD_EVENT:
                self.must_be_dead[job_id] = seq
            elif (
                kind == DISPATCH
                and attempt is not None
                and attempt > self.attempt_floor.get(job_id, 0)
            ):
                self.attempt_floor[job_id] = attempt
        self.last_survivor_seq = survive_seq

    def after_recovery(
        self,
        queue: DurableQueue,
        *,
        may_lose_acknowledged: bool,
        crash_time: float,
        max_attempts: int,
    ) -> None:
        """Check the promises against the recovered queue. Acknowledged jobs may only go
        missing when the policy never promised to survive this crash (``fsync="never"`` and a
        power cut); those are recorded as lost, not as violations."""
        if queue._retention is not None:
            self._forget_what_the_window_let_go(queue, max_attempts)
        for job_id in list(self.acknowledged):
            if job_id not in queue:
                if may_lose_acknowledged:
                    self.lost_acknowledged.append(
                        {
                            "job_id": job_id,
                            "acknowledged_at": self.acknowledged.pop(job_id),
                            "lost_at": crash_time,
                        }
                    )
                else:
                    self.violations_found.append(
                        f"job {job_id} was acknowledged at t={self.acknowledged[job_id]:.3f}s but "
                        f"is missing after the crash at t={crash_time:.3f}s"
                    )
        if queue.next_seq <= self.last_survivor_seq:
            self.violations_found.append(
                f"after recovery the next seq is {queue.next_seq}, but seq "
                f"{self.last_survivor_seq} was already durable: sequence numbers went backwards"
            )

    def _finished_by(self, job_id: str, max_attempts: int) -> bool:
        """Whether ``job_id`` had finished when the queue recovered, the only way a job may leave
        a queue that keeps a retention window (docs/semantics.md, "Retention"): its ACK or DEAD
        reached the durable log, or its last attempt was durably dispatched, which recovery
        ends as DEAD (interrupted)."""
        return (
            job_id in self.must_complete
            or job_id in self.must_be_dead
            or self.attempt_floor.get(job_id, 0) >= max_attempts
        )

    def _forget_what_the_window_let_go(self, queue: DurableQueue, max_attempts: int) -> None:
        """Drop the promises about finished jobs the recovered queue's retention window forgot.
        Nothing is left to check them against, and their ids are free again: a client that
        retries such an id enqueues a new job (docs/semantics.md, "Retention"). Keeping them
        would also grow the ledger with the history."""
        promises = (self.acknowledged, self.must_complete, self.must_be_dead, self.attempt_floor)
        known = {job_id for kept in promises for job_id in kept}
        for job_id in known:
            if job_id not in queue and self._finished_by(job_id, max_attempts):
                for kept in promises:
                    kept.pop(job_id, None)

    def note_tokens(self, events: Iterable[TraceTuple]) -> None:
        """Write down the fencing token of every DISPATCH among ``events`` (each seen once);
        a token handed out twice to one job is a violation: fencing by it would let a result
        of the earlier attempt through as the later one's."""
        issued = self.tokens_issued
        for t, kind, job_id, attempt, _w, _s, _d, token in events:
            if kind != DISPATCH or job_id is None:
                continue
            key = (job_id, token)
            if key in issued:
                self.violations_found.append(
                    f"job {job_id}: fencing token {token} (attempt {attempt}) was handed out at "
                    f"t={issued[key]:.3f}s and again at t={t:.3f}s"
                )
            else:
                issued[key] = t

    def violations(self, queue: DurableQueue, max_attempts: int) -> list[str]:
        """Every broken promise and inconsistency, as sentences."""
        out = list(self.violations_found)
        for job_id, seq in self.must_complete.items():
            if job_id in queue and queue.state_of(job_id) is not COMPLETED:
                out.append(
                    f"job {job_id} had a durable ACK (seq {seq}) but is "
                    f"{queue.state_of(job_id).value}: a completed job would run again"
                )
        for job_id, seq in self.must_be_dead.items():
            if job_id in queue and queue.state_of(job_id) is not DEAD:
                out.append(
                    f"job {job_id} was durably DEAD (seq {seq}) but is "
                    f"{queue.state_of(job_id).value}: DEAD must be final"
                )
        for job_id, floor in self.attempt_floor.items():
            if job_id in queue and queue.job(job_id).attempt < floor:
                out.append(
                    f"job {job_id} had a durable attempt {floor} but now shows attempt "
                    f"{queue.job(job_id).attempt}: attempts went backwards"
                )
        tally = {"pending": 0, "in_flight": 0, "completed": 0, "dead": 0}
        for rec in queue.iter_jobs():
            tally[rec.state.value] += 1
            if rec.attempt > max_attempts:
                out.append(f"job {rec.id} has {rec.attempt} attempts, more than {max_attempts}")
            if rec.state is DEAD and rec.attempt != max_attempts and rec.reason != "interrupted":
                out.append(f"job {rec.id} is DEAD after only {rec.attempt} attempt(s)")
            if rec.state is IN_FLIGHT and rec.attempt < 1:
                out.append(f"job {rec.id} is in flight without an attempt")
        out.extend(_tally_problems(tally, queue.counts(), windowed=queue._retention is not None))
        order = [queue._jobs[i] for i in queue.pending_ids()]
        keys = [(r.ready_at, r.ready_seq) for r in order]
        if keys != sorted(keys):
            out.append("pending jobs are not in FIFO order of readiness")
        if any(r.state is not PENDING for r in order):
            out.append("pending_ids() lists a job that is not pending")
        return out


def _tally_problems(tally: dict[str, int], counts: dict[str, int], *, windowed: bool) -> list[str]:
    """The jobs the queue holds against its counters. A retention window lets finished jobs
    leave the table while the counters keep them, so there the finished ones may fall short."""
    if not windowed:
        return [] if tally == counts else [f"counts() says {counts} but the jobs add up to {tally}"]
    return [
        f"counts() says {counts[state]} {state} but the queue holds {tally[state]} such jobs"
        for state in tally
        if tally[state] > counts[state]
        or (state in ("pending", "in_flight") and tally[state] != counts[state])
    ]
