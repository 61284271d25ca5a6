"""The crash-point explorer's records: one workload's recorded I/O operations, every power-loss
outcome at every crash point, and what recovery made of each, as plain frozen records.

:class:`CrashExplorer` records a workload of :mod:`simqueue.testing.crashsim.workloads` (under a
chosen fsync policy), replays its operations on the disk model, lists the outcomes
(:mod:`simqueue.testing.crashsim.outcomes`) a power cut after ``k`` operations may leave, and
recovers any one of them with the real ``DurableQueue.open``: :meth:`CrashExplorer.state` says
which bytes survived, what recovery cut, the campaign's invariant verdict
(:func:`~simqueue.testing.crashsim.checks.recover_check`) and which acknowledged jobs were lost;
:meth:`CrashExplorer.losses` gives that last figure for every crash point and outcome family.
Notebook 08 shows them (:mod:`simqueue.testing.grading.explorer_view`).

"Acknowledged" is what the queue told its caller (:meth:`DurableQueue.is_acknowledged`): the
fsynced records under ``always`` and ``batch``, every record handed to the OS under ``never``.
The campaign holds a power cut to the fsynced records only, so under ``never`` a verdict of
``ok`` can come with acknowledged jobs lost: that is what ``never`` means.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, replace
from typing import Any

from simqueue.core import wal
from simqueue.core.clock import VirtualClock
from simqueue.core.errors import CorruptSnapshotError, CorruptWALError
from simqueue.core.queue import DurableQueue
from simqueue.core.storage import FileSystem
from simqueue.testing.crashsim import (
    DATA_DIR,
    FAMILIES,
    WORKLOADS,
    Budget,
    Disk,
    Expect,
    Outcome,
    Trace,
    outcomes,
    record,
    scratch_dir,
    write_state,
)
from simqueue.testing.crashsim.checks import recover_check
from simqueue.testing.grading.report import without_scratch


@dataclass(frozen=True)
class FileBytes:
    """One file after the power cut: ``written`` bytes had been written, ``durable`` of them
    fsynced; ``surviving`` came back (None: its directory entry did not); ``differs_at`` is the
    first offset where what came back is not what was written (None: a prefix of it)."""

    path: str
    written: int
    durable: int
    surviving: int | None
    differs_at: int | None
    excerpt: str  # hex of the surviving bytes just past the durable ones


@dataclass(frozen=True)
class CrashState:
    """One power-loss outcome at one crash point, recovered and checked."""

    policy: str
    crash_point: int
    operations: int
    operation: str
    step: str
    family: str
    outcome: str
    files: tuple[FileBytes, ...]
    status: str  # ok, salvaged (needed salvage=True, as a sector reorder does) or violation
    problems: tuple[str, ...]
    recovered_seq: int  # the log was recovered through this seq
    promised_seq: int  # the campaign holds recovery to this seq (fsynced, or written for a kill)
    acknowledged_seq: int  # the queue had told its caller this much was acknowledged
    recovery: str  # what recovery found and cut
    jobs_lost: tuple[str, ...]  # acknowledged jobs the recovered queue does not know

    def describe(self) -> str:
        after = f"after {self.operation}" if self.crash_point else "before any operation"
        lines = [
            f"fsync={self.policy}: crash point {self.crash_point} of {self.operations}, {after} "
            f"(last call returned: {self.step})",
            f"power loss: {self.family}: {self.outcome}",
            "files (written / fsynced / came back, first byte that differs):",
        ]
        for f in self.files:
            back = "gone" if f.surviving is None else str(f.surviving)
            diff = "" if f.differs_at is None else f", differs from byte {f.differs_at}"
            lines.append(f"  {f.path}: {f.written} / {f.durable} / {back}{diff}")
            if f.excerpt:
                lines.append(f"      past the fsynced bytes: {f.excerpt}")
        lines += [
            f"recovery: {self.recovery}",
            f"recovered through seq {self.recovered_seq}; promised {self.promised_seq}; "
            f"acknowledged to the caller {self.acknowledged_seq}",
            f"verdict: {self.status}" + "".join(f"\n  {p}" for p in self.problems),
            f"acknowledged jobs lost: {', '.join(self.jobs_lost) or 'none'}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class Losses:
    """Acknowledged jobs lost, the most over one family's outcomes, per crash point:
    ``lost[f][k]`` for family ``families[f]`` after ``k`` operations (NaN: no such outcome)."""

    policy: str
    families: tuple[str, ...]
    lost: tuple[tuple[float, ...], ...]

    @property
    def worst(self) -> int:
        return int(max((v for row in self.lost for v in row if not math.isnan(v)), default=0))


class CrashExplorer:
    """One recorded workload under one fsync policy, explorable crash point by crash point."""

    def __init__(
        self, workload: str = "steady", fsync: str | None = None, budget: Budget | None = None
    ) -> None:
        if workload not in WORKLOADS:
            raise ValueError(f"workload: unknown {workload!r} (known: {', '.join(WORKLOADS)})")
        wl = WORKLOADS[workload]
        if fsync is not None:
            wl = replace(wl, params={**wl.params, "fsync": fsync})
        self.policy: str = wl.params["fsync"]
        self.budget = budget or Budget.quick()
        self._scratch = scratch_dir("simqueue-explorer-")
        self.trace: Trace = record(wl, self._scratch, self.budget.scale)
        self._enqueued = sorted(
            (s, r.job_id) for s, r in self.trace.log.items() if r.type == wal.ENQUEUE
        )
        self._outcomes: dict[int, tuple[Disk, list[Outcome]]] = {}
        self._losses: Losses | None = None

    @property
    def operations(self) -> int:
        return len(self.trace.ops)

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def disk_at(self, k: int) -> tuple[Disk, list[Outcome]]:
        """The disk model after ``k`` operations and every outcome a power cut may leave."""
        if not 0 <= k <= self.operations:
            raise ValueError(f"crash point: {k} is not in 0..{self.operations}")
        if k not in self._outcomes:
            disk = Disk(self.trace.initial_files)
            for op in self.trace.ops[:k]:
                disk.apply(op)
            self._outcomes[k] = (disk, list(outcomes(disk, k, self.budget)))
        return self._outcomes[k]

    def acknowledged_at(self, k: int) -> int:
        """The seq the queue had told its caller was acknowledged after ``k`` operations."""
        mark = self.trace.mark_at(k)
        return mark.written if self.policy == "never" else mark.durable

    def state(self, k: int, index: int) -> CrashState:
        """Outcome ``index`` of crash point ``k``, recovered twice: once to see what recovery
        did, once by the campaign's checker for the verdict."""
        disk, outs = self.disk_at(k)
        if not 0 <= index < len(outs):
            raise ValueError(f"outcome: {index} is not in 0..{len(outs) - 1}")
        out = outs[index]
        mark = self.trace.mark_at(k)
        promised = max(mark.durable, mark.written) if out.family == "process" else mark.durable
        root = os.path.join(self._scratch, "state")
        write_state(root, out.files)
        summary, present, seq = self._recover(root, k, salvage_ok=out.family == "reorder")
        write_state(root, out.files)
        reference = self.trace.reference if k < self.trace.open_ends_at else None
        exp = Expect.at(self.trace, k, promised, reference)
        checked = recover_check(root, exp, self.trace.params, hole=out.family == "reorder")
        after = self.trace.ops[k - 1].describe() if k else "nothing"
        return CrashState(
            policy=self.policy,
            crash_point=k,
            operations=self.operations,
            operation=after,
            step=mark.step,
            family=out.family,
            outcome=out.label,
            files=_files(disk, out),
            status=checked.status,
            problems=tuple(without_scratch(p) for p in checked.problems),
            recovered_seq=seq,
            promised_seq=promised,
            acknowledged_seq=self.acknowledged_at(k),
            recovery=summary,
            jobs_lost=self._lost(k, present),
        )

    def losses(self) -> Losses:
        """Acknowledged jobs lost at every crash point, per outcome family (one recovery per
        distinct disk state; computed once)."""
        if self._losses is not None:
            return self._losses
        root = os.path.join(self._scratch, "grid")
        rows = {f: [math.nan] * (self.operations + 1) for f in FAMILIES}
        for k in range(self.operations + 1):
            _, outs = self.disk_at(k)
            seen: dict[frozenset[tuple[str, bytes | None]], int] = {}
            for out in outs:
                key = frozenset(out.files.items())
                if key not in seen:
                    write_state(root, out.files)
                    _, present, _ = self._recover(root, k, salvage_ok=out.family == "reorder")
                    seen[key] = len(self._lost(k, present))
                cell = rows[out.family][k]
                rows[out.family][k] = max(seen[key], 0 if math.isnan(cell) else cell)
        self._losses = Losses(self.policy, FAMILIES, tuple(tuple(rows[f]) for f in FAMILIES))
        return self._losses

    def _lost(self, k: int, present: set[str]) -> tuple[str, ...]:
        acked = self.acknowledged_at(k)
        return tuple(j for s, j in self._enqueued if s <= acked and j not in present)

    def _recover(self, root: str, k: int, *, salvage_ok: bool) -> tuple[str, set[str], int]:
        """Open the state under ``root``: what recovery said, the job ids it kept, its last
        seq recovered. A refusal is a recovery that kept nothing."""
        fs = FileSystem(real_fsync=False, track_power_loss=True)
        params: dict[str, Any] = dict(self.trace.params)
        data_dir = os.path.join(root, DATA_DIR)
        clock = VirtualClock(self.trace.time_at(k))
        try:
            q = DurableQueue.open(data_dir, fs=fs, clock=clock, **params)
        except (CorruptWALError, CorruptSnapshotError) as exc:
            if not salvage_ok:
                return f"refused: {without_scratch(str(exc))}", set(), 0
            q = DurableQueue.open(data_dir, fs=fs, clock=clock, salvage=True, **params)
        try:
            rep = q.recovery
            present = {info.id for info in q.jobs_info()}
            if rep is None:
                return "a new, empty directory", present, 0
            return _recovery_summary(rep), present, rep.next_seq - 1
        finally:
            q.abandon()


def _recovery_summary(rep: Any) -> str:
    src = os.path.basename(rep.snapshot) if rep.snapshot else "no snapshot"
    parts = [f"from {src}, replayed {rep.records_replayed} records"]
    if rep.tail_bytes_discarded:
        cut = os.path.basename(rep.torn_segment or "")
        parts.append(f"cut {rep.tail_bytes_discarded} bytes off the end of {cut}")
    if rep.salvage_offset is not None:
        parts.append(f"salvage cut at byte {rep.salvage_offset} ({rep.salvaged_bytes} bytes)")
    if rep.snapshots_skipped:
        parts.append(f"passed over {len(rep.snapshots_skipped)} unreadable snapshot(s)")
    parts.append(f"{rep.jobs_interrupted} in-flight attempt(s) ended as interrupted")
    return "; ".join(parts)


def _files(disk: Disk, out: Outcome) -> tuple[FileBytes, ...]:
    """Every file the disk model knows by its current name, against what came back."""
    rows = []
    for d, entries in sorted(disk.cur.items()):
        for name, ino in sorted(entries.items()):
            if ino < 0:
                continue
            path = os.path.join(d, name)
            data, synced = bytes(disk.data[ino]), disk.synced[ino]
            back = out.files.get(path)
            rows.append(FileBytes(path, len(data), synced, *_compare(data, back, synced)))
    return tuple(rows)


def _compare(data: bytes, back: bytes | None, synced: int) -> tuple[int | None, int | None, str]:
    if back is None:
        return None, None, ""
    n = min(len(data), len(back))
    differs = next((i for i in range(n) if data[i] != back[i]), None)
    if differs is None and len(back) > len(data):
        differs = len(data)
    return len(back), differs, back[synced : synced + 16].hex(" ")


__all__ = ["CrashExplorer", "CrashState", "FileBytes", "Losses"]
