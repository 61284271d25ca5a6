"""How much work the queue gets done: throughput over time, and a sweep's measurements against
the M/M/c prediction, both against the 200 jobs/s target."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from simqueue.lab.frames import metrics_frame
from simqueue.lab.plots.figure import (
    LEGEND_FONT,
    TARGET_THROUGHPUT,
    PlotFigure,
    attach,
    axis_label,
    new_figure,
    shade_outages,
    throughput_target,
)
from simqueue.lab.plots.records import (
    Span,
    config_of,
    is_simulation,
    outages,
    outages_from_up,
    within,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.sim.config import Config

__all__ = ["sweep", "throughput"]


def throughput(
    source: object,
    *,
    interval: float = 1.0,
    target: float = TARGET_THROUGHPUT,
    prediction: float | None = None,
    config: Config | None = None,
    title: str | None = None,
) -> PlotFigure:
    """Completions per second over time, with the target line and outages shaded.

    ``source``: a Simulation or its ``frames.metrics_frame(sim, interval)``. ``prediction``: a
    theory value (e.g. :func:`simqueue.lab.sweeps.predict` ``.throughput``) drawn as a dotted
    line.
    """
    frame, spans = _throughput_frame(source, interval)
    fig, ax = new_figure((9.0, 3.8))
    shade_outages(ax, spans)
    if len(frame):
        t = frame["time"].to_numpy(dtype=float)
        y = frame["throughput"].to_numpy(dtype=float)
        ax.step(t, y, where="pre", color="#1f77b4", lw=1.6, label="simulated (completions/s)")
    throughput_target(ax, target)
    if prediction is not None and math.isfinite(prediction):
        ax.axhline(prediction, color="#2ca02c", ls=":", lw=1.6, label=f"M/M/c {prediction:.0f}/s")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("throughput (jobs/s)")
    top = float(frame["throughput"].max()) if len(frame) else math.nan
    ax.set_ylim(0, max(target, top if math.isfinite(top) else 0.0) * 1.15)
    ax.set_title(title or "Throughput over time")
    # Beside the axes: inside, it would hide the curve wherever the run puts it.
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LEGEND_FONT)
    ax.grid(alpha=0.3)
    return attach(
        fig,
        "throughput",
        frame.reset_index(drop=True),
        config_of(source, config),
        source,
        target=target,
        prediction=prediction,
        outages=spans,
    )


def _throughput_frame(source: object, interval: float) -> tuple[pd.DataFrame, list[Span]]:
    """The metrics frame to draw and the outages to shade. For a Simulation its ``up`` column
    comes from the trace (the crash and the recovery), which the samples may not say."""
    if not is_simulation(source):
        if not isinstance(source, pd.DataFrame):
            raise TypeError(f"throughput() takes a Simulation or a metrics frame; got {source!r}")
        return source, outages_from_up(source) if len(source) else []
    spans = outages(source)
    frame = metrics_frame(source, interval)
    if len(frame) and spans:
        frame = frame.assign(up=~within(frame["time"], spans))
    return frame, spans


def sweep(
    frame: pd.DataFrame,
    *,
    x: str = "workers",
    y: str = "throughput",
    theory: str | None = "predicted_throughput",
    target: float | None = TARGET_THROUGHPUT,
    config: Config | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    logy: bool = False,
) -> PlotFigure:
    """One simulated measurement per row of a sweep (:func:`simqueue.lab.sweeps.sweep`) against
    the theory column beside it. ``target`` draws the 200 jobs/s line (pass None to omit)."""
    fig, ax = new_figure((7.5, 4.0))
    data = frame.sort_values(x)
    ax.plot(data[x], data[y], "o-", color="#1f77b4", label=f"simulated {y.replace('_', ' ')}")
    if theory is not None and theory in data:
        ax.plot(data[x], data[theory], ":", color="#2ca02c", lw=2, label="M/M/c prediction")
    if target is not None:
        throughput_target(ax, target)
    _label_sweep_axes(ax, x, y, ylabel or axis_label(y), title, logy)
    return attach(fig, "sweep", data.reset_index(drop=True), config, x=x, y=y)


def _label_sweep_axes(ax: Axes, x: str, y: str, ylabel: str, title: str | None, logy: bool) -> None:
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title or f"{y.replace('_', ' ')} against {x.replace('_', ' ')}".capitalize())
    ax.legend(fontsize=LEGEND_FONT)
    ax.grid(alpha=0.3)
