"""One step of a crash sequence: recover a disk left by a crash, carry on, and crash again.

A :class:`Start` is what a crash left: the :class:`~simqueue.testing.crashsim.disk.Disk` model
itself (after a process crash it still knows which bytes and directory entries were never made
durable, so a later power cut can take them away), the log the files hold, and the promises
carried over. :func:`record_step` opens it on a
:class:`~simqueue.testing.crashsim.recording.RecordingFileSystem` (that open *is* recovery, and
its writes are recorded operations like any other) and runs a workload on; :class:`StepChecker`
replays the step's operations on a copy of the disk and recovers and checks chosen crash points
and outcomes; :func:`descend` turns one of them into the next :class:`Start`.
"""

from __future__ import annotations

import copy
import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.errors import StorageError
from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.checks import Checked, Expect, recover_check
from simqueue.testing.crashsim.disk import DATA_DIR, Disk, Files, state_digest, write_state
from simqueue.testing.crashsim.driver import Driver
from simqueue.testing.crashsim.model import LogRec, State
from simqueue.testing.crashsim.outcomes import Outcome, outcomes
from simqueue.testing.crashsim.recording import RecordingFileSystem, Trace, log_written
from simqueue.testing.crashsim.workloads import Workload


@dataclass
class Start:
    """Where a step begins: the disk a crash left, the log its files hold through ``base``
    (what recovering it keeps), and the promises carried over."""

    disk: Disk
    log: dict[int, LogRec]
    base: int  # recovering this disk keeps the log through this seq
    durable: int  # every seq up to this was acknowledged: it must survive any crash
    written: int  # ... and up to this it must survive a process crash
    time: float
    settled: bool  # nothing on the disk is undurable: any crash in recovery ends where it would


def fresh_start(wl: Workload, scratch: str, scale: int) -> Start:
    """The start of a sequence: the workload's initial directory, all of it durable."""
    if wl.prepare is None:
        return Start(Disk({}), {}, 0, 0, 0, 100.0, True)
    init = wl.prepare(scratch, scale)
    seq = init.last_seq
    return Start(Disk(init.files), dict(init.log), seq, seq, seq, 1000.0, True)


@dataclass
class Step:
    """A recorded step: its trace (operations counted from the start's disk) and how it went."""

    start: Start
    trace: Trace
    reference: State | None  # what the uninterrupted recovery gave
    error: StorageError | None  # an injected I/O error stopped the step here
    violations: list[str] = field(default_factory=list)  # fail-stop broken after the error


def record_step(
    start: Start,
    name: str,
    params: dict[str, Any],
    steps: Callable[[Driver], None],
    scratch: str,
    *,
    tag: str,
    scale: int = 1,
    arm: Callable[[RecordingFileSystem], None] | None = None,
) -> Step:
    """Recover ``start`` and run ``steps`` on, recording every operation; ``arm`` may arm an
    I/O error on the file system first (the step then ends at the error, fail-stop checked)."""
    root = os.path.join(scratch, "step")
    write_state(root, start.disk.materialize(True, True))  # the files as they are, all of them
    clock = VirtualClock(start.time)
    fs = RecordingFileSystem(root, clock)
    if arm is not None:
        arm(fs)
    d = Driver(
        fs,
        os.path.join(root, DATA_DIR),
        params,
        clock,
        strict=arm is None,
        acked=start.durable,
        written=start.written,
        scale=scale,
        tag=tag,
    )
    try:
        steps(d)
    finally:
        d.abandon()
        shutil.rmtree(root, ignore_errors=True)
    base = {s: r for s, r in start.log.items() if s <= start.base}
    log, upto = log_written(fs.trace, base, start.base)
    trace = Trace(
        name,
        dict(params),
        list(fs.trace),
        d.marks,
        log=log,
        start_time=start.time,
        open_ends_at=d.open_ends_at if d.recovered is not None else len(fs.trace),
        written_upto=upto,
        scale=scale,
    )
    return Step(start, trace, d.recovered, d.error, list(d.violations))


def roll_points(trace: Trace) -> list[int]:
    """Crash points inside a segment roll: after a new segment's create, before ``wal/`` is
    fsynced."""
    points: list[int] = []
    opened: int | None = None
    for i, op in enumerate(trace.ops):
        if op.kind == "create" and op.path.endswith(wal.SEGMENT_SUFFIX):
            opened = i + 1
        elif op.kind == "fsync_dir" and opened is not None and op.path.endswith("wal"):
            points += range(opened, i + 1)
            opened = None
    return points


def choose_point(trace: Trace, rng: random.Random) -> tuple[str, int]:
    """A crash point: inside recovery, inside a segment roll, or anywhere (seeded)."""
    n = len(trace.ops)
    kinds = {
        "in recovery": list(range(1, min(trace.open_ends_at, n + 1))),
        "in a segment roll": roll_points(trace),
        "anywhere": list(range(n + 1)),
    }
    where = rng.choice([k for k, pts in kinds.items() if pts])
    return where, rng.choice(kinds[where])


class StepChecker:
    """Replays a step's operations on a copy of its start disk and recovers and checks crash
    states of it; a state met before (same bytes, same promises) is checked once."""

    def __init__(self, step: Step, root: str) -> None:
        self.step = step
        self.trace = step.trace
        self.root = root
        self.disk = copy.deepcopy(step.start.disk)
        self.done = 0
        self.seen: dict[tuple[bytes, int, bool], Checked] = {}
        self.states = 0

    def advance(self, k: int) -> None:
        while self.done < k:
            self.disk.apply(self.trace.ops[self.done])
            self.done += 1

    def promised(self, k: int, family: str) -> int:
        mark = self.trace.mark_at(k)
        return max(mark.durable, mark.written) if family == "process" else mark.durable

    def check(self, k: int, out: Outcome, *, damaged: bool = False) -> Checked:
        """Recover the state ``out`` (a crash after ``k`` operations) and check it."""
        self.advance(k)
        trace, start = self.trace, self.step.start
        acked = self.promised(k, out.family)
        in_recovery = k < trace.open_ends_at and (start.settled or out.family == "process")
        reference = self.step.reference if in_recovery and not damaged else None
        key = (state_digest(out.files), acked, reference is not None)
        if key in self.seen:
            return self.seen[key]
        self.states += 1
        exp = Expect.at(trace, k, acked, reference)
        write_state(self.root, out.files)
        got = recover_check(
            self.root, exp, trace.params, hole=out.family == "reorder", damaged=damaged
        )
        self.seen[key] = got
        return got

    def crash_kinds(self, k: int) -> list[Outcome]:
        """The two crash kinds in their plainest form: a power cut that keeps only what was
        made durable, and a process crash that keeps everything written."""
        self.advance(k)
        return [
            Outcome(
                "drop",
                "unsynced bytes and directory changes lost",
                self.disk.materialize(False, False),
            ),
            Outcome("process", "everything written kept", self.disk.materialize(True, True)),
        ]

    def all_outcomes(self, k: int, budget: Budget) -> list[Outcome]:
        self.advance(k)
        return list(outcomes(self.disk, k, budget))


@dataclass
class StepCheck:
    """What checking one step found: every violation (crash point, outcome, verdict), the
    outcomes at the chosen crash point with their verdicts, and the disk model there."""

    k: int
    outcomes: list[Outcome]
    verdicts: list[Checked]
    disk: Disk
    found: list[tuple[int, Outcome, Checked]]
    states: int


def check_step(step: Step, k: int, budget: Budget, sweep_stride: int, root: str) -> StepCheck:
    """Recover and check every ``sweep_stride``-th crash point of ``step`` (0 for none) after
    both crash kinds, and crash point ``k`` with every outcome of ``budget``."""
    checker = StepChecker(step, root)
    n = len(step.trace.ops)
    swept = set(range(0, n + 1, sweep_stride)) | {n} if sweep_stride > 0 else set()
    res = StepCheck(k, [], [], checker.disk, [], 0)
    for j in sorted(swept | {k}):
        outs = checker.all_outcomes(j, budget) if j == k else checker.crash_kinds(j)
        for out in outs:
            got = checker.check(j, out)
            if got.status == "violation":
                res.found.append((j, out, got))
            if j == k:
                res.outcomes.append(out)
                res.verdicts.append(got)
        if j == k:
            res.disk = copy.deepcopy(checker.disk)
    res.states = checker.states
    return res


def pick_descent(check: StepCheck, rng: random.Random) -> tuple[Outcome, Checked] | None:
    """The crash to go on from (seeded): half the time a process crash, else a power cut of a
    family chosen first, then an outcome of it; only states that recovered without salvage."""
    ok = [(o, v) for o, v in zip(check.outcomes, check.verdicts, strict=True) if v.status == "ok"]
    if not ok:
        return None
    process = [p for p in ok if p[0].family == "process"]
    power = [p for p in ok if p[0].family != "process"]
    if process and (not power or rng.random() < 0.5):
        return process[0]
    family = rng.choice(sorted({o.family for o, _ in power}))
    return rng.choice([p for p in power if p[0].family == family])


def describe_crash(trace: Trace, k: int, out: Outcome, where: str = "") -> str:
    after = trace.ops[k - 1].describe() if k else "nothing"
    kind = "process crash" if out.family == "process" else f"power cut ({out.family})"
    return f"{kind}{' ' + where if where else ''} at op {k} (after {after})"


def descend(
    trace: Trace, disk: Disk, k: int, out: Outcome, got: Checked, files: Files | None = None
) -> Start:
    """The next step's start after a crash at ``k`` (``disk``: the model after ``k``
    operations) leaving ``out``, recovered as ``got``: a process crash keeps the disk model
    itself (what was never made durable stays so); a power cut leaves ``files`` (``out``'s,
    unless damaged since), all of them durable."""
    mark = trace.mark_at(k)
    now = trace.time_at(k)
    if out.family == "process":
        disk = copy.deepcopy(disk)
        settled = not disk.unsynced_files() and not disk.pending_dirs()
        written = max(mark.durable, mark.written)
        return Start(disk, trace.log, got.seq, mark.durable, written, now, settled)
    after = Disk(out.files if files is None else files)
    return Start(after, trace.log, got.seq, mark.durable, mark.durable, now, True)
