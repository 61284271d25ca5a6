"""Crash sequences: crash -> recover -> carry on -> crash again, ``depth`` crashes deep.

A single crash per workload misses what only a second crash shows: a recovery that leaves
something undurable behind (a segment whose directory entry was never fsynced, say) loses
acknowledged work only at the *next* power cut. One seed chooses a whole sequence: the workload,
and at each step a crash point (inside recovery, inside a segment roll, or anywhere), the crash
kind (a process crash: the files as written, the disk still knowing what was never made durable;
or a power cut: one outcome of one family of :mod:`.outcomes`), and the next step recovers that
and runs the workload on (its jobs tagged with the step). At each step:

* every ``sweep_stride``-th crash point is recovered and checked after both crash kinds in their
  plainest form (``drop``: only what was made durable; ``process``: everything written);
* the chosen crash point is recovered and checked with every outcome of the budget;

each against the invariants of :mod:`.checks` (no acknowledged record lost, none completed
twice, attempts never going back, the state the independent log model gives, ...). The same seed
gives the same sequence and the same figures.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from collections import Counter
from concurrent.futures import Executor
from dataclasses import dataclass, field

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.disk import scratch_dir
from simqueue.testing.crashsim.results import Violation
from simqueue.testing.crashsim.steps import (
    Start,
    Step,
    check_step,
    choose_point,
    descend,
    describe_crash,
    fresh_start,
    pick_descent,
    record_step,
)
from simqueue.testing.crashsim.workloads import WORKLOADS

log = logging.getLogger(__name__)


@dataclass
class SequenceResult:
    """What one or more sequences found (they merge)."""

    sequences: int = 0
    steps: int = 0  # recorded steps (recover, then run on)
    states: int = 0  # distinct crash states recovered and checked
    crashes: dict[str, int] = field(default_factory=dict)  # descents, by kind and where
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: SequenceResult) -> None:
        self.sequences += other.sequences
        self.steps += other.steps
        self.states += other.states
        self.crashes = dict(Counter(self.crashes) + Counter(other.crashes))
        self.violations += other.violations

    def table(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.crashes.items()))
        return (
            f"crash sequences: {self.sequences} sequences, {self.steps} steps, {self.states} "
            f"crash states checked, {len(self.violations)} violations ({self.seconds:.1f} s)\n"
            f"crashes descended through: {kinds}"
        )


def sequence_workload(seed: int) -> str:
    names = sorted(WORKLOADS)
    return names[seed % len(names)]


def run_sequence(seed: int, depth: int, budget: Budget, sweep_stride: int = 1) -> SequenceResult:
    """One seeded sequence of ``depth`` crashes; each step checked, then the next one recorded
    from the state the chosen crash left."""
    name = sequence_workload(seed)
    wl = WORKLOADS[name]
    rng = random.Random(f"sequence/{seed}")
    res = SequenceResult(sequences=1)
    scratch = scratch_dir("simqueue-sequence-")
    path: list[str] = []
    try:
        start: Start = fresh_start(wl, scratch, budget.scale)
        for i in range(depth):
            try:
                step = record_step(start, name, wl.params, wl.steps, scratch, tag=f"s{i}-")
            except Exception as exc:  # the engine failed where it must not: a finding
                label = f"{name} sequence seed {seed} ({'; '.join(path)})"
                res.violations.append(
                    Violation(label, 0, "nothing", "run", "recorded", [repr(exc)])
                )
                break
            res.steps += 1
            nxt = _check_step(step, rng, budget, sweep_stride, scratch, res, (seed, path))
            if nxt is None:
                break
            start = nxt
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def _check_step(
    step: Step,
    rng: random.Random,
    budget: Budget,
    sweep_stride: int,
    scratch: str,
    res: SequenceResult,
    where: tuple[int, list[str]],
) -> Start | None:
    """Check a step's sweep and its chosen crash point; the next start, or None when no state
    at the chosen point recovered cleanly."""
    seed, path = where
    trace = step.trace
    point_kind, k = choose_point(trace, rng)
    found = check_step(step, k, budget, sweep_stride, f"{scratch}/state")
    res.states += found.states
    earlier = "; ".join(path) if path else "no earlier crash"
    for j, out, got in found.found:
        after = trace.ops[j - 1].describe() if j else "nothing"
        res.violations.append(
            Violation(
                f"{trace.workload} sequence seed {seed} ({earlier})",
                j,
                after,
                out.family,
                out.label,
                got.problems,
            )
        )
    pick = pick_descent(found, rng)
    if pick is None:
        return None
    out, got = pick
    path.append(f"step {len(path) + 1}: {describe_crash(trace, k, out, point_kind)}")
    key = f"{'process' if out.family == 'process' else 'power'} crash {point_kind}"
    res.crashes[key] = res.crashes.get(key, 0) + 1
    return descend(trace, found.disk, k, out, got)


def sequence_campaign(
    seeds: list[int],
    depth: int,
    budget: Budget,
    sweep_stride: int = 1,
    executor: Executor | None = None,
    *,
    progress: bool | None = None,
) -> SequenceResult:
    """Every sequence of ``seeds``, on ``executor`` (default: ``budget.workers`` processes)."""
    t0 = time.perf_counter()
    total = SequenceResult()
    runs = budget.map_seeds(
        run_sequence,
        seeds,
        depth,
        budget,
        sweep_stride,
        executor=executor,
        progress=progress,
        desc="sequences",
    )
    for result in runs:
        total.merge(result)
    total.seconds = time.perf_counter() - t0
    log.info("  sequences: %s", total.table().replace("\n", "; "))
    return total
