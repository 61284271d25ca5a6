"""How long recovery takes, against the 3 s target: per crash, against the WAL records
replayed, and against the snapshot interval (whose worst case bounds the records to replay)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from simqueue.lab.plots.figure import (
    LEGEND_FONT,
    NOTE_FONT,
    TARGET_RECOVERY_SECONDS,
    PlotFigure,
    attach,
    new_figure,
    plural,
    seconds_label,
    target_line,
)
from simqueue.lab.plots.records import config_of, is_simulation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.lab.sweeps import RecoveryFit
    from simqueue.sim.config import Config

__all__ = ["recovery_times", "recovery_vs_records", "recovery_vs_snapshot_interval"]

FIT_COLOUR = "#ff7f0e"
CURVE_POINTS = 61  # points of a fitted curve, evenly spaced on the log axis


def recovery_times(
    source: object, *, target: float = TARGET_RECOVERY_SECONDS, config: Config | None = None
) -> PlotFigure:
    """One bar per recovery: the measured recovery (``wall_seconds``) on top of the restart
    delay (together the ``downtime``), with the 3 s target line."""
    frame = _reports_frame(source)
    fig, ax = new_figure((7.5, 3.8))
    n = len(frame)
    xs = list(range(1, n + 1))
    if n:
        wall = frame["wall_seconds"].astype(float)
        down = frame["downtime"].astype(float) if "downtime" in frame else wall
        delay = (down - wall).clip(lower=0).fillna(0)
        ax.bar(xs, delay, color="#c7c7c7", label="restart delay")
        ax.bar(xs, wall, bottom=delay, color="#1f77b4", label="recovery (measured)")
        for x, d, w in zip(xs, delay, wall, strict=True):
            ax.annotate(
                f"recovery {seconds_label(w)}",
                (x, d + w),
                ha="center",
                va="bottom",
                fontsize=NOTE_FONT,
            )
    _recovery_target(ax, target)
    ax.set_xticks(xs)
    ax.set_xlabel("recovery #")
    ax.set_ylabel("seconds")
    # Headroom above the target line for the legend, so that it hides neither line nor bar.
    ax.set_ylim(0, max(target, float(frame["downtime"].max()) if n else 0) * 1.45)
    ax.set_title("Downtime per crash: restart delay + measured recovery")
    ax.legend(fontsize=LEGEND_FONT, loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    return attach(fig, "recovery_times", frame, config_of(source, config), source, target=target)


def recovery_vs_records(
    data: object,
    *,
    fit: RecoveryFit | None = None,
    target: float = TARGET_RECOVERY_SECONDS,
    config: Config | None = None,
    label: str = "measured recovery",
) -> PlotFigure:
    """Measured recovery time against WAL records replayed (log-log), the fitted cost line
    extended to where it meets the 3 s target, and the target line.

    ``data``: a DataFrame or records with ``records_replayed`` and ``wall_seconds`` (e.g. from
    :func:`simqueue.lab.sweeps.measure_recovery`), a Simulation, or RecoveryReports."""
    frame = _reports_frame(data)
    fig, ax = new_figure((7.5, 4.2))
    x = frame["records_replayed"].astype(float).clip(lower=1)
    ax.plot(x, frame["wall_seconds"], "o", color="#1f77b4", label=label, zorder=4)
    extra: dict[str, Any] = {"target": target}
    if fit is not None:
        limit = fit.max_records(target)
        hi = max(float(x.max()), limit if math.isfinite(limit) else float(x.max())) * 1.5
        xs = _log_spaced(max(1.0, float(x.min()) / 2), hi)
        ys = [max(fit.predict(v), 1e-6) for v in xs]
        fitted = f"fit: {fit.intercept * 1000:.1f} ms + {fit.per_record * 1e6:.2f} µs/record"
        ax.plot(xs, ys, "-", color=FIT_COLOUR, label=fitted)
        _mark_limit(ax, limit, target, plural(round(limit), "record"), dy=-14)
        extra["fit"] = {
            "intercept": fit.intercept,
            "per_record": fit.per_record,
            "r_squared": fit.r_squared,
            "max_records": limit,
        }
    _recovery_axes(
        ax, target, "WAL records replayed", "Recovery time against records since the last snapshot"
    )
    return attach(fig, "recovery_vs_records", frame, config_of(data, config), data, **extra)


def recovery_vs_snapshot_interval(
    data: object,
    *,
    fit: RecoveryFit | None = None,
    records_per_second: float | None = None,
    target: float = TARGET_RECOVERY_SECONDS,
    config: Config | None = None,
) -> PlotFigure:
    """Measured recovery time against snapshot interval (worst-case crashes: just before the
    next snapshot) and, from ``fit`` and ``records_per_second``, the predicted worst case for
    any interval with the longest one that stays under the 3 s target."""
    frame = _reports_frame(data)
    fig, ax = new_figure((7.5, 4.2))
    measured = frame.dropna(subset=["snapshot_interval"])
    ax.plot(
        measured["snapshot_interval"],
        measured["wall_seconds"],
        "o",
        color="#1f77b4",
        label="measured (crash just before a snapshot)",
        zorder=4,
    )
    extra: dict[str, Any] = {"target": target}
    if fit is not None and records_per_second:
        best = fit.max_snapshot_interval(records_per_second, target)
        lo = max(0.1, float(measured["snapshot_interval"].min()) / 2) if len(measured) else 0.1
        xs = _log_spaced(lo, max(best if math.isfinite(best) else 0, lo * 10) * 2)
        ys = [max(fit.predict(records_per_second * v), 1e-6) for v in xs]
        ax.plot(xs, ys, "-", color=FIT_COLOUR, label="predicted worst case (fit)")
        _mark_limit(ax, best, target, f"longest interval ≈ {best:,.0f} s", dy=8)
        extra["max_snapshot_interval"] = best
        extra["records_per_second"] = records_per_second
    _recovery_axes(
        ax,
        target,
        "snapshot interval (simulated s)",
        "Worst-case recovery time against snapshot interval",
    )
    return attach(fig, "recovery_vs_snapshot_interval", frame, config, **extra)


def _reports_frame(source: object) -> pd.DataFrame:
    """One row per recovery from a Simulation, a frame, or RecoveryReports / dicts."""
    reports: Iterable[Any]
    if is_simulation(source):
        reports = source.recoveries
    elif isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    elif isinstance(source, Iterable):
        reports = source
    else:
        raise TypeError(f"no recovery reports in {type(source).__name__}")
    rows = [r if isinstance(r, dict) else r.as_dict() for r in reports]
    return pd.DataFrame.from_records(rows)


def _log_spaced(lo: float, hi: float) -> list[float]:
    """Points from ``lo`` to ``hi``, evenly spaced on a log axis: a fitted line drawn there is a
    smooth curve."""
    steps = CURVE_POINTS - 1
    return [lo * (hi / lo) ** (i / steps) for i in range(CURVE_POINTS)]


def _recovery_target(ax: Axes, target: float) -> None:
    target_line(ax, target, f"target {target:g} s")


def _recovery_axes(ax: Axes, target: float, xlabel: str, title: str) -> None:
    """The recovery plots' common frame: the target line, log-log axes, labels, legend, grid."""
    _recovery_target(ax, target)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("recovery time (s, measured)")
    ax.set_title(title)
    # Recovery time grows with the log, so the lower right corner is where the legend hides
    # no point, curve or target line.
    ax.legend(fontsize=LEGEND_FONT, loc="lower right")
    ax.grid(alpha=0.3, which="both")


def _mark_limit(ax: Axes, x: float, y: float, text: str, dy: int) -> None:
    """A vertical dotted line at a derived limit (if there is one), labelled where it meets y."""
    if not math.isfinite(x):
        return
    ax.axvline(x, color=FIT_COLOUR, ls=":", lw=1.2)
    ax.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(-6, dy),
        ha="right",
        fontsize=NOTE_FONT,
        color=FIT_COLOUR,
    )
