"""What the kill loop found: one :class:`Lifetime` per server process, the :class:`Summary` of the
run, and the text ``python -m simqueue.testing.killtest`` prints (``docs/reliability.md``,
table 5)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


class KillTestError(Exception):
    """The loop could not run (a server that would not start, the time bound). Not a finding."""


@dataclass
class Lifetime:
    """One server process, from start to SIGKILL (or, for the last one, SIGTERM)."""

    index: int
    pid: int
    fsync: str
    early: bool = False  # a start-up kill: aimed at the end of start-up (recovery), no load
    listened: bool = False
    ready_seconds: float | None = None  # spawn -> server.json written (interpreter start too)
    recovery_seconds: float | None = None  # the server's own RecoveryReport.wall_seconds
    jobs_restored: int | None = None
    uptime: float = 0.0  # seconds from listening (or spawn, if it never listened) to the kill
    acked_total: int = 0
    jobs_in_dir: int = 0
    lost: int = 0

    def describe(self, kills: int) -> str:
        """The progress line printed after this lifetime's kill was checked."""
        if self.recovery_seconds is not None:
            start = (
                f"recovered {self.jobs_restored} jobs in {self.recovery_seconds * 1000:.1f} ms, "
                f"listened after {self.ready_seconds:.2f} s"
            )
        elif self.ready_seconds is not None:
            start = f"fresh directory, listened after {self.ready_seconds:.2f} s"
        else:
            start = "start-up kill"
        if self.early:
            when = "after" if self.listened else "before"
            kill = f"SIGKILL {self.uptime:.2f} s after the start, {when} it listened"
        else:
            kill = f"SIGKILL after {self.uptime:.2f} s under load"
        return (
            f"[{self.index:>3}/{kills}] pid {self.pid} fsync={self.fsync}: {start}; "
            f"{kill}; acknowledged {self.acked_total}, in the directory {self.jobs_in_dir}, "
            f"lost {self.lost}"
        )


@dataclass
class Summary:
    """The figures of one run of the loop; ``ok`` when no check failed."""

    kills: int = 0
    start_up_kills: int = 0
    kills_before_listening: int = 0
    lifetimes: list[Lifetime] = field(default_factory=list)
    posts_acknowledged: int = 0
    jobs_acknowledged: int = 0
    jobs_uncertain: int = 0
    refused: list[str] = field(default_factory=list)
    jobs_total: int = 0
    completed: int = 0
    dead: int = 0
    lost: int = 0
    double_completions: int = 0
    runs: int = 0
    jobs_run_more_than_once: int = 0
    ack_records: int = 0
    wal_verify: str = ""
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def recovery_stats(self) -> dict[str, Any]:
        rec = [x.recovery_seconds for x in self.lifetimes if x.recovery_seconds is not None]
        ready = [x.ready_seconds for x in self.lifetimes if x.ready_seconds is not None]
        return {"recovery_seconds": _stats(rec), "ready_seconds": _stats(ready)}

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(self.recovery_stats(), ok=self.ok)
        return out


def _stats(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs), "max": max(xs)}


def _ms(d: dict[str, Any]) -> str:
    if not d["n"]:
        return "n/a"
    return (
        f"min {d['min'] * 1000:.1f} ms, median {d['median'] * 1000:.1f} ms, "
        f"max {d['max'] * 1000:.1f} ms (n={d['n']})"
    )


def format_summary(s: Summary) -> str:
    st = s.recovery_stats()
    lines = [
        f"kills (SIGKILL):           {s.kills}: {s.kills - s.start_up_kills} under load, "
        f"{s.start_up_kills} aimed at start-up ({s.kills_before_listening} before it listened)",
        f"jobs acknowledged (2xx):   {s.jobs_acknowledged} in {s.posts_acknowledged} POSTs "
        f"({s.jobs_uncertain} more in requests cut off by a kill)",
        f"jobs at the end:           {s.jobs_total}: {s.completed} completed, {s.dead} dead",
        f"lost acknowledged jobs:    {s.lost}",
        f"double completions:        {s.double_completions} ({s.ack_records} ACK records read, "
        f"{s.runs} handler runs; {s.jobs_run_more_than_once} jobs ran more than once: "
        "interrupted attempts, at-least-once)",
        f"recovery (server report):  {_ms(st['recovery_seconds'])}",
        f"start to listening:        {_ms(st['ready_seconds'])}",
        f"wal verify at the end:     {s.wal_verify}",
        f"violations:                {len(s.violations)}",
        f"took {s.seconds:.1f} s",
    ]
    return "\n".join(lines)
