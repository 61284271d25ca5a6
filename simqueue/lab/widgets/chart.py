"""The dashboard's figure, four panels: throughput over time against the 200 jobs/s target (the
crash's outage drawn as zero under a red band, the acknowledgement latency in a corner),
throughput against the number of workers and the mean wait against the number of workers (each
beside its M/M/c prediction), and the crash's recovery time against the 3 s target with the
log's size at the crash, over the snapshot interval.

Sized for a laptop screen: 1160 by 720 pixels at 100 dpi, 10.5 pt text and 10 pt legends
(about 14 px), shown at its own size or smaller.

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
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from simqueue.lab.plots.figure import (
    OUTAGE_COLOUR,
    TARGET_COLOUR,
    TARGET_RECOVERY_SECONDS,
    TARGET_THROUGHPUT,
    PlotFigure,
)
from simqueue.lab.widgets.crashes import CrashOutcome, describe_lost
from simqueue.lab.widgets.measures import (
    comparable,
    comparable_recovery,
    fmt_wait,
    ms,
    per_second,
    plural,
    theory_waits,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.lab.sweeps import Prediction
    from simqueue.sim.config import Config
    from simqueue.sim.simulation import Summary

__all__ = ["DashboardChart"]

GREEN, BLUE, ORANGE = "#2ca02c", "#1f77b4", "#ff7f0e"
MAX_WORKERS = 128  # the top of the workers slider: the theory curves cover 1 to this
WORKERS_AXIS = (-2, 134)  # room for a whole marker at 1 and at 128 workers
SNAPSHOT_AXIS = (0, 62)  # the snapshot-interval slider goes 1 to 60 s
TITLE_Y = 1.01
DPI = 100
TEXT_PT, LEGEND_PT, TITLE_PT = 10.5, 10.0, 11.5
_TARGET_LABEL = f"target {TARGET_THROUGHPUT:g} jobs/s"
_LegendAt = Literal["lower right", "upper right", "upper left", "lower left"]


def _legend_and_grid(ax: Axes, legend_at: _LegendAt) -> None:
    ax.legend(fontsize=LEGEND_PT, loc=legend_at)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=TEXT_PT)
    ax.xaxis.set_major_locator(MaxNLocator(6))  # fewer tick labels: each costs a text layout
    ax.xaxis.label.set_fontsize(TEXT_PT)
    ax.yaxis.label.set_fontsize(TEXT_PT)


def _title(ax: Axes, text: str) -> None:
    ax.set_title(text, y=TITLE_Y, fontsize=TITLE_PT)


class _TimePanel:
    """Throughput over the run against the target and the predicted throughput."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        (self.simulated,) = ax.plot([], [], drawstyle="steps-pre", color=BLUE, label="simulated")
        ax.axhline(TARGET_THROUGHPUT, color=TARGET_COLOUR, ls="--", lw=1.2, label=_TARGET_LABEL)
        self.theory = ax.axhline(0, color=GREEN, ls=":", lw=1.8, label="M/M/c prediction")
        self.outage = ax.axvspan(0, 0, color=OUTAGE_COLOUR, alpha=0.18, lw=0, label="down: crash")
        self.acks = ax.text(
            0.98,
            0.96,
            "",
            transform=ax.transAxes,
            fontsize=LEGEND_PT,
            ha="right",
            va="top",
            bbox={"facecolor": "white", "alpha": 0.85, "lw": 0},
        )
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
        crash: CrashOutcome | None,
        acks: str,
    ) -> None:
        self.simulated.set_data(times, rates)
        self.theory.set_ydata([pred.throughput, pred.throughput])
        a, b = (crash.at, crash.recovered_at) if crash else (0.0, 0.0)
        self.outage.set_x(a)  # axvspan's Rectangle, in data x and axes y
        self.outage.set_width(b - a)
        self.outage.set_visible(crash is not None)
        self.acks.set_text(acks)
        self.ax.set_xlim(0, duration)
        # headroom over the catch-up after an outage, for the acknowledgement line
        self.ax.set_ylim(0, max(TARGET_THROUGHPUT, rate, max(rates, default=0.0)) * 1.4)
        title = (
            f"{plural(cfg.workers, 'worker')}, {rate:.0f} jobs/s offered, {steady:.0f} jobs/s done"
        )
        _title(self.ax, title)


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
        self.ax.set_ylim(0, max(TARGET_THROUGHPUT, served, steady) * 1.3)
        keep = "keeps up" if pred.min_workers == 1 else "keep up"
        _title(self.ax, f"M/M/c: {plural(pred.min_workers, 'worker')} {keep}")


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
        ax.set_ylabel("mean wait (ms, log scale)")
        _legend_and_grid(ax, "upper right")

    def update(
        self, cfg: Config, rate: float, summary: Summary, same: list[dict[str, Any]]
    ) -> None:
        cs = list(range(1, MAX_WORKERS + 1))
        # Theory unclamped (ms() puts a zero at 1 µs, right for a dot, wrong for a curve).
        waits = [math.nan if w is None else w * 1000 for w in theory_waits(cfg, rate, cs)]
        earlier = [ms(h["mean_wait"]) for h in same]
        now = ms(summary.mean_wait)
        dots = [w for w in [*earlier, now] if math.isfinite(w)]
        curve = [w for w in waits if math.isfinite(w)]
        hi = max([*dots, *curve], default=1.0) * 3
        # The floor: a decade under the lowest dot, and no lower than 1e-6 of the top, so the
        # curve's tail (waits of 1e-12 ms beyond ~85 workers) leaves through the floor instead
        # of running flat along it; the part under the floor is not drawn.
        lo = min([*dots, hi / 1e6], default=hi / 1e6) / 3
        self.theory.set_data(cs, [w if w >= lo else math.nan for w in waits])
        self.earlier.set_data([h["workers"] for h in same], earlier)
        self.now.set_data([cfg.workers], [now])
        self.ax.set_ylim(lo, hi)
        wait = (
            "no job waited (dot on the floor)"
            if summary.mean_wait == 0
            else f"mean wait {fmt_wait(summary.mean_wait)} (dots)"
        )
        _title(self.ax, f"{wait} vs M/M/c")


class _RecoveryPanel:
    """Recovery against the snapshot interval, on a log scale: the downtime (crash to serving
    again) against the 3 s target, and the recovery work inside it (snapshot load and replay,
    without the restart delay), which grows with the log a longer interval leaves. The log's
    size at the crash and what the crash lost are in the corner."""

    def __init__(self, ax: Axes) -> None:
        self.ax = ax
        ax.axhline(
            TARGET_RECOVERY_SECONDS,
            color=TARGET_COLOUR,
            ls="--",
            lw=1.2,
            label=f"target {TARGET_RECOVERY_SECONDS:g} s",
        )
        (self.down_earlier,) = ax.plot([], [], "o", color=BLUE, alpha=0.35)
        (self.down,) = ax.plot([], [], "o", color=BLUE, ms=8, label="down: crash to serving")
        (self.work_earlier,) = ax.plot([], [], "s", color=ORANGE, alpha=0.35)
        (self.work,) = ax.plot([], [], "s", color=ORANGE, ms=7, label="recovery work (replay)")
        self.note = ax.text(
            0.02,
            0.96,
            "",
            transform=ax.transAxes,
            fontsize=LEGEND_PT,
            va="top",
            bbox={"facecolor": "white", "alpha": 0.85, "lw": 0},
        )
        ax.set_yscale("log")
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.set_ylim(1e-3, 100)  # room above the 3 s target for the note
        ax.set_xlim(*SNAPSHOT_AXIS)
        ax.set_xlabel("snapshot interval (s)")
        ax.set_ylabel("seconds (log scale)")
        _legend_and_grid(ax, "lower right")

    def update(self, cfg: Config, crash: CrashOutcome | None, same: list[dict[str, Any]]) -> None:
        snap = cfg.snapshot_interval or 0.0
        xs = [h["snapshot_interval"] for h in same]
        self.down_earlier.set_data(xs, [h["recovery_s"] for h in same])
        self.work_earlier.set_data(xs, [_floor(h["recovery_work_s"]) for h in same])
        if crash is None:
            self.down.set_data([], [])
            self.work.set_data([], [])
            self.note.set_text("no crash in this run:\nchoose process or power")
            self.note.set_color("#333")
            _title(self.ax, "recovery: no crash")
            return
        self.down.set_data([snap], [crash.recovery_s])
        self.work.set_data([snap], [_floor(crash.work_s)])
        lost = describe_lost(crash.lost_ids, sep="\n")
        self.note.set_text(
            f"{crash.kind} crash at {crash.at:g} s; WAL {crash.wal_bytes / 1e6:.2f} MB, "
            f"{crash.replayed} records replayed in {crash.work_s * 1000:.0f} ms\n"
            f"acknowledged jobs lost: {lost}"
        )
        self.note.set_color("#b00" if crash.lost_ids else "#2a7")
        verdict = "meets" if crash.recovery_s <= TARGET_RECOVERY_SECONDS else "misses"
        _title(self.ax, f"back in {crash.recovery_s:.2f} s: {verdict} the 3 s target")


def _floor(seconds: float) -> float:
    """A time for the recovery panel's log axis: at least its 1 ms floor."""
    return max(seconds, 1e-3)


class DashboardChart:
    """The four panels, two by two, redrawn in place for every run."""

    def __init__(self, dpi: int = DPI) -> None:
        self.figure = PlotFigure(figsize=(11.6, 7.2), dpi=dpi)
        axes = self.figure.subplots(2, 2)
        self.figure.subplots_adjust(
            left=0.07, right=0.98, bottom=0.08, top=0.95, wspace=0.2, hspace=0.34
        )
        self._time = _TimePanel(axes[0][0])
        self._workers = _WorkersPanel(axes[0][1])
        self._wait = _WaitPanel(axes[1][0])
        self._recovery = _RecoveryPanel(axes[1][1])
        for ax in (axes[0][0], axes[0][1], axes[1][0], axes[1][1]):
            _title(ax, " ")

    def draw(
        self,
        cfg: Config,
        samples: Sequence[tuple[Any, ...]],
        summary: Summary,
        steady: float,
        pred: Prediction,
        history: list[dict[str, Any]],
        duration: float,
        crash: CrashOutcome | None = None,
    ) -> PlotFigure:
        """Show the run that ``history[-1]`` records (``duration`` simulated seconds of it),
        beside the earlier runs that differ from it only in the number of workers (or, for
        the recovery panel, only in the snapshot interval)."""
        rate = pred.arrival_rate
        times, rates = per_second(samples)
        same = [h for h in history[:-1] if comparable(h, history[-1])]
        same_recovery = [h for h in history[:-1] if comparable_recovery(h, history[-1])]
        self._time.update(
            times, rates, cfg, rate, steady, pred, duration, crash, ack_text(cfg.fsync, history[-1])
        )
        self._workers.update(cfg, rate, steady, pred, same)
        self._wait.update(cfg, rate, summary, same)
        self._recovery.update(cfg, crash, same_recovery)
        self.figure.simqueue_data = pd.DataFrame({"time": times, "throughput": rates})
        self.figure.simqueue_meta = {
            "plot": "dashboard",
            "config": cfg,
            "duration": duration,
            "steady_throughput": steady,
            "summary": {k: v for k, v in summary.as_dict().items() if k != "recoveries"},
            "prediction": pred.as_dict(),
            "target": TARGET_THROUGHPUT,
            "target_recovery_s": TARGET_RECOVERY_SECONDS,
            "crash": None
            if crash is None
            else {
                "kind": crash.kind,
                "at": crash.at,
                "recovery_s": crash.recovery_s,
                "wal_bytes": crash.wal_bytes,
                "lost_acknowledged": crash.lost_ids,
            },
        }
        return self.figure


def ack_text(fsync: str, row: dict[str, Any]) -> str:
    """The acknowledgement latency line: p50 and p99 where the summary has them."""
    p50, p99 = row.get("ack_p50"), row.get("ack_p99")
    if p50 is None or p99 is None or math.isnan(p50) or math.isnan(p99):
        return f"fsync {fsync}"
    return f"fsync {fsync}: acks p50 {fmt_ack(p50)}, p99 {fmt_ack(p99)}"


def fmt_ack(seconds: float) -> str:
    """An acknowledgement latency: ``0 ms`` for one acknowledged at once (``fsync="never"``)."""
    return fmt_wait(seconds) if seconds > 0 else "0 ms"
