"""The checks every kill and restart is held to, and what they remember across lifetimes.

After a kill: the WAL's ACK records (read-only), then a recovered copy of the directory (the same
bytes the next server recovers): every acknowledged job is there (*lost* otherwise), a job seen
COMPLETED after an earlier kill is still COMPLETED at the same attempt, attempts never decrease.
After a restart: the server's own recovery report agrees, and acknowledged ids answer 200. At the
end: the run log against every durable completion (a *double completion* is a run in a lifetime
after a kill that found the job durably COMPLETED, a run with a higher attempt, or two ACK
records), and the drained directory. ``docs/semantics.md`` ("Invariants after any crash and
recovery") states what is promised.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable

from simqueue.core import wal
from simqueue.core.errors import CorruptWALError, SimQueueError
from simqueue.core.jobs import COMPLETED, DEAD, JobState
from simqueue.core.queue import DurableQueue
from simqueue.service.client import http_json
from simqueue.testing.killtest.results import Lifetime, Summary

log = logging.getLogger(__name__)

#: A job as a recovered directory holds it: (state, attempt).
Seen = dict[str, tuple[JobState, int]]


class Ledger:
    """What the loop has seen across lifetimes; each failed check is a sentence in
    ``summary.violations`` and a warning in the log."""

    def __init__(self, data_dir: str, runs_path: str, summary: Summary, *, max_retry: int) -> None:
        self.data_dir = data_dir
        self.runs_path = runs_path
        self.summary = summary
        self.max_retry = max_retry
        self.completed: dict[str, tuple[int, int]] = {}  # id -> (attempt, lifetime seen after)
        self.attempts: dict[str, int] = {}
        self.acks: dict[int, tuple[str, int]] = {}  # WAL seq -> (job id, attempt) of ACKs
        self.doubled: set[str] = set()  # jobs that completed twice (or un-completed)
        self.pid_lifetime: dict[int, int] = {}

    def violation(self, text: str) -> None:
        self.summary.violations.append(text)
        log.warning("VIOLATION: %s", text)

    # -- after a restart ---------------------------------------------------------------------
    def after_start(
        self, life: Lifetime, url: str, expect_jobs: int | None, sample: Callable[[], list[str]]
    ) -> None:
        """The new server's own view: its recovery report, and the acknowledged jobs ``sample``
        picks, by id."""
        status, st = http_json(url, "GET", "/status", timeout=30)
        if status != 200:
            self.violation(f"lifetime {life.index}: GET /status answered {status}")
            return
        rec = st.get("recovery")
        if rec is not None:
            life.recovery_seconds = float(rec["wall_seconds"])
        life.jobs_restored = int(rec["jobs_restored"]) if rec else 0  # None: a fresh directory
        if expect_jobs is not None and life.jobs_restored != expect_jobs:
            self.violation(
                f"lifetime {life.index}: the server restored {life.jobs_restored} jobs; "
                f"recovering a copy of the same directory gave {expect_jobs}"
            )
        for job_id in sample():
            status, _answer = http_json(url, "GET", f"/jobs/{job_id}", timeout=30)
            if status != 200:
                self.violation(f"acknowledged job {job_id}: GET /jobs/{job_id} answered {status}")

    # -- after a kill ------------------------------------------------------------------------
    def check_directory(self, life: Lifetime, acked: list[str]) -> int:
        """WAL ACKs, then a recovered copy against everything acknowledged; the jobs it holds."""
        self.read_acks()
        states = self._recover_copy(life)
        missing = [i for i in acked if i not in states]
        life.acked_total, life.jobs_in_dir, life.lost = len(acked), len(states), len(missing)
        if missing:
            self.violation(
                f"lifetime {life.index} (pid {life.pid}): {len(missing)} acknowledged job(s) "
                f"missing after the kill, e.g. {missing[:5]}"
            )
        self.observe(states, life.index)
        return len(states)

    def _recover_copy(self, life: Lifetime) -> Seen:
        """Recover a copy of the directory (the original stays for the next server)."""
        scratch = tempfile.mkdtemp(prefix="copy-", dir=os.path.dirname(self.data_dir))
        try:
            copy = os.path.join(scratch, "q")
            if not os.path.isdir(self.data_dir):  # killed before it made the directory
                return {}
            shutil.copytree(self.data_dir, copy)
            try:
                q = DurableQueue.open(copy, durability="modeled", max_retry=self.max_retry)
            except SimQueueError as exc:
                self.violation(f"lifetime {life.index}: the directory does not recover: {exc}")
                return {}
            try:
                return {r.id: (r.state, r.attempt) for r in q.iter_jobs()}
            finally:
                q.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def observe(self, states: Seen, lifetime: int) -> None:
        """Attempts never go down; a completion seen once stays, at the same attempt."""
        for job_id, (state, attempt) in states.items():
            before = self.attempts.get(job_id, 0)
            if attempt < before:
                self.violation(f"job {job_id}: attempt went from {before} down to {attempt}")
            self.attempts[job_id] = attempt
            seen = self.completed.get(job_id)
            if seen is not None and (state is not COMPLETED or attempt != seen[0]):
                self.doubled.add(job_id)
                self.violation(
                    f"job {job_id}: COMPLETED at attempt {seen[0]} after lifetime {seen[1]}, "
                    f"now {state.value} at attempt {attempt}"
                )
            elif seen is None and state is COMPLETED:
                self.completed[job_id] = (attempt, lifetime)

    def read_acks(self) -> None:
        """Collect the WAL's ACK records by seq; a seq never changes what it acknowledges."""
        try:
            for rec in wal.iter_records(self.data_dir):
                if rec.type == wal.ACK:
                    prev = self.acks.setdefault(rec.seq, (rec.job_id, rec.attempt))
                    if prev != (rec.job_id, rec.attempt):
                        self.violation(f"WAL seq {rec.seq} was ACK {prev}, now {rec.job_id}")
        except CorruptWALError as exc:
            self.violation(f"the WAL does not read after a kill: {exc}")

    # -- at the end --------------------------------------------------------------------------
    def check_final(self, acked: list[str], lifetime: int) -> Seen:
        """The drained directory: every acknowledged job there, and COMPLETED or DEAD."""
        q = DurableQueue.open(self.data_dir, durability="real", max_retry=self.max_retry)
        try:
            states = {r.id: (r.state, r.attempt) for r in q.iter_jobs()}
        finally:
            q.close()
        missing = [i for i in acked if i not in states]
        self.summary.lost = len(missing)
        if missing:
            self.violation(f"{len(missing)} acknowledged job(s) missing at the end: {missing[:5]}")
        unfinished = [i for i, (st, _) in states.items() if st not in (COMPLETED, DEAD)]
        if unfinished:
            self.violation(f"{len(unfinished)} job(s) not finished at the end: {unfinished[:5]}")
        self.observe(states, lifetime)
        return states

    def check_runs(self) -> None:
        """The handler's run log against every durable completion seen, and the ACK records."""
        with open(self.runs_path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        runs: dict[str, int] = {}
        for line in lines:
            pid_s, job_id, attempt_s = line.split()
            runs[job_id] = runs.get(job_id, 0) + 1
            self._check_run(int(pid_s), job_id, int(attempt_s))
        self.summary.runs = len(lines)
        self.summary.jobs_run_more_than_once = sum(1 for n in runs.values() if n > 1)
        by_job: dict[str, list[int]] = {}
        for seq, (job_id, _) in self.acks.items():
            by_job.setdefault(job_id, []).append(seq)
        self.summary.ack_records = len(self.acks)
        for job_id, seqs in by_job.items():
            if len(seqs) > 1:
                self.doubled.add(job_id)
                self.violation(f"job {job_id} has {len(seqs)} ACK records (seqs {sorted(seqs)})")
        self.summary.double_completions = len(self.doubled)

    def _check_run(self, pid: int, job_id: str, attempt: int) -> None:
        life = self.pid_lifetime.get(pid)
        seen = self.completed.get(job_id)
        if seen is None:
            return
        if attempt > seen[0] or (life is not None and life > seen[1]):
            self.doubled.add(job_id)
            self.violation(
                f"job {job_id} ran again (attempt {attempt}, lifetime {life}) after it "
                f"was durably COMPLETED at attempt {seen[0]} (seen after lifetime {seen[1]})"
            )
