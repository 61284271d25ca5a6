"""The verdicts ``simqueue simulate`` prints on the design's two targets, judged as the dashboard
judges them.

**Throughput >= 200 jobs/s** is judged on *capacity*: a run can never complete more jobs than
arrive, so a measured 197.7 jobs/s at 200 jobs/s offered says nothing about whether the workers
could do 200. Capacity (completed jobs per second the workers sustain: workers over the mean
worker-seconds per job, retries and timeouts included) and the fewest workers that keep up with
200 jobs/s come from :func:`simqueue.lab.sweeps.predict`, the M/M/c prediction the dashboard's
verdict uses too.

**Recovery < 3 s** is judged as the dashboard judges it: on the time from the crash to serving
again, the restart delay and the recovery itself (the real recovery code on the files the crash
left; in a simulation its modeled time, which the simulated clock is charged, shown beside the
time it measured on this machine), for the worst crash of the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from simqueue.lab.plots.figure import (
    TARGET_RECOVERY_SECONDS,
    TARGET_THROUGHPUT,
    plural,
    seconds_label,
)
from simqueue.lab.sweeps import predict

if TYPE_CHECKING:
    from simqueue.core.queue import RecoveryReport
    from simqueue.sim.config import Config

__all__ = ["Verdict", "capacity_verdict", "recovery_verdict"]


@dataclass(frozen=True)
class Verdict:
    """One target's outcome: ``passed`` is None when the run could not judge it."""

    target: str  # "throughput >= 200 jobs/s"
    passed: bool | None
    reason: str

    @property
    def word(self) -> str:
        return {True: "PASS", False: "MISS", None: "NOT JUDGED"}[self.passed]

    def line(self) -> str:
        return f"{self.target}: {self.word}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.word}


def capacity_verdict(config: Config, target: float = TARGET_THROUGHPUT) -> Verdict:
    """PASS when ``config.workers`` can complete ``target`` jobs/s, with the workers needed."""
    pred = predict(config, arrival_rate=target)
    name = f"throughput >= {target:g} jobs/s"
    workers = plural(config.workers, "worker")
    needed = f"{plural(pred.min_workers, 'worker')} needed for {target:g} jobs/s"
    if pred.capacity >= target:
        reason = (
            f"capacity of {workers} is {pred.capacity:.0f} jobs/s (M/M/c), "
            f"at least the target; {needed}"
        )
        return Verdict(name, True, reason)
    reason = f"capacity of {workers} is only {pred.capacity:.1f} jobs/s (M/M/c); {needed}"
    if pred.min_workers > config.workers:
        reason += f" (--workers {pred.min_workers})"
    return Verdict(name, False, reason)


def recovery_verdict(
    recoveries: list[RecoveryReport],
    crash_note: str,
    target: float = TARGET_RECOVERY_SECONDS,
) -> Verdict:
    """PASS when the queue was serving again less than ``target`` seconds after every crash of
    the run; ``crash_note`` says why there was none when there was none."""
    name = f"recovery < {target:g} s"
    if not recoveries:
        return Verdict(name, None, crash_note)
    slowest = max(recoveries, key=_down)
    which = "after the crash" if len(recoveries) == 1 else f"after the worst of {len(recoveries)}"
    replayed = f"replaying {plural(slowest.records_replayed, 'WAL record')}"
    detail = (
        f"serving again {seconds_label(_down(slowest))} {which} ({_parts(slowest)}), {replayed}"
    )
    if _down(slowest) < target:
        return Verdict(name, True, detail)
    return Verdict(name, False, f"{detail}: snapshot more often (snapshot_interval)")


def _work(report: RecoveryReport) -> float:
    """The recovery itself: modeled in a simulation (what its clock is charged), else measured."""
    return report.wall_seconds if report.virtual_seconds is None else report.virtual_seconds


def _down(report: RecoveryReport) -> float:
    """Crash to serving again, as the dashboard judges it: the restart delay and the recovery."""
    return _work(report) if report.downtime is None else report.downtime


def _parts(report: RecoveryReport) -> str:
    work = seconds_label(_work(report))
    if report.virtual_seconds is not None:
        work += f" modeled, {seconds_label(report.wall_seconds)} measured here"
    delay = _down(report) - _work(report)
    return f"restart {seconds_label(delay)} + recovery {work}" if delay > 0 else f"recovery {work}"
