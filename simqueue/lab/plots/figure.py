"""The figure every plot returns, the provenance it carries, and the look the plots share.

No plot touches pyplot's global state: figures are built with
:class:`matplotlib.figure.Figure` directly, so nothing leaks from one call (or one test) into the
next, nothing needs closing, and a notebook shows a figure by returning it from a cell.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from simqueue.lab.plots.records import Span, is_simulation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.sim.config import Config

__all__ = [
    "DPI",
    "LEGEND_FONT",
    "NOTE_FONT",
    "OUTAGE_COLOUR",
    "PlotFigure",
    "TARGET_COLOUR",
    "TARGET_RECOVERY_SECONDS",
    "TARGET_THROUGHPUT",
    "attach",
    "axis_label",
    "new_figure",
    "new_panels",
    "new_stacked_figure",
    "plural",
    "seconds_label",
    "shade_outages",
    "target_line",
    "throughput_target",
]

TARGET_THROUGHPUT = 200.0  # jobs per second, from the original design
TARGET_RECOVERY_SECONDS = 3.0
OUTAGE_COLOUR = "#d62728"
TARGET_COLOUR = "#444444"
#: Sized for a notebook on a laptop screen: the widest figures are 9-10 inches, at 100 dpi 900-1000
#: pixels, about the width of a notebook's output area there, and matplotlib's 10 pt text is then
#: 14 pixels high. Legends and notes are a little smaller, never below 9 pt (12 pixels).
DPI = 100
LEGEND_FONT = 9
NOTE_FONT = 9

_UNITS = {
    "throughput": "throughput (jobs/s)",
    "capacity": "capacity (jobs/s)",
    "mean_wait": "mean wait (s)",
    "latency_p50": "median latency (s)",
    "latency_p99": "99th percentile latency (s)",
    "arrival_rate": "arrival rate (jobs/s)",
    "failure_rate": "failure rate",
    "task_timeout": "task timeout (s)",
    "snapshot_interval": "snapshot interval (s)",
    "wall_seconds": "wall time (s)",
}


class PlotFigure(Figure):
    """A Figure that shows itself in Jupyter without pyplot (a bare ``Figure`` would print as
    ``<Figure size 900x400 ...>`` unless pyplot happened to be imported), and carries the data
    behind it for :func:`simqueue.export`."""

    simqueue_data: pd.DataFrame | None = None
    simqueue_meta: dict[str, Any] | None = None

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


def new_figure(figsize: tuple[float, float]) -> tuple[PlotFigure, Axes]:
    """A figure with one axes, laid out by matplotlib's constrained layout."""
    fig = PlotFigure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, 1, squeeze=False)
    return fig, axes[0, 0]


def new_stacked_figure(figsize: tuple[float, float]) -> tuple[PlotFigure, Axes, Axes]:
    """A figure with two axes one above the other, sharing the time axis."""
    fig, axes = new_panels(figsize, (1.0, 1.0))
    return fig, axes[0], axes[1]


def new_panels(
    figsize: tuple[float, float], heights: tuple[float, ...]
) -> tuple[PlotFigure, list[Axes]]:
    """A figure with one axes per entry of ``heights`` (their relative heights), one above the
    other, sharing the time axis."""
    fig = PlotFigure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(
        len(heights), 1, squeeze=False, sharex=True, gridspec_kw={"height_ratios": heights}
    )
    return fig, [row[0] for row in axes]


def attach(
    fig: PlotFigure,
    name: str,
    data: pd.DataFrame,
    config: Config | None,
    source: object = None,
    **extra: Any,
) -> PlotFigure:
    """Keep the data and its provenance on the figure, for :func:`simqueue.export`. For a
    Simulation that includes how far it ran and its crashes: with the config, enough to rerun
    it."""
    fig.simqueue_data = data
    meta: dict[str, Any] = {"plot": name, "config": config}
    if is_simulation(source):
        meta["simulated_until"] = source.now
        meta["crashes"] = [
            {k: c.get(k) for k in ("time", "kind", "tear")} for c in getattr(source, "crashes", [])
        ]
    meta.update(extra)
    fig.simqueue_meta = meta
    return fig


def plural(n: float, noun: str) -> str:
    """``1 worker``, ``2 workers``, ``3,377,477 records``, ``0 recoveries``."""
    count = f"{n:,.0f}" if float(n).is_integer() else f"{n:,g}"
    if n == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def seconds_label(seconds: float) -> str:
    """A measured time as people read it: ``0.4 ms``, ``12 ms``, ``1.25 s``."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def axis_label(column: str) -> str:
    """An axis label for a record column: with its unit where one is known."""
    return _UNITS.get(column, column.replace("_", " "))


def shade_outages(ax: Axes, spans: Iterable[Span], label: str = "down: crash -> recovered") -> None:
    """A red band over every outage; only the first is named in the legend."""
    for i, (a, b) in enumerate(spans):
        ax.axvspan(a, b, color=OUTAGE_COLOUR, alpha=0.15, lw=0, label=label if i == 0 else None)


def target_line(ax: Axes, value: float, label: str) -> None:
    """The dashed line a measurement should stay above (throughput) or below (recovery)."""
    ax.axhline(value, color=TARGET_COLOUR, ls="--", lw=1.3, label=label, zorder=3)


def throughput_target(ax: Axes, target: float) -> None:
    target_line(ax, target, f"target {target:g} jobs/s")
