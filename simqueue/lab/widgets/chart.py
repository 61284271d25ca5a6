"""The dashboard's figure: throughput over time against the 200 jobs/s target, throughput against
the number of workers, and the mean wait against the number of workers, each beside its M/M/c
prediction.

The figure and its artists are made once; each run only updates their data. A new figure per
run would re-measure every tick label's text (matplotlib caches text metrics per renderer), and
the dashboard has 0.5 s per change for simulating and drawing together. The layout is fixed for
the same reason (constrained layout doubles the drawing time), and so is every title's position
(a title placed automatically costs a layout pass).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from matplotlib.ticker import FuncFormatter, NullLocator

from simqueue.lab.plots.figure import TARGET_COLOUR, TARGET_THROUGHPUT, PlotFigure
from simqueue.lab.widgets.measures import comparable, fmt_wait, ms, per_second, theory_waits

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.lab.sweeps import Prediction
    from simqueue.sim.config import Config
    from simqueue.sim.simulation import Summary

__all__ = ["DashboardChart"]

GREEN, BLUE = "#2ca02c", "#1f77b4"
MAX_WORKERS = 128  # the top of the workers slider: the theory curves cover 1 to this
WORKERS_AXIS = (0, 130)
TITLE_Y = 1.01
_TARGET_LABEL = f"target {TARGET_THROUGHPUT:g} jobs/s"


def _legend_and_grid(ax: Axes, legend_at: Literal["lower right", "upper right"]) -> None:
    ax.legend(fontsize="small", loc=legend_at)
    ax.grid(alpha=0.3)


class _TimePanel:
    """Throughput over the run against the target and the predicted throughput."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        (self.simulated,) = ax.plot([], [], drawstyle="steps-pre", color=BLUE, label="simulated")
        ax.axhline(TARGET_THROUGHPUT, color=TARGET_COLOUR, ls="--", lw=1.2, label=_TARGET_LABEL)
        self.theory = ax.axhline(0, color=GREEN, ls=":", lw=1.8, label="M/M/c prediction")
        ax.set_xlabel("simulated time (s)")
        ax.set_ylabel("throughput (jobs/s)")
        _legend_and_grid(ax, "lower right")

    def update(
        self,
        times: list[float],
        rates: list[float],
        cfg: Config,
        rate: float,
        steady: float,
        pred: Prediction,
        duration: float,
    ) -> None:
        self.simulated.set_data(times, rates)
        self.theory.set_ydata([pred.throughput, pred.throughput])
        self.ax.set_xlim(0, duration)
        self.ax.set_ylim(0, max(TARGET_THROUGHPUT, rate, max(rates, default=0.0)) * 1.15)
        title = f"{cfg.workers} workers, {rate:.0f} jobs/s offered, {steady:.0f} jobs/s done"
        self.ax.set_title(title, y=TITLE_Y)


class _WorkersPanel:
    """Throughput against workers: the theory curve, the fewest workers that keep up, this run
    and earlier comparable runs."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        (self.theory,) = ax.plot([], [], ":", color=GREEN, lw=1.8, label="M/M/c")
        ax.axhline(TARGET_THROUGHPUT, color=TARGET_COLOUR, ls="--", lw=1.2, label=_TARGET_LABEL)
        self.min_workers = ax.axvline(1, color=GREEN, lw=0.8, alpha=0.6)
        (self.earlier,) = ax.plot([], [], "o", color=BLUE, alpha=0.35, label="earlier runs")
        (self.now,) = ax.plot([], [], "o", color=BLUE, ms=8, label="this run")
        ax.set_xlim(*WORKERS_AXIS)
        ax.set_xlabel("workers")
        ax.set_ylabel("throughput (jobs/s)")
        _legend_and_grid(ax, "lower right")

    def update(
        self, cfg: Config, rate: float, steady: float, pred: Prediction, same: list[dict[str, Any]]
    ) -> None:
        cs = list(range(1, MAX_WORKERS + 1))
        served = rate * (1 - pred.dead_fraction)
        self.theory.set_data(cs, [min(served, c * pred.capacity_per_worker) for c in cs])
        self.min_workers.set_xdata([pred.min_workers, pred.min_workers])
        self.earlier.set_data([h["workers"] for h in same], [h["throughput"] for h in same])
        self.now.set_data([cfg.workers], [steady])
        self.ax.set_ylim(0, max(TARGET_THROUGHPUT, served, steady) * 1.15)
        self.ax.set_title(f"M/M/c: {pred.min_workers} workers keep up", y=TITLE_Y)


class _WaitPanel:
    """Mean wait against workers (log scale, in ms): the theory curve, this run and earlier
    comparable runs."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        (self.theory,) = ax.plot([], [], ":", color=GREEN, lw=1.8, label="M/M/c")
        (self.earlier,) = ax.plot([], [], "o", color=BLUE, alpha=0.35)
        (self.now,) = ax.plot([], [], "o", color=BLUE, ms=8, label="simulated")
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())  # fewer ticks and lines to draw
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # no mathtext
        ax.set_xlim(*WORKERS_AXIS)
        ax.set_xlabel("workers")
        ax.set_ylabel("mean wait (ms)")
        _legend_and_grid(ax, "upper right")

    def update(
        self, cfg: Config, rate: float, summary: Summary, same: list[dict[str, Any]]
    ) -> None:
        cs = list(range(1, MAX_WORKERS + 1))
        waits = [ms(w) for w in theory_waits(cfg, rate, cs)]
        earlier = [ms(h["mean_wait"]) for h in same]
        self.theory.set_data(cs, waits)
        self.earlier.set_data([h["workers"] for h in same], earlier)
        self.now.set_data([cfg.workers], [ms(summary.mean_wait)])
        shown = [w for w in [*earlier, ms(summary.mean_wait), *waits] if math.isfinite(w)]
        lo, hi = (min(shown), max(shown)) if shown else (1e-3, 1.0)
        self.ax.set_ylim(max(lo / 2, 1e-3), max(hi * 2, 1e-2))
        title = f"mean wait {fmt_wait(summary.mean_wait)} (dots) vs M/M/c"
        self.ax.set_title(title, y=TITLE_Y)


class DashboardChart:
    """The three panels side by side, redrawn in place for every run."""

    def __init__(self, dpi: int) -> None:
        self.figure = PlotFigure(figsize=(13.0, 3.6), dpi=dpi)
        ax_t, ax_w, ax_q = self.figure.subplots(1, 3, width_ratios=[1.5, 1, 1])
        self.figure.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.9, wspace=0.22)
        self._time = _TimePanel(ax_t)
        self._workers = _WorkersPanel(ax_w)
        self._wait = _WaitPanel(ax_q)
        for ax in (ax_t, ax_w, ax_q):
            ax.set_title(" ", y=TITLE_Y)

    def draw(
        self,
        cfg: Config,
        samples: Sequence[tuple[Any, ...]],
        summary: Summary,
        steady: float,
        pred: Prediction,
        history: list[dict[str, Any]],
        duration: float,
    ) -> PlotFigure:
        """Show the run that ``history[-1]`` records (``duration`` simulated seconds of it),
        beside the earlier runs that differ from it only in the number of workers."""
        rate = pred.arrival_rate
        times, rates = per_second(samples)
        same = [h for h in history[:-1] if comparable(h, history[-1])]
        self._time.update(times, rates, cfg, rate, steady, pred, duration)
        self._workers.update(cfg, rate, steady, pred, same)
        self._wait.update(cfg, rate, summary, same)
        self.figure.simqueue_data = pd.DataFrame({"time": times, "throughput": rates})
        self.figure.simqueue_meta = {
            "plot": "dashboard",
            "config": cfg,
            "duration": duration,
            "steady_throughput": steady,
            "summary": {k: v for k, v in summary.as_dict().items() if k != "recoveries"},
            "prediction": pred.as_dict(),
            "target": TARGET_THROUGHPUT,
        }
        return self.figure
