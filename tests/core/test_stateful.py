"""The durable queue against a plain model, driven by Hypothesis through random operations,
process crashes and power cuts.

The model is a list of log records plus the state they imply (``replay``). Each operation on
the queue is mirrored by the records the model says it must write. After a crash the queue
recovers to the state of *some* prefix ``log[:k]`` of that log, with in-flight attempts then
ended as interrupted; ``k`` (reported by recovery) must lie between what was durable and what
had reached the OS (exactly the latter for a process crash). The model truncates its log to
``k``, appends the interruptions, and the two must agree exactly, step after step.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from simqueue import DuplicateJobError, DurableQueue, Job, VirtualClock
from simqueue.core.storage import TEAR_MODES, FileSystem
from simqueue.core.wal import ACK, DEAD, DISPATCH, ENQUEUE, RETRY, iter_records

TASK_TIMEOUT = 3.0


@dataclass(frozen=True)
class Rec:
    seq: int
    type: int
    job_id: str
    time: float
    attempt: int = 0
    extra: float = 0.0  # ENQUEUE timeout (nan: none), DISPATCH deadline, RETRY ready time
    reason: str = ""
    payload: bytes = b""  # ENQUEUE only: the payload as the WAL holds it


@dataclass
class MJob:
    state: str = "pending"
    attempt: int = 0
    timeout: float | None = None
    ready_at: float = 0.0
    ready_seq: int = 0
    deadline: float = 0.0
    dispatch_seq: int = 0
    reason: str = ""
    enqueue_seq: int = 0
    payload: bytes = b""


def apply(jobs: dict[str, MJob], r: Rec) -> None:
    """One record's effect: the model's whole state machine, independent of the store."""
    if r.type == ENQUEUE:
        assert r.job_id not in jobs
        timeout = None if math.isnan(r.extra) else r.extra
        jobs[r.job_id] = MJob(
            timeout=timeout, ready_at=r.time, ready_seq=r.seq, enqueue_seq=r.seq, payload=r.payload
        )
        return
    j = jobs[r.job_id]
    if r.type == DISPATCH:
        assert j.state == "pending" and r.attempt == j.attempt + 1
        j.state, j.attempt, j.deadline, j.dispatch_seq = "in_flight", r.attempt, r.extra, r.seq
        return
    assert j.state == "in_flight" and r.attempt == j.attempt
    if r.type == ACK:
        j.state = "completed"
    elif r.type == RETRY:
        j.state, j.ready_at, j.ready_seq, j.reason = "pending", r.extra, r.seq, r.reason
    else:
        assert r.type == DEAD
        j.state, j.reason = "dead", r.reason


def replay(log: list[Rec]) -> dict[str, MJob]:
    """The state a log implies."""
    jobs: dict[str, MJob] = {}
    for r in log:
        apply(jobs, r)
    return jobs


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="simqueue-stateful-")
        self.dir = os.path.join(self.tmp, "q")
        self.clock = VirtualClock(0.0)
        self.fs = FileSystem(real_fsync=False, track_power_loss=True)
        self.q: DurableQueue | None = None
        self.log: list[Rec] = []
        self.jobs: dict[str, MJob] = {}
        self.n_ids = 0
        self.acked: set[str] = set()

    # -- set-up --------------------------------------------------------------------------------
    @initialize(
        policy=st.sampled_from(["always", "batch", "never"]),
        max_retry=st.integers(0, 2),
        backoff=st.sampled_from([0.0, 0.5, 2.0]),
        batch_size=st.integers(1, 6),
    )
    def open_queue(self, policy: str, max_retry: int, backoff: float, batch_size: int) -> None:
        self.policy, self.max_retry, self.backoff = policy, max_retry, backoff
        self.batch_size = batch_size
        self.q = self.open()
        assert self.q.recovery is None

    def open(self) -> DurableQueue:
        return DurableQueue.open(
            self.dir,
            fsync=self.policy,
            max_retry=self.max_retry,
            backoff=self.backoff,
            clock=self.clock,
            task_timeout=TASK_TIMEOUT,
            flush_interval=1.0,
            batch_size=self.batch_size,
            segment_bytes=4096,
            durability="modeled",
            fs=self.fs,
        )

    def teardown(self) -> None:
        if self.q is not None:
            self.q.abandon()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- the model's side of each operation ---------------------------------------------------
    def log_rec(self, rtype: int, job_id: str, **fields) -> Rec:
        rec = Rec(len(self.log) + 1, rtype, job_id, self.clock.now(), **fields)
        self.log.append(rec)
        apply(self.jobs, rec)
        return rec

    def end_attempt(self, job_id: str, reason: str) -> str:
        j = self.jobs[job_id]
        now = self.clock.now()
        if j.attempt >= self.max_retry + 1:
            self.log_rec(DEAD, job_id, attempt=j.attempt, reason=reason)
            return "dead"
        ready = now + self.backoff * 2 ** (j.attempt - 1)
        self.log_rec(RETRY, job_id, attempt=j.attempt, extra=ready, reason=reason)
        return "pending"

    def pending_order(self) -> list[str]:
        pend = [(j.ready_at, j.ready_seq, i) for i, j in self.jobs.items() if j.state == "pending"]
        return [i for _, _, i in sorted(pend)]

    def started(self) -> list[tuple[str, int]]:
        """(job, attempt) pairs that a worker could report on: any attempt ever dispatched."""
        return sorted((i, a) for i, j in self.jobs.items() for a in range(1, j.attempt + 1))

    # -- rules ------------------------------------------------------------------------------------
    @rule(
        n=st.integers(1, 3),
        timeout=st.sampled_from([None, None, 1.0, 5.0]),
        pad=st.integers(0, 600),
    )
    def enqueue(self, n: int, timeout: float | None, pad: int) -> None:
        jobs = []
        for _ in range(n):
            self.n_ids += 1
            jobs.append(
                Job(f"j{self.n_ids}", payload={"p": "x" * pad} if pad else None, timeout=timeout)
            )
        seq = self.q.enqueue_many(jobs) if n > 1 else self.q.enqueue(jobs[0])
        for job in jobs:
            payload = json.dumps(job.payload, separators=(",", ":")).encode() if pad else b""
            extra = math.nan if timeout is None else timeout
            self.log_rec(ENQUEUE, job.id, extra=extra, payload=payload)
        assert seq == len(self.log)
        if self.policy == "always":
            assert self.q.is_acknowledged(seq)

    @precondition(lambda self: self.jobs)
    @rule(data=st.data())
    def enqueue_duplicate_is_refused(self, data) -> None:
        job_id = data.draw(st.sampled_from(sorted(self.jobs)))
        seq = self.q.last_seq
        try:
            self.q.enqueue(Job(job_id))
        except DuplicateJobError:
            pass
        else:
            raise AssertionError(f"duplicate {job_id} accepted")
        assert self.q.last_seq == seq

    @rule(worker=st.integers(0, 3))
    def dispatch(self, worker: int) -> None:
        now = self.clock.now()
        ready = [
            (j.ready_at, j.ready_seq, i)
            for i, j in self.jobs.items()
            if j.state == "pending" and j.ready_at <= now
        ]
        got = self.q.dispatch(worker)
        if not ready:
            assert got is None
            return
        job_id = min(ready)[2]
        j = self.jobs[job_id]
        deadline = now + (j.timeout if j.timeout is not None else TASK_TIMEOUT)
        assert got is not None and (got.id, got.attempt) == (job_id, j.attempt + 1)
        assert got.deadline == deadline
        self.log_rec(DISPATCH, job_id, attempt=j.attempt + 1, extra=deadline)

    @precondition(lambda self: any(j.attempt for j in self.jobs.values()))
    @rule(data=st.data(), succeed=st.booleans())
    def report_result(self, data, succeed: bool) -> None:
        """A worker reports on some attempt: the current one, or a stale one."""
        job_id, attempt = data.draw(st.sampled_from(self.started()))
        j = self.jobs[job_id]
        current = j.state == "in_flight" and j.attempt == attempt
        stale = self.q.stale_results
        if succeed:
            assert self.q.complete(job_id, attempt) is current
            if current:
                self.log_rec(ACK, job_id, attempt=attempt)
        else:
            got = self.q.fail(job_id, attempt)
            if current:
                assert got is not None and got.value == self.end_attempt(job_id, "failed")
            else:
                assert got is None
        assert self.q.stale_results == stale + (not current)

    @rule(dt=st.sampled_from([0.25, 0.5, 1.0, 2.5, 6.0]), expire=st.booleans())
    def advance_clock(self, dt: float, expire: bool) -> None:
        self.clock.advance_by(dt)
        if not expire:
            return
        now = self.clock.now()
        due = sorted(
            (j.deadline, j.dispatch_seq, i)
            for i, j in self.jobs.items()
            if j.state == "in_flight" and j.deadline <= now
        )
        assert self.q.expire() == [i for _, _, i in due]
        for _, _, job_id in due:
            self.end_attempt(job_id, "timeout")

    @rule()
    def snapshot(self) -> None:
        self.q.snapshot()
        assert self.q.durable_seq == self.q.last_seq == len(self.log)

    @rule(how=st.sampled_from(["sync", "tick", "flush"]))
    def commit(self, how: str) -> None:
        if how == "sync":
            assert self.q.sync() == len(self.log)
        elif how == "tick":
            due = self.q.sync_due_at
            unsynced = self.q.durable_seq < self.q.last_seq
            synced = self.q.tick()
            assert synced == (unsynced and due is not None and self.clock.now() >= due)
            if due is not None and synced:
                assert self.q.durable_seq == len(self.log)  # the whole group, together
        else:
            assert self.q.flush() == len(self.log)

    @rule()
    def crash_process(self) -> None:
        written, durable = self.q.written_seq, self.q.durable_seq
        self.q.abandon()
        assert durable <= written
        self.recover(low=written, high=written)

    @rule(tear=st.sampled_from(TEAR_MODES), seed=st.integers(0, 2**16))
    def crash_power(self, tear: str, seed: int) -> None:
        written, durable = self.q.written_seq, self.q.durable_seq
        self.q.abandon()
        self.fs.power_loss(random.Random(seed), tear)
        self.recover(low=durable, high=written)

    # -- recovery --------------------------------------------------------------------------------
    def recover(self, low: int, high: int) -> None:
        """Reopen; the queue must come back as ``log[:k]`` for some ``low <= k <= high``."""
        assert low <= high <= len(self.log)
        before_low = replay(self.log[:low])
        self.q = self.open()
        k = self.q.recovery.next_seq - 1 if self.q.recovery else 0
        assert low <= k <= high, f"recovered through seq {k}, expected {low}..{high}"
        lost = [i for i in self.acked if i not in self.q]
        if self.policy != "never" or low == high:  # "never" promises nothing against power
            assert not lost, f"acknowledged jobs lost: {lost}"
        self.acked -= set(lost)
        del self.log[k:]
        self.jobs = replay(self.log)
        in_flight = sorted((j.deadline, i) for i, j in self.jobs.items() if j.state == "in_flight")
        for _, job_id in in_flight:
            self.end_attempt(job_id, "interrupted")
        assert self.q.recovery is None or self.q.recovery.jobs_interrupted == len(in_flight)
        assert self.q.last_seq == len(self.log)
        assert self.q.durable_seq == self.q.last_seq  # recovered state is durable
        for job_id, j in before_low.items():  # what was durable before the crash survived it
            info = self.q.job(job_id)
            assert info.attempt >= j.attempt, f"{job_id}: attempts went back"
            if j.state in ("dead", "completed"):
                assert info.state.value == j.state, f"{job_id}: final state {j.state} undone"
        self.check_disk()

    def check_disk(self) -> None:
        """The records on disk are the model's log (the part not yet pruned), in seq order."""
        self.q.flush()
        on_disk = list(iter_records(self.dir))
        if on_disk:
            assert on_disk[-1].seq == self.q.written_seq
        for r in on_disk:
            m = self.log[r.seq - 1]
            assert (r.type, r.job_id, r.attempt, r.reason_name) == (
                m.type,
                m.job_id,
                m.attempt,
                m.reason,
            ), (r, m)
            assert r.payload == m.payload, (r, m)

    # -- invariants -------------------------------------------------------------------------------
    @invariant()
    def matches_model(self) -> None:
        if self.q is None:
            return
        q = self.q
        infos = {i.id: i for i in q.jobs_info()}
        assert set(infos) == set(self.jobs)
        for job_id, j in self.jobs.items():
            info = infos[job_id]
            assert (info.state.value, info.attempt, info.reason or "") == (
                j.state,
                j.attempt,
                j.reason,
            ), job_id
            assert info.payload == (json.loads(j.payload) if j.payload else None), job_id
            if j.state == "pending":
                assert info.ready_at == j.ready_at, job_id
            if j.state == "in_flight":
                assert info.deadline == j.deadline, job_id
        assert q.pending_ids() == self.pending_order()
        assert sorted(q.in_flight_ids()) == sorted(
            i for i, j in self.jobs.items() if j.state == "in_flight"
        )
        ready_times = [infos[i].ready_at for i in q.pending_ids()]
        assert ready_times == sorted(ready_times)  # FIFO by readiness
        assert q.last_seq == len(self.log)
        assert q.durable_seq <= q.written_seq <= q.last_seq

    @invariant()
    def counts_match_states(self) -> None:
        if self.q is None:
            return
        by_state = Counter(self.q.state_of(i).value for i in self.jobs)
        assert self.q.counts() == {
            s: by_state.get(s, 0) for s in ("pending", "in_flight", "completed", "dead")
        }

    @invariant()
    def policy_is_kept(self) -> None:
        if self.q is None:
            return
        q = self.q
        if self.policy == "always":
            assert q.durable_seq == q.last_seq
        elif self.policy == "never":
            assert q.written_seq == q.last_seq
        else:
            assert q.last_seq - q.durable_seq < self.batch_size  # a full group is committed
        ack = q.durable_seq if self.policy != "never" else q.written_seq
        self.acked |= {i for i, j in self.jobs.items() if j.enqueue_seq <= ack}


QueueMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestDurableQueueAgainstModel = QueueMachine.TestCase
