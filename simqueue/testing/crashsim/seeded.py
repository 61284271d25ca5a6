"""Long seeded runs in the style of a deterministic simulation tester.

One seed drives everything: the queue's settings (fsync policy, segment size, retries), and then
``crashes`` times over: a random stretch of work (enqueues of mixed sizes, dispatches, completions,
failures, timeouts, snapshots, flushes, syncs, time passing), sometimes an injected I/O error
(``EIO``/``ENOSPC`` instead of some operation, or a short write, from
:class:`~simqueue.testing.faults.FaultyFileSystem`), a crash (a process crash or a power cut, at
a point inside recovery, inside a segment roll or anywhere; right after the error if one fired),
sometimes a damaged snapshot file on top of a power cut, and recovery. After every crash the
crash point is recovered and checked with every outcome of the budget (and, every
``sweep_stride``-th crash point of the stretch, after both crash kinds); the run goes on from the
state one outcome left. A damaged snapshot must be survived (an older snapshot and the log give
the same state) or refused with a named corruption error, never silently give another state; a
refused one is put back and the run goes on. A failing run prints its seed:
``python -m simqueue.testing.crashsim --seeded 1 --first-seed SEED --crashes N`` replays it.
"""

from __future__ import annotations

import errno
import logging
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.checks import Checked
from simqueue.testing.crashsim.disk import Disk, Files, scratch_dir
from simqueue.testing.crashsim.driver import Driver, Taken
from simqueue.testing.crashsim.outcomes import Outcome
from simqueue.testing.crashsim.recording import RecordingFileSystem
from simqueue.testing.crashsim.results import Violation
from simqueue.testing.crashsim.steps import (
    Start,
    Step,
    StepCheck,
    StepChecker,
    check_step,
    choose_point,
    descend,
    describe_crash,
    pick_descent,
    record_step,
)

log = logging.getLogger(__name__)

_FAULT_OPS = ("write", "write", "fsync", "fsync", "create", "fsync_dir", "rename", "remove")


@dataclass
class SeededResult:
    """What one or more seeded runs found (they merge); ``failing`` lists the seeds to replay."""

    runs: int = 0
    crashes: int = 0
    states: int = 0
    faults_fired: int = 0
    damaged: int = 0  # snapshot files damaged on top of a power cut
    refused: int = 0  # ... of which recovery refused with a named corruption error
    violations: list[Violation] = field(default_factory=list)
    failing: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: SeededResult) -> None:
        for name in ("runs", "crashes", "states", "faults_fired", "damaged", "refused"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.violations += other.violations
        self.failing += other.failing

    def table(self) -> str:
        lines = [
            f"seeded runs: {self.runs} runs, {self.crashes} crashes, {self.states} crash states "
            f"checked, {self.faults_fired} I/O errors fired, {self.damaged} snapshots damaged "
            f"({self.refused} refused by name), {len(self.violations)} violations "
            f"({self.seconds:.1f} s)"
        ]
        if self.failing:
            lines.append("failing seeds (replay with --seeded 1 --first-seed SEED): ")
            lines[-1] += ", ".join(map(str, sorted(set(self.failing))))
        return "\n".join(lines)


def seeded_params(rng: random.Random) -> dict[str, Any]:
    """The queue's settings for one run."""
    return dict(
        fsync=rng.choice(("always", "batch", "never")),
        batch_size=rng.randint(2, 5),
        flush_interval=0.5,
        max_retry=rng.randint(0, 2),
        backoff=rng.choice((0.0, 0.25, 1.0)),
        task_timeout=rng.choice((1.0, 3.0)),
        segment_bytes=rng.choice((4096, 4096, 65536)),
    )


def random_work(seed: str, length: int) -> Callable[[Driver], None]:
    """Open (recover), then ``length`` random calls, the same ones for the same seed."""

    def steps(d: Driver) -> None:
        rng = random.Random(seed)
        d.open()
        held: list[Taken] = []
        for _ in range(length):
            r = rng.random()
            if r < 0.25:
                d.enqueue(rng.randint(1, 4), pad=rng.choice((0, 40, 300)))
            elif r < 0.45:
                job = d.dispatch(rng.randrange(3))
                if job is not None:
                    held.append(job)
            elif r < 0.67 and held:
                job = held.pop(rng.randrange(len(held)))
                if r < 0.6:
                    d.complete(job)
                else:
                    d.fail(job)
            elif r < 0.75:
                d.advance(rng.choice((0.1, 0.5, 2.0)))
            elif r < 0.85:
                if r < 0.8:
                    d.expire()
                else:
                    d.tick()
            elif r < 0.9:
                d.snapshot()
            else:
                if r < 0.95:
                    d.flush()
                else:
                    d.sync()

    return steps


def _arm(rng: random.Random) -> tuple[str, Callable[[RecordingFileSystem], None]] | None:
    """Sometimes (one stretch in four) an I/O error to inject."""
    if rng.random() >= 0.25:
        return None
    n = rng.randrange(40)
    if rng.random() < 0.2:
        return f"short write #{n}", lambda fs: fs.short_write_at(n)
    op = rng.choice(_FAULT_OPS)
    code = rng.choice((errno.EIO, errno.ENOSPC))
    return f"{errno.errorcode[code]} on {op} #{n}", lambda fs: fs.fail_at(op, n, code)


def damage_snapshot(files: Files, rng: random.Random) -> tuple[Files, str] | None:
    """``files`` with one snapshot file damaged (a flipped byte, cut short, or zeroed)."""
    names = sorted(p for p, c in files.items() if c and "snapshots" in p and ".tmp" not in p)
    if not names:
        return None
    name = rng.choice(names)
    data = bytearray(files[name] or b"")
    how = rng.choice(("flip", "cut", "zero"))
    if how == "flip":
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "cut":
        del data[rng.randrange(len(data)) :]
    else:
        data = bytearray(len(data))
    out = dict(files)
    out[name] = bytes(data)
    return out, f"{name}: {how}"


class _Run:
    """One seeded run: its stream of choices, its figures, and the way it got here."""

    def __init__(self, seed: int, budget: Budget, sweep_stride: int, scratch: str) -> None:
        self.seed = seed
        self.rng = random.Random(f"seeded/{seed}")
        self.params = seeded_params(self.rng)
        self.budget = budget
        self.sweep_stride = sweep_stride
        self.scratch = scratch
        self.res = SeededResult(runs=1)
        self.path: list[str] = []

    def violation(self, k: int, after: str, family: str, outcome: str, problems: list[str]) -> None:
        earlier = "; ".join(self.path[-3:]) if self.path else "no earlier crash"
        label = f"seeded run seed {self.seed}, crash {len(self.path) + 1} ({earlier})"
        self.res.violations.append(Violation(label, k, after, family, outcome, problems))

    def stretch(self, i: int, start: Start) -> Start | None:
        """Recover ``start``, work, crash; check; the start the crash leaves."""
        fault = _arm(self.rng)
        work = random_work(f"seeded/{self.seed}/{i}", self.rng.randint(8, 40))
        try:
            step = record_step(
                start,
                "seeded",
                self.params,
                work,
                self.scratch,
                tag=f"c{i}-",
                arm=fault[1] if fault else None,
            )
        except Exception as exc:  # the engine failed where it must not: a finding
            self.violation(0, "recovery and work", "run", "the recorded run", [repr(exc)])
            return None
        trace = step.trace
        if step.error is not None:
            self.res.faults_fired += 1
            where, k = f"after {fault[0] if fault else 'an I/O error'}", len(trace.ops)
        else:
            where, k = choose_point(trace, self.rng)
        for problem in step.violations:
            self.violation(k, "the injected error", "fault", where, [problem])
        found = check_step(step, k, self.budget, self.sweep_stride, f"{self.scratch}/state")
        self.res.states += found.states
        for j, out, got in found.found:
            after = trace.ops[j - 1].describe() if j else "nothing"
            self.violation(j, after, out.family, out.label, got.problems)
        pick = pick_descent(found, self.rng)
        if pick is None:
            return None
        out, got = pick
        self.res.crashes += 1
        self.path.append(describe_crash(trace, k, out, where))
        damaged = self._maybe_damage(step, found, out)
        if damaged is not None:
            return descend(trace, found.disk, k, out, damaged[1], damaged[0])
        return descend(trace, found.disk, k, out, got)

    def _maybe_damage(
        self, step: Step, found: StepCheck, out: Outcome
    ) -> tuple[Files, Checked] | None:
        """Sometimes (a power cut in five) damage a snapshot file and check the recovery of
        that; the damaged files and their verdict if it was survived, else None (the file is
        put back)."""
        if out.family == "process" or self.rng.random() >= 0.2:
            return None
        damaged = damage_snapshot(out.files, self.rng)
        if damaged is None:
            return None
        files, how = damaged
        self.res.damaged += 1
        checker = StepChecker(step, f"{self.scratch}/state")
        checker.disk = found.disk  # already at the crash point
        checker.done = found.k
        verdict = checker.check(found.k, Outcome(out.family, how, files), damaged=True)
        self.res.states += 1
        if verdict.status == "violation":
            self.violation(found.k, "a damaged snapshot", out.family, how, verdict.problems)
        if verdict.status == "refused":
            self.res.refused += 1
            return None
        return (files, verdict) if verdict.status == "ok" else None


def run_seeded(seed: int, crashes: int, budget: Budget, sweep_stride: int = 0) -> SeededResult:
    """One seeded run of ``crashes`` crashes (fewer if a crash state could not be recovered)."""
    scratch = scratch_dir("simqueue-seeded-")
    run = _Run(seed, budget, sweep_stride, scratch)
    try:
        start: Start | None = Start(Disk({}), {}, 0, 0, 0, 100.0, True)
        for i in range(crashes):
            if start is None:
                break
            start = run.stretch(i, start)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if run.res.violations:
        run.res.failing.append(seed)
    return run.res


def seeded_campaign(
    seeds: list[int],
    crashes: int,
    budget: Budget,
    sweep_stride: int = 0,
    executor: Executor | None = None,
    *,
    progress: bool | None = None,
) -> SeededResult:
    """Every run of ``seeds``, on ``executor`` (default: ``budget.workers`` processes)."""
    t0 = time.perf_counter()
    total = SeededResult()
    runs = budget.map_seeds(
        run_seeded,
        seeds,
        crashes,
        budget,
        sweep_stride,
        executor=executor,
        progress=progress,
        desc="seeded runs",
    )
    for result in runs:
        total.merge(result)
    total.seconds = time.perf_counter() - t0
    log.info("  %s", total.table().replace("\n", "; "))
    return total
