"""What one dashboard run produced, and the paragraph under the plot that sums it up."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simqueue.lab.plots.figure import TARGET_THROUGHPUT
from simqueue.lab.widgets.measures import fmt_wait

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
        f"Capacity of {outcome.config.workers} workers (M/M/c): {pred.capacity:.0f} jobs/s, "
        f"{verdict} ({pred.min_workers} workers needed at {rate:.0f} jobs/s). "
        f"Mean wait {fmt_wait(summary.mean_wait)} (M/M/c {fmt_wait(pred.mean_wait)}). "
        f"<small>{duration:.0f} simulated s in {t['simulate'] * 1000:.0f} ms, "
        f"drawn in {t['draw'] * 1000:.0f} ms</small>"
    )


def error_html(what: str, message: str) -> str:
    """A failure shown in the dashboard, where a widget callback's exception would vanish."""
    return f"<b style='color:{RED}'>{what}:</b> {html.escape(message)}"
