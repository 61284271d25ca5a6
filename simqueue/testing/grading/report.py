"""What the grader says: ``passed N crash states``, or the first counterexample, told the way a
reviewer would tell it: the crash point (the operation index and what it was), the power-loss
outcome, the invariant that broke and the job it broke for.

The crash campaign's checks (:mod:`simqueue.testing.crashsim.checks`) word each violation as a
sentence; :data:`INVARIANTS` names the invariant of ``docs/semantics.md`` ("Invariants after any
crash and recovery") each kind of sentence is about, by a phrase only that kind contains.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from simqueue.testing.crashsim import DATA_DIR

#: (phrase in a check's sentence, the invariant it reports), first match wins.
INVARIANTS: tuple[tuple[str, str], ...] = (
    ("recovery raised", "recovery runs to the end"),
    ("refused a state", "recovery opens every state a power cut can leave"),
    ("salvage=True", "salvage says what it cut"),
    ("acknowledged records lost", "no acknowledged record is lost"),
    ("is missing", "no acknowledged record is lost"),
    ("had a durable ACK", "a durably acknowledged job never runs again"),
    ("DEAD must be final", "DEAD is final"),
    ("attempts went back", "attempts never go back"),
    ("COMPLETED without an ACK", "no job is COMPLETED without an ACK in the log"),
    ("FIFO order lost", "pending jobs keep their FIFO order"),
    ("interruptions, the log says", "every attempt in flight at the crash ends as interrupted"),
    ("second recovery found in-flight", "recovery logs its decisions (recovering twice agrees)"),
    ("second recovery", "recovering twice gives the same state"),
    ("ended elsewhere", "a recovery that crashed ends where an uninterrupted one does"),
    ("state differs", "the state is the recovered log applied in order"),
    ("records were ever written", "nothing is recovered that was never written"),
    ("was never written", "nothing is recovered that was never written"),
    ("never enqueued", "the state is the recovered log applied in order"),
    ("twice", "the state is the recovered log applied in order"),
    ("last seq", "sequence numbers run on without gaps"),
    ("not durable", "the recovered state is durable before the queue serves"),
    ("the WAL ", "the WAL on disk reads back as what was written"),
    ("on disk is", "the WAL on disk reads back as what was written"),
)


def without_scratch(text: str) -> str:
    """A check's sentence without the scratch directory its paths start with: ``q/wal/...``."""
    marker = f"{os.sep}{DATA_DIR}{os.sep}"
    return " ".join(w[w.index(marker) + 1 :] if marker in w else w for w in text.split(" "))


def invariant_of(problem: str) -> str:
    """The invariant one of the checks' sentences reports."""
    for phrase, name in INVARIANTS:
        if phrase in problem:
            return name
    return "an invariant of docs/semantics.md"


def job_in(problem: str, job_ids: Iterable[str]) -> str | None:
    """The first of ``job_ids`` (the jobs the workload enqueued) that ``problem`` names."""
    found = [
        (m.start(), job)
        for job in job_ids
        if (m := re.search(rf"(?<![\w-]){re.escape(job)}(?![\w-])", problem)) is not None
    ]
    return min(found)[1] if found else None


@dataclass(frozen=True)
class Counterexample:
    """One crash state the learner's function got wrong."""

    workload: str
    crash_point: int  # operations done when the power went
    operations: int  # operations in the whole workload
    operation: str  # the last operation done ("nothing": crash before the first)
    step: str  # the workload's last call that had returned
    family: str
    outcome: str
    invariant: str
    job: str | None
    problems: list[str]

    def describe(self) -> str:
        after = (
            f"after operation {self.crash_point}, {self.operation}"
            if self.crash_point
            else "before the first operation"
        )
        lines = [
            f"  workload     {self.workload}",
            f"  crash point  {self.crash_point} of {self.operations}: {after} "
            f"(the workload's last call to return: {self.step})",
            f"  power loss   {self.family}: {self.outcome}",
            f"  invariant    {self.invariant}",
            f"  job          {self.job or '(no single job)'}",
        ]
        lines += [f"  found        {p}" for p in self.problems[:3]]
        return "\n".join(lines)


@dataclass
class Report:
    """The verdict on one solution: ``states`` crash states recovered, ``failing`` of them broke
    an invariant (grading stops after the first crash points with one), the first (lowest crash
    point) as ``counterexample``; or ``error``, when the workload could not even run with the
    solution."""

    exercise: str
    states: int = 0
    failing: int = 0
    counterexample: Counterexample | None = None
    error: str | None = None
    workloads: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.counterexample is None and self.error is None and self.states > 0

    def describe(self) -> str:
        where = ", ".join(self.workloads)
        if self.error is not None:
            return f"{self.exercise}: FAILED before any crash: {self.error}"
        if self.counterexample is None:
            return (
                f"{self.exercise}: passed {self.states} crash states ({where}; "
                f"{self.seconds:.1f} s)"
            )
        return (
            f"{self.exercise}: FAILED: {self.failing} of the {self.states} crash states tried "
            f"broke an invariant ({where}; {self.seconds:.1f} s; grading stops at the first "
            "crash points that fail). The first counterexample:\n" + self.counterexample.describe()
        )

    def __str__(self) -> str:
        return self.describe()


__all__ = ["INVARIANTS", "Counterexample", "Report", "invariant_of", "job_in", "without_scratch"]
