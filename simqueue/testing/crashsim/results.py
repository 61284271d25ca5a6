"""The campaign's figures: per workload, per fault run, and the summary ``make crashtest`` prints
(``docs/reliability.md`` tables 1, 2 and 4 are these tables)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.outcomes import FAMILIES


@dataclass
class Violation:
    """One recovery (or fault run) that broke an invariant, and every sentence it broke."""

    workload: str
    crash_point: int
    after: str  # the operation just before the crash (or the injected fault)
    family: str
    outcome: str
    problems: list[str]

    def describe(self) -> str:
        return (
            f"[{self.workload}] crash point {self.crash_point} (after {self.after}), "
            f"{self.family}: {self.outcome}: " + "; ".join(self.problems)
        )


@dataclass
class WorkloadResult:
    """The crash campaign's figures for one workload."""

    workload: str
    description: str = ""
    ops: int = 0
    op_counts: dict[str, int] = field(default_factory=dict)
    crash_points: int = 0
    outcomes: int = 0  # generated, duplicates included
    states: int = 0  # distinct disk states recovered
    recoveries_ok: int = 0
    acked_jobs_checked: int = 0  # acknowledged ENQUEUEs looked for, summed over recoveries
    needs_salvage: int = 0
    salvaged_ok: int = 0
    by_family: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: WorkloadResult) -> None:
        self.crash_points += other.crash_points
        self.outcomes += other.outcomes
        self.states += other.states
        self.recoveries_ok += other.recoveries_ok
        self.acked_jobs_checked += other.acked_jobs_checked
        self.needs_salvage += other.needs_salvage
        self.salvaged_ok += other.salvaged_ok
        self.by_family = dict(Counter(self.by_family) + Counter(other.by_family))
        self.violations += other.violations


@dataclass
class FaultResult:
    """The error-injection figures for one workload."""

    workload: str
    injections: int = 0
    fired: int = 0
    stopped_cleanly: int = 0  # StorageError, then QueueStoppedError for every call
    reopened_ok: int = 0  # both views (process crash, power cut) recovered and checked
    by_kind: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: FaultResult) -> None:
        self.injections += other.injections
        self.fired += other.fired
        self.stopped_cleanly += other.stopped_cleanly
        self.reopened_ok += other.reopened_ok
        self.by_kind = dict(Counter(self.by_kind) + Counter(other.by_kind))
        self.violations += other.violations


@dataclass
class CampaignSummary:
    """Everything a whole campaign found; :meth:`table` is what ``make crashtest`` prints."""

    budget: Budget
    workloads: list[WorkloadResult] = field(default_factory=list)
    faults: list[FaultResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> list[Violation]:
        return [v for w in self.workloads for v in w.violations] + [
            v for f in self.faults for v in f.violations
        ]

    @property
    def lost_acknowledged(self) -> int:
        """Acknowledged jobs found missing after a recovery, over every crash and fault."""
        return sum(
            1
            for v in self.violations
            for p in v.problems
            if "acknowledged job" in p or "acknowledged records lost" in p
        )

    def table(self) -> str:
        lines = self._crash_table() if self.workloads else self._crash_header()
        if self.faults:
            lines += self._fault_table()
        lines.append("")
        lines.append(
            f"violations: {len(self.violations)}   lost acknowledged jobs: {self.lost_acknowledged}"
            f" (of {sum(w.acked_jobs_checked for w in self.workloads)} checked)   "
            f"total {self.seconds:.1f} s"
        )
        return "\n".join(lines)

    @staticmethod
    def _crash_header() -> list[str]:
        return [
            "Crash points x power-loss outcomes (recovered, then checked, then recovered again)",
            f"{'workload':<14} {'ops':>5} {'crash pts':>9} {'outcomes':>9} {'states':>7} "
            f"{'recovered':>9} {'salvage':>8} {'acked jobs':>10} {'violations':>10} "
            f"{'seconds':>8}",
        ]

    def _crash_table(self) -> list[str]:
        lines = self._crash_header()
        for w in self.workloads:
            lines.append(
                f"{w.workload:<14} {w.ops:>5} {w.crash_points:>9} {w.outcomes:>9} {w.states:>7} "
                f"{w.recoveries_ok:>9} {w.needs_salvage:>8} {w.acked_jobs_checked:>10} "
                f"{len(w.violations):>10} {w.seconds:>8.1f}"
            )
        fam: Counter[str] = Counter()
        for w in self.workloads:
            fam.update(w.by_family)
        lines.append(
            "states by outcome family: "
            + ", ".join(f"{f} {fam[f]}" for f in FAMILIES if fam.get(f))
        )
        return lines

    def _fault_table(self) -> list[str]:
        lines = [
            "",
            "Injected errors (fail-stop, then reopen after a process crash and a power cut)",
            f"{'workload':<14} {'injected':>8} {'fired':>6} {'stopped ok':>10} "
            f"{'reopened ok':>11} {'violations':>10} {'seconds':>8}",
        ]
        for f in self.faults:
            lines.append(
                f"{f.workload:<14} {f.injections:>8} {f.fired:>6} {f.stopped_cleanly:>10} "
                f"{f.reopened_ok:>11} {len(f.violations):>10} {f.seconds:>8.1f}"
            )
        kinds: Counter[str] = Counter()
        for f in self.faults:
            kinds.update(f.by_kind)
        lines.append(
            "faults fired by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        )
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": asdict(self.budget),
            "workloads": [asdict(w) for w in self.workloads],
            "faults": [asdict(f) for f in self.faults],
            "seconds": self.seconds,
        }
