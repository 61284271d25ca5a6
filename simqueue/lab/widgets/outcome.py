"""What one dashboard run produced, and the paragraph under the plot that sums it up."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simqueue.lab.plots.figure import TARGET_RECOVERY_SECONDS, TARGET_THROUGHPUT
from simqueue.lab.widgets.crashes import CrashOutcome, describe_lost
from simqueue.lab.widgets.measures import fmt_wait, plural

if TYPE_CHECKING:
    from simqueue.lab.plots.figure import PlotFigure
    from simqueue.lab.sweeps import Prediction
    from simqueue.sim.config import Config
    from simqueue.sim.simulation import Summary

__all__ = ["RunOutcome", "error_html", "status_html"]

GREEN, RED = "#2a7", "#b00"


@dataclass(frozen=True)
class RunOutcome:
    """One finished run: its settings, results, the theory beside them, and its timings."""

    config: Config
    summary: Summary
    prediction: Prediction
    steady: float  # completions per second after the warm-up
    figure: PlotFigure
    timing: dict[str, float]  # seconds: "simulate", "draw", "total"
    crash: CrashOutcome | None = None  # None: the run did not crash


def status_html(outcome: RunOutcome, run_number: int, duration: float) -> str:
    """One paragraph: did the run keep up with the offered load, and does this many workers
    have the capacity for the 200 jobs/s target (throughput can never exceed the arrival
    rate, so the target is judged on capacity)."""
    summary, pred, t = outcome.summary, outcome.prediction, outcome.timing
    rate = pred.arrival_rate
    keeps_up = summary.pending <= rate  # less than a second of work waiting at the end
    enough = pred.capacity >= TARGET_THROUGHPUT
    backlog = (
        f"<span style='color:{GREEN}'>keeps up</span>"
        if keeps_up
        else f"<span style='color:{RED}'>falls behind: {summary.pending} jobs waiting</span>"
    )
    verdict = (
        f"<span style='color:{GREEN if enough else RED}'>"
        f"{'meets' if enough else 'misses'} the {TARGET_THROUGHPUT:.0f} jobs/s target</span>"
    )
    return (
        f"<b>run {run_number}</b>: {rate:.0f} jobs/s offered, <b>{outcome.steady:.1f} jobs/s</b> "
        f"completed ({backlog}); {summary.dead} dead. "
        f"Capacity of {plural(outcome.config.workers, 'worker')} (M/M/c): "
        f"{pred.capacity:.0f} jobs/s, {verdict} ({plural(pred.min_workers, 'worker')} needed at "
        f"{rate:.0f} jobs/s). "
        f"Mean wait {fmt_wait(summary.mean_wait)} (M/M/c {fmt_wait(pred.mean_wait)}). "
        f"{_acks(outcome)}{_recovery(outcome.crash)}"
        f"<small>{duration:.0f} simulated s in {t['simulate'] * 1000:.0f} ms, "
        f"drawn in {t['draw'] * 1000:.0f} ms</small>"
    )


def _acks(outcome: RunOutcome) -> str:
    p50 = getattr(outcome.summary, "ack_p50", None)
    p99 = getattr(outcome.summary, "ack_p99", None)
    if p50 is None or p99 is None or math.isnan(p50) or math.isnan(p99):
        return ""

    def fmt(v: float) -> str:
        return fmt_wait(v) if v > 0 else "0 ms"

    return f"Acknowledgements (fsync {outcome.config.fsync}): p50 {fmt(p50)}, p99 {fmt(p99)}. "


def _recovery(crash: CrashOutcome | None) -> str:
    """The crash's verdict against the 3 s recovery target, and what it lost."""
    if crash is None:
        return "No crash this run. "
    ok = crash.recovery_s <= TARGET_RECOVERY_SECONDS
    verdict = (
        f"<span style='color:{GREEN if ok else RED}'>{'meets' if ok else 'misses'} the "
        f"{TARGET_RECOVERY_SECONDS:g} s recovery target</span>"
    )
    lost = describe_lost(crash.lost_ids)
    lost_html = (
        f"<span style='color:{RED}'>acknowledged jobs lost: {html.escape(lost)}</span>"
        if crash.lost_ids
        else "0 acknowledged jobs lost"
    )
    return (
        f"{crash.kind.capitalize()} crash at {crash.at:g} s: back after "
        f"{crash.recovery_s:.2f} s ({verdict}; recovery itself {crash.wall_s * 1000:.0f} ms "
        f"of wall time), {crash.replayed} records replayed, {lost_html}. "
    )


def error_html(what: str, message: str) -> str:
    """A failure shown in the dashboard, where a widget callback's exception would vanish."""
    return f"<b style='color:{RED}'>{what}:</b> {html.escape(message)}"
