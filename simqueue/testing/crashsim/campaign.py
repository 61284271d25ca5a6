"""The crash campaign: every crash point of a trace x every power-loss outcome, recovered and
checked, in a fixed number of chunks of crash points on any :class:`concurrent.futures.Executor`
(default: a pool of ``budget.workers`` processes; a Dask cluster in ``docs/scale.md``); and
:func:`run_campaign`, which records each workload and runs its crash and fault campaigns.

Each chunk is one call ``run_crash_points(trace, chunk, budget)``: the recorded trace (its
operations, the marks, the reference state) and the budget are pickled to the worker, one
:class:`WorkloadResult` comes back, and the chunks are merged in chunk order, so the figures are
the serial run's on any executor (every figure but ``seconds``)."""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from simqueue.core import wal
from simqueue.lab.parallel import fan_out
from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.checks import Expect, recover_and_check
from simqueue.testing.crashsim.disk import Disk, scratch_dir, state_digest, write_state
from simqueue.testing.crashsim.injection import fault_campaign
from simqueue.testing.crashsim.outcomes import Outcome, outcomes
from simqueue.testing.crashsim.recording import Trace
from simqueue.testing.crashsim.results import CampaignSummary, Violation, WorkloadResult
from simqueue.testing.crashsim.workloads import WORKLOADS, record

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

CHUNKS = 24  # crash points (and injected faults) are split into this many calls (worker tasks)


def crash_points(trace: Trace, budget: Budget) -> list[int]:
    """Every ``budget.stride``-th crash point, the last one always."""
    n = len(trace.ops)
    points = set(range(0, n + 1, budget.stride)) | {n}
    return sorted(points)


class _PointRunner:
    """Tries outcomes at increasing crash points of one trace; a state met before (same bytes,
    same promises) is not recovered twice."""

    def __init__(self, trace: Trace, budget: Budget, root: str) -> None:
        self.trace = trace
        self.budget = budget
        self.root = root
        self.res = WorkloadResult(trace.workload)
        self.seen: set[tuple[bytes, int, bool]] = set()
        self.enqueues = sorted(s for s, r in trace.log.items() if r.type == wal.ENQUEUE)
        self.disk = Disk(trace.initial_files)
        self.done = 0

    def crash_at(self, k: int) -> None:
        trace = self.trace
        while self.done < k:
            self.disk.apply(trace.ops[self.done])
            self.done += 1
        self.res.crash_points += 1
        for out in outcomes(self.disk, k, self.budget):
            self.res.outcomes += 1
            self._try(k, out)

    def _try(self, k: int, out: Outcome) -> None:
        trace, res = self.trace, self.res
        mark = trace.mark_at(k)
        acked = max(mark.durable, mark.written) if out.family == "process" else mark.durable
        reference = trace.reference if k < trace.open_ends_at else None
        key = (state_digest(out.files), acked, reference is not None)
        if key in self.seen:
            return
        self.seen.add(key)
        res.states += 1
        res.by_family[out.family] = res.by_family.get(out.family, 0) + 1
        exp = Expect.at(trace, k, acked, reference)
        write_state(self.root, out.files)
        status, problems = recover_and_check(
            self.root, exp, trace.params, hole=out.family == "reorder"
        )
        if status == "violation":
            after = trace.ops[k - 1].describe() if k else "nothing"
            res.violations.append(
                Violation(trace.workload, k, after, out.family, out.label, problems)
            )
            return
        res.recoveries_ok += 1
        res.acked_jobs_checked += bisect.bisect_right(self.enqueues, acked)
        if status == "salvaged":
            res.needs_salvage += 1
            res.salvaged_ok += 1


def run_crash_points(trace: Trace, points: list[int], budget: Budget) -> WorkloadResult:
    """Try every outcome at each of ``points`` (sorted). Runs in a worker process too."""
    scratch = scratch_dir("simqueue-crashsim-")
    try:
        runner = _PointRunner(trace, budget, os.path.join(scratch, "state"))
        for k in points:
            runner.crash_at(k)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return runner.res


def crash_campaign(
    trace: Trace,
    budget: Budget,
    executor: Executor | None = None,
    *,
    progress: bool | None = None,
) -> WorkloadResult:
    """Every crash point of ``trace`` x every outcome, in :data:`CHUNKS` calls on ``executor``
    (default: ``budget.workers`` local processes)."""
    t0 = time.perf_counter()
    points = crash_points(trace, budget)
    wl = WORKLOADS.get(trace.workload)
    total = WorkloadResult(
        trace.workload, wl.description if wl else "", len(trace.ops), trace.op_counts()
    )
    # A fixed number of contiguous chunks: neighbouring crash points share most disk states
    # (tried once per chunk), and the figures do not depend on the number of workers.
    size = -(-len(points) // CHUNKS)
    calls = [(trace, points[i : i + size], budget) for i in range(0, len(points), size)]
    results = fan_out(
        run_crash_points,
        calls,
        executor=executor,
        workers=budget.workers,
        progress=progress,
        desc=f"crash {trace.workload}",
    )
    for part in results:
        total.merge(part)
    _report(total, len(calls), t0)
    total.violations.sort(key=lambda v: (v.crash_point, v.family, v.outcome))
    total.seconds = time.perf_counter() - t0
    return total


def _report(r: WorkloadResult, chunks: int, t0: float) -> None:
    log.info(
        "  %-14s %3d chunks  %5d crash points  %6d states  %d violations  %6.1f s",
        r.workload,
        chunks,
        r.crash_points,
        r.states,
        len(r.violations),
        time.perf_counter() - t0,
    )


def run_campaign(
    budget: Budget | None = None,
    workloads: Iterable[str] | None = None,
    *,
    faults: bool = True,
    executor: Executor | None = None,
    progress: bool | None = None,
) -> CampaignSummary:
    """Record each workload (here: recording is fast and needs the local disk), then run its
    crash campaign and (``faults``) its error injection on ``executor``."""
    budget = budget or Budget.full()
    t0 = time.perf_counter()
    summary = CampaignSummary(budget)
    names = list(workloads or WORKLOADS)
    scratch = scratch_dir("simqueue-record-")
    try:
        traces = [record(name, scratch, budget.scale) for name in names]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for trace in traces:
        log.info("%s: %d operations %s", trace.workload, len(trace.ops), trace.op_counts())
        summary.workloads.append(crash_campaign(trace, budget, executor, progress=progress))
    if faults:
        log.info("error injection")
        for trace in traces:
            summary.faults.append(fault_campaign(trace, budget, executor, progress=progress))
    summary.seconds = time.perf_counter() - t0
    return summary


def campaign_frame(summary: CampaignSummary) -> pd.DataFrame:
    """A pandas DataFrame of a campaign's figures: one row per workload and part (``crash``:
    crash points x outcomes, with the states of each outcome family; ``faults``: injected errors,
    with the faults fired of each kind), violations counted."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    lists = ("violations", "by_family", "op_counts", "by_kind")
    for w in summary.workloads:
        row = {k: v for k, v in vars(w).items() if k not in lists}
        rows.append({"part": "crash", **row, **w.by_family, "violations": len(w.violations)})
    for f in summary.faults:
        row = {k: v for k, v in vars(f).items() if k not in lists}
        rows.append({"part": "faults", **row, **f.by_kind, "violations": len(f.violations)})
    return pd.DataFrame.from_records(rows).convert_dtypes()  # counts stay integers beside gaps
