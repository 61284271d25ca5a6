"""The grader: a learner's function run through the crash campaign with the real engine.

For each of the exercise's workloads, :func:`grade` records the workload (with the learner's
function plugged in when the exercise is about the workload's own writes, the snapshot
writer), then runs the campaign's crash points with every power-loss outcome of
:mod:`simqueue.testing.crashsim.outcomes`: each disk state is recovered by the real
``DurableQueue.open``, with the learner's function in the engine's place, and checked against the
independent log model and the invariants (:mod:`simqueue.testing.crashsim.checks`). Crash points
are tried in the campaign's own chunks (:data:`~simqueue.testing.crashsim.CHUNKS`, so a pass
counts the states ``crash_campaign`` would), and the first chunk with a violation ends the
grading with its earliest counterexample.

The default budget is the campaign's ``quick`` one (the one ``make test`` runs): a few thousand
crash states, a few seconds per exercise.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import Any

from simqueue.core import wal
from simqueue.testing.crashsim import (
    CHUNKS,
    WORKLOADS,
    Budget,
    Trace,
    Violation,
    crash_points,
    record,
    run_crash_points,
    scratch_dir,
)
from simqueue.testing.grading.exercises import Exercise, exercise
from simqueue.testing.grading.report import (
    Counterexample,
    Report,
    invariant_of,
    job_in,
    without_scratch,
)

#: How hard grading looks: the campaign's bounded budget.
GRADING_BUDGET = Budget.quick()


def grade(
    which: Exercise | str,
    solution: Callable[..., Any],
    *,
    budget: Budget | None = None,
    workloads: tuple[str, ...] | None = None,
) -> Report:
    """Grade ``solution`` for exercise ``which`` (a name of
    :data:`~simqueue.testing.grading.exercises.EXERCISES`): "passed N crash states", or the
    first counterexample."""
    ex = which if isinstance(which, Exercise) else exercise(which)
    if not callable(solution):
        raise TypeError(f"solution: expected a function, got {type(solution).__name__}")
    names = workloads or ex.workloads
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        raise ValueError(f"workloads: unknown {unknown[0]!r} (known: {', '.join(WORKLOADS)})")
    budget = budget or GRADING_BUDGET
    report = Report(ex.name)
    t0 = time.perf_counter()
    scratch = scratch_dir("simqueue-grading-")
    try:
        for name in names:
            report.workloads.append(name)
            if not _grade_workload(ex, solution, name, scratch, budget, report):
                break
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        report.seconds = time.perf_counter() - t0
    return report


def _grade_workload(
    ex: Exercise,
    solution: Callable[..., Any],
    name: str,
    scratch: str,
    budget: Budget,
    report: Report,
) -> bool:
    """Add one workload's crash states to ``report``; False once it holds a failure."""
    try:
        if ex.while_recording:
            with ex.plug(solution):
                trace = record(name, scratch, budget.scale)
        else:
            trace = record(name, scratch, budget.scale)
    except Exception as exc:  # the learner's function broke the workload before any crash
        report.error = f"the {name} workload raised {exc!r} with your function in the engine"
        return False
    points = crash_points(trace, budget)
    size = -(-len(points) // CHUNKS)
    for i in range(0, len(points), size):
        with ex.plug(solution):
            result = run_crash_points(trace, points[i : i + size], budget)
        report.states += result.states
        report.failing += len(result.violations)
        if result.violations:
            first = min(result.violations, key=lambda v: v.crash_point)
            report.counterexample = counterexample(trace, first)
            return False
    return True


def counterexample(trace: Trace, v: Violation) -> Counterexample:
    """A campaign violation told as the grader tells it."""
    jobs = sorted({r.job_id for r in trace.log.values() if r.type == wal.ENQUEUE})
    problem = v.problems[0] if v.problems else ""
    job = next((j for p in v.problems if (j := job_in(p, jobs)) is not None), None)
    return Counterexample(
        workload=trace.workload,
        crash_point=v.crash_point,
        operations=len(trace.ops),
        operation=v.after,
        step=trace.mark_at(v.crash_point).step,
        family=v.family,
        outcome=v.outcome,
        invariant=invariant_of(problem),
        job=job,
        problems=[without_scratch(p) for p in v.problems],
    )


__all__ = ["GRADING_BUDGET", "counterexample", "grade"]
