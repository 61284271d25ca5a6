"""Error injection: each workload rerun with ``EIO`` or ``ENOSPC`` instead of its Nth write, Nth
fsync (and Nth create, rename, delete, directory fsync, truncate, mkdir), or a short write of its
Nth write.

The first failure must surface as :class:`~simqueue.core.errors.StorageError` naming the OS
error, every later call must raise :class:`~simqueue.core.errors.QueueStoppedError`, and reopening
(after a process crash, and after a power cut) must recover consistently without losing what was
acknowledged before the failure (``docs/semantics.md``, "Storage rules": fail-stop).
"""

from __future__ import annotations

import errno as errno_mod
import logging
import os
import random
import shutil
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import NamedTuple

from simqueue.core.clock import VirtualClock
from simqueue.lab.parallel import fan_out
from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.checks import Expect, recover_and_check
from simqueue.testing.crashsim.disk import DATA_DIR, read_state, scratch_dir, write_state
from simqueue.testing.crashsim.driver import Driver
from simqueue.testing.crashsim.recording import RecordingFileSystem, Trace, log_written
from simqueue.testing.crashsim.results import FaultResult, Violation
from simqueue.testing.crashsim.workloads import WORKLOADS, Workload
from simqueue.testing.faults import MUTATING_OPS

log = logging.getLogger(__name__)

FAULT_CHUNKS = 24  # the faults are dealt into this many calls (worker tasks), whatever runs them


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: which operation, which occurrence, which error."""

    kind: str  # "fail" or "short"
    op: str
    n: int  # 0-based index among operations of that kind, counted from the start of the run
    errno: int = errno_mod.EIO
    keep: int | None = None  # short write: bytes that land (None: half)

    def describe(self) -> str:
        if self.kind == "short":
            keep = "half" if self.keep is None else f"{self.keep} bytes"
            return f"short write ({keep}, then ENOSPC) on write #{self.n}"
        return f"{errno_mod.errorcode[self.errno]} on {self.op} #{self.n}"

    def kind_name(self) -> str:
        """How the figures count it: ``short write`` or ``<op> <errno name>``."""
        if self.kind == "short":
            return "short write"
        return f"{self.op} {errno_mod.errorcode[self.errno]}"


class _FaultRun(NamedTuple):
    problems: list[str]
    fired: bool
    stopped: bool  # fail-stop held
    reopened: bool  # both views recovered and checked


def fault_specs(trace: Trace, budget: Budget) -> list[FaultSpec]:
    """Every fault the budget tries on this trace's operations."""
    counts = trace.op_counts()
    specs: list[FaultSpec] = []
    every = budget.fault_every
    for op in MUTATING_OPS:
        heavy = op in ("write", "fsync")
        codes = (errno_mod.EIO, errno_mod.ENOSPC) if heavy else (errno_mod.EIO,)
        for n in range(0, counts.get(op, 0), every if heavy else 1):
            specs += [FaultSpec("fail", op, n, code) for code in codes]
    for n in range(0, counts.get("write", 0), every):
        specs += [FaultSpec("short", "write", n, errno_mod.ENOSPC, keep) for keep in (0, None)]
    return specs


def run_faults(trace: Trace, specs: list[FaultSpec]) -> FaultResult:
    """Rerun the workload once per fault; check fail-stop, then reopen and check recovery."""
    res = FaultResult(trace.workload)
    wl = WORKLOADS[trace.workload]
    scratch = scratch_dir("simqueue-faults-")
    try:
        for spec in specs:
            res.injections += 1
            run = _one_fault(trace, wl, spec, scratch)
            res.fired += run.fired
            res.stopped_cleanly += run.stopped
            res.reopened_ok += run.reopened
            if run.fired:
                key = spec.kind_name()
                res.by_kind[key] = res.by_kind.get(key, 0) + 1
            if run.problems:
                what = spec.describe()
                res.violations.append(
                    Violation(trace.workload, spec.n, what, "fault", what, run.problems)
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def _one_fault(trace: Trace, wl: Workload, spec: FaultSpec, scratch: str) -> _FaultRun:
    root = os.path.join(scratch, "run")
    write_state(root, trace.initial_files)
    clock = VirtualClock(trace.start_time)
    fs = RecordingFileSystem(root, clock)
    if spec.kind == "short":
        fs.short_write_at(spec.n, keep=spec.keep, errno=spec.errno)
    else:
        fs.fail_at(spec.op, spec.n, spec.errno)
    d = Driver(
        fs,
        os.path.join(root, DATA_DIR),
        trace.params,
        clock,
        strict=False,
        acked=trace.marks[0].durable,
        scale=trace.scale,
    )
    problems: list[str] = []
    try:
        wl.steps(d)
    except Exception as exc:
        problems.append(f"the failure escaped as {exc!r}, not StorageError")
    finally:
        d.abandon()
    if not fs.fired:
        return _FaultRun(problems, False, False, False)
    problems += _fail_stop_problems(d, fs, spec, escaped=bool(problems))
    stopped = not problems
    after = _reopen_problems(trace, d, fs, spec, scratch)
    return _FaultRun(problems + after, True, stopped, not after)


def _fail_stop_problems(
    d: Driver, fs: RecordingFileSystem, spec: FaultSpec, *, escaped: bool
) -> list[str]:
    """The fault was reported as a StorageError naming the OS error, and the queue stopped."""
    out = []
    if d.error is None and not escaped:
        out.append(f"the injected fault ({fs.fired[0]}) was never reported")
    elif d.error is not None and os.strerror(spec.errno) not in str(d.error):
        out.append(f"the StorageError does not name the OS error: {d.error}")
    return out + d.violations


def _reopen_problems(
    trace: Trace, d: Driver, fs: RecordingFileSystem, spec: FaultSpec, scratch: str
) -> list[str]:
    """Reopen what survives a process crash right now (the files as they are), then what
    survives a power cut; each must recover consistently."""
    root = fs.root
    last = d.marks[-1]
    k0 = trace.marks[0].durable
    log_model, upto = log_written(fs.trace, {s: r for s, r in trace.log.items() if s <= k0}, k0)
    proc_root = os.path.join(scratch, "process")
    write_state(proc_root, read_state(root))
    views = [("process crash", proc_root, max(last.durable, last.written))]
    fs.power_loss(random.Random(spec.n), "drop")
    views.append(("power cut", root, last.durable))
    params = trace.params
    out: list[str] = []
    for view, where, acked in views:
        exp = Expect(
            log_model,
            acked,
            upto[-1],
            d.clock.now(),
            params.get("max_retry", 3),
            params.get("backoff", 0.0),
            retain=params.get("retain_finished"),
        )
        status, found = recover_and_check(where, exp, params)
        if status == "violation":
            out += [f"after a {view}: {p}" for p in found]
    return out


def fault_campaign(
    trace: Trace,
    budget: Budget,
    executor: Executor | None = None,
    *,
    progress: bool | None = None,
) -> FaultResult:
    """Every fault of :func:`fault_specs`, in :data:`FAULT_CHUNKS` calls on ``executor``
    (default: ``budget.workers`` local processes), merged in chunk order."""
    t0 = time.perf_counter()
    specs = fault_specs(trace, budget)
    total = FaultResult(trace.workload)
    n_chunks = max(1, min(len(specs), FAULT_CHUNKS))
    calls = [(trace, specs[i::n_chunks]) for i in range(n_chunks)]
    for part in fan_out(
        run_faults,
        calls,
        executor=executor,
        workers=budget.workers,
        progress=progress,
        desc=f"faults {trace.workload}",
    ):
        total.merge(part)
    total.seconds = time.perf_counter() - t0
    log.info(
        "  %-14s %5d faults fired of %5d  %d violations  %6.1f s",
        trace.workload,
        total.fired,
        total.injections,
        len(total.violations),
        total.seconds,
    )
    return total
