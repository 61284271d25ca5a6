"""Plots of a simulation, each returning a matplotlib :class:`~matplotlib.figure.Figure`.

Outer layer: every function reads plain records (the trace tuples, :meth:`Simulation.samples`,
the pandas frames, :class:`~simqueue.RecoveryReport` fields) and never reaches into the engine.
No function touches pyplot's global state: figures are built with
:class:`matplotlib.figure.Figure` directly, so nothing leaks from one call (or one test) into the
next, nothing needs closing, and a notebook shows a figure by returning it from a cell.

Every figure carries the data it was drawn from and where that data came from, for
:func:`simqueue.lab.export`: ``fig.simqueue_data`` (a DataFrame) and ``fig.simqueue_meta`` (a dict
with the plot name, the :class:`~simqueue.Config` and anything else worth recording).

The two targets of the original design are drawn wherever they apply: **200 jobs/s** on
throughput plots and **3 s** on recovery plots. Outages (from a CRASH event to the RECOVER that
follows it) are shaded.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from simqueue.lab.frames import SAMPLE_FIELDS, metrics_frame
from simqueue.sim.trace import FIELDS

if TYPE_CHECKING:
    from simqueue.lab.sweeps import RecoveryFit
    from simqueue.sim.config import Config

__all__ = [
    "PlotFigure",
    "TARGET_RECOVERY_SECONDS",
    "TARGET_THROUGHPUT",
    "OUTCOME_COLOURS",
    "attempts_frame",
    "job_states",
    "outages",
    "recovery_times",
    "recovery_vs_records",
    "recovery_vs_snapshot_interval",
    "sweep",
    "throughput",
    "wal_size",
    "worker_timeline",
]

TARGET_THROUGHPUT = 200.0  # jobs per second, from the original design
TARGET_RECOVERY_SECONDS = 3.0

#: Worker-timeline colours, one per way an attempt can end.
OUTCOME_COLOURS = {
    "completed": "#2ca02c",
    "failed": "#ff7f0e",
    "timeout (hung)": "#d62728",
    "timeout (late result ignored)": "#9467bd",
    "interrupted by crash": "#7f7f7f",
    "running": "#1f77b4",
}
OUTAGE_COLOUR = "#d62728"
TARGET_COLOUR = "#444444"
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
_STATE_COLOURS = {
    "pending": "#1f77b4",
    "in_flight": "#ff7f0e",
    "completed": "#2ca02c",
    "dead": "#d62728",
}


# --------------------------------------------------------------------------- helpers
def _is_sim(obj: Any) -> bool:
    return hasattr(obj, "trace") and hasattr(obj, "samples") and hasattr(obj, "config")


class PlotFigure(Figure):
    """A Figure that shows itself in Jupyter without pyplot (a bare ``Figure`` would print as
    ``<Figure size 900x400 ...>`` unless pyplot happened to be imported), and carries the data
    behind it for :func:`simqueue.lab.export`."""

    simqueue_data: pd.DataFrame | None = None
    simqueue_meta: dict[str, Any] | None = None

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


def _figure(nrows: int = 1, ncols: int = 1, *, figsize=(9.0, 4.0), dpi: int = 100, **kw: Any):
    fig = PlotFigure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _attach(
    fig: Figure,
    name: str,
    data: pd.DataFrame,
    config: Config | None,
    source: Any = None,
    **extra: Any,
) -> Figure:
    """Keep the data and its provenance on the figure, for :func:`simqueue.lab.export`. For a
    Simulation that includes how far it ran and its crashes: with the config, enough to rerun
    it."""
    fig.simqueue_data = data
    meta: dict[str, Any] = {"plot": name, "config": config}
    if _is_sim(source):
        meta["simulated_until"] = source.now
        meta["crashes"] = [
            {k: c.get(k) for k in ("time", "kind", "tear")} for c in getattr(source, "crashes", [])
        ]
    meta.update(extra)
    fig.simqueue_meta = meta
    return fig


def _trace_tuples(source: Any) -> list[tuple]:
    """Trace tuples from a Simulation, a trace frame, or a list of tuples / TraceEvents."""
    if source is None:
        return []
    if _is_sim(source):
        return source.trace
    if isinstance(source, pd.DataFrame):
        return list(source[list(FIELDS)].itertuples(index=False, name=None))
    out = []
    for t in source:
        out.append(tuple(t) if isinstance(t, tuple) else tuple(getattr(t, f) for f in FIELDS))
    return out


def _samples_frame(source: Any) -> pd.DataFrame:
    """Raw periodic samples (every ``metrics_interval``) as a DataFrame. For a Simulation the
    samples strictly inside an outage are blanked (NaN): nothing was running then."""
    if _is_sim(source):
        frame = pd.DataFrame.from_records(source.samples(), columns=list(SAMPLE_FIELDS))
        return _blank_outages(frame, outages(source))
    if isinstance(source, pd.DataFrame):
        return source
    return pd.DataFrame.from_records(list(source), columns=list(SAMPLE_FIELDS))


def _blank_outages(frame: pd.DataFrame, spans: list[tuple[float, float]]) -> pd.DataFrame:
    """NaN for every state column of the samples taken while the queue was down. (The samples
    themselves may carry the recovered state there, since they are filled in lazily.)"""
    if not spans or frame.empty:
        return frame
    frame = frame.copy()
    down = pd.Series(False, index=frame.index)
    for start, end in spans:
        down |= (frame["time"] > start) & (frame["time"] < end)
    cols = [c for c in frame.columns if c not in ("time", "up")]
    frame[cols] = frame[cols].astype(float)
    frame.loc[down, cols] = float("nan")
    if "up" in frame:
        frame.loc[down, "up"] = False
    return frame


def outages(source: Any) -> list[tuple[float, float]]:
    """``(crashed_at, recovered_at)`` for every crash in a Simulation, trace frame or trace.
    A crash not yet recovered from lasts until the last event (or sample) of the run."""
    spans: list[tuple[float, float]] = []
    start = None
    last = 0.0
    for t in _trace_tuples(source):
        last = max(last, t[0])
        if t[1] == "CRASH":
            start = t[0]
        elif t[1] == "RECOVER" and start is not None:
            spans.append((start, t[0]))
            start = None
    if start is not None:
        end = max(last, source.now) if _is_sim(source) else last
        spans.append((start, end))
    return spans


def _outages_from_up(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """Outages from a metrics frame's ``up`` column (or NaN counts): runs of rows that are down."""
    if "up" in frame:
        down = ~frame["up"].astype(bool)
    else:
        down = frame["pending"].isna()
    spans, start = [], None
    times = frame["time"].tolist()
    for i, d in enumerate(down.tolist()):
        if d and start is None:
            start = times[i - 1] if i > 0 else times[i]
        elif not d and start is not None:
            spans.append((start, times[i]))
            start = None
    if start is not None:
        spans.append((start, times[-1]))
    return spans


def _shade(ax, spans: Iterable[tuple[float, float]], label: str = "down: crash -> recovered"):
    for i, (a, b) in enumerate(spans):
        ax.axvspan(a, b, color=OUTAGE_COLOUR, alpha=0.15, lw=0, label=label if i == 0 else None)


def _target_line(ax, value: float, label: str, *, vertical: bool = False):
    line = ax.axvline if vertical else ax.axhline
    return line(value, color=TARGET_COLOUR, ls="--", lw=1.3, label=label, zorder=3)


def _throughput_target(ax, target: float) -> None:
    _target_line(ax, target, f"target {target:g} jobs/s")


def _recovery_target(ax, target: float) -> None:
    _target_line(ax, target, f"target {target:g} s")


def _recovery_axes(ax, target: float, xlabel: str, title: str) -> None:
    """The recovery plots' common frame: the target line, log-log axes, labels, legend, grid."""
    _recovery_target(ax, target)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("recovery time (s, measured)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3, which="both")


def _config_of(source: Any, config: Config | None) -> Config | None:
    if config is not None:
        return config
    return source.config if _is_sim(source) else None


# --------------------------------------------------------------------------- throughput
def throughput(
    source: Any,
    *,
    interval: float = 1.0,
    target: float = TARGET_THROUGHPUT,
    prediction: float | None = None,
    config: Config | None = None,
    title: str | None = None,
) -> Figure:
    """Completions per second over time, with the target line and outages shaded.

    ``source``: a Simulation or its ``frames.metrics_frame(sim, interval)``. ``prediction``: a
    theory value
    (e.g. :func:`simqueue.lab.sweeps.predict` ``.throughput``) drawn as a dotted line.
    """
    if _is_sim(source):
        spans = outages(source)
        frame = metrics_frame(source, interval)
        if len(frame) and spans:  # "up" from the trace: the samples may not say it
            t = frame["time"]
            down = pd.Series(False, index=frame.index)
            for start, end in spans:
                down |= (t > start) & (t < end)
            frame = frame.assign(up=~down)
    else:
        frame = source
        spans = _outages_from_up(frame) if len(frame) else []
    fig, axes = _figure(figsize=(9.0, 3.8))
    ax = axes[0, 0]
    _shade(ax, spans)
    if len(frame):
        t = frame["time"].to_numpy(dtype=float)
        y = frame["throughput"].to_numpy(dtype=float)
        ax.step(t, y, where="pre", color="#1f77b4", lw=1.6, label="simulated (completions/s)")
    _throughput_target(ax, target)
    if prediction is not None and math.isfinite(prediction):
        ax.axhline(prediction, color="#2ca02c", ls=":", lw=1.6, label=f"M/M/c {prediction:.0f}/s")
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("throughput (jobs/s)")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Throughput over time")
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    cfg = _config_of(source, config)
    return _attach(
        fig,
        "throughput",
        frame.reset_index(drop=True),
        cfg,
        source,
        target=target,
        prediction=prediction,
        outages=spans,
    )


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
) -> Figure:
    """One simulated measurement per row of a sweep (:func:`simqueue.lab.sweeps.sweep`) against the
    theory column beside it. ``target`` draws the 200 jobs/s line (pass None to omit)."""
    fig, axes = _figure(figsize=(7.5, 4.0))
    ax = axes[0, 0]
    data = frame.sort_values(x)
    ylabel = ylabel or _UNITS.get(y, y.replace("_", " "))
    ax.plot(data[x], data[y], "o-", color="#1f77b4", label=f"simulated {y.replace('_', ' ')}")
    if theory is not None and theory in data:
        ax.plot(data[x], data[theory], ":", color="#2ca02c", lw=2, label="M/M/c prediction")
    if target is not None:
        _throughput_target(ax, target)
    ax.set_xlabel(_UNITS.get(x, x.replace("_", " ")))
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title or f"{y.replace('_', ' ')} against {x.replace('_', ' ')}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _attach(fig, "sweep", data.reset_index(drop=True), config, x=x, y=y)


# --------------------------------------------------------------------------- recovery
def _reports_frame(source: Any) -> pd.DataFrame:
    if _is_sim(source):
        reports = source.recoveries
    elif isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True)
    else:
        reports = list(source)
    rows = [r if isinstance(r, dict) else r.as_dict() for r in reports]
    return pd.DataFrame.from_records(rows)


def recovery_times(
    source: Any, *, target: float = TARGET_RECOVERY_SECONDS, config: Config | None = None
) -> Figure:
    """One bar per recovery: the measured recovery (``wall_seconds``) on top of the restart
    delay (together the ``downtime``), with the 3 s target line."""
    frame = _reports_frame(source)
    fig, axes = _figure(figsize=(7.5, 3.8))
    ax = axes[0, 0]
    n = len(frame)
    xs = list(range(1, n + 1))
    if n:
        wall = frame["wall_seconds"].astype(float)
        down = frame["downtime"].astype(float) if "downtime" in frame else wall
        delay = (down - wall).clip(lower=0).fillna(0)
        ax.bar(xs, delay, color="#c7c7c7", label="restart delay")
        ax.bar(xs, wall, bottom=delay, color="#1f77b4", label="recovery (measured)")
        for x, d, w in zip(xs, delay, wall, strict=True):
            ax.annotate(f"{w * 1000:.0f} ms", (x, d + w), ha="center", va="bottom", fontsize=8)
    _recovery_target(ax, target)
    ax.set_xticks(xs)
    ax.set_xlabel("recovery #")
    ax.set_ylabel("seconds")
    ax.set_ylim(0, max(target * 1.15, float(frame["downtime"].max()) * 1.15 if n else 0))
    ax.set_title("Downtime per crash: restart delay + measured recovery")
    ax.legend(fontsize="small", loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    return _attach(fig, "recovery_times", frame, _config_of(source, config), source, target=target)


def recovery_vs_records(
    data: Any,
    *,
    fit: RecoveryFit | None = None,
    target: float = TARGET_RECOVERY_SECONDS,
    config: Config | None = None,
    label: str = "measured recovery",
) -> Figure:
    """Measured recovery time against WAL records replayed (log-log), the fitted cost line
    extended to where it meets the 3 s target, and the target line.

    ``data``: a DataFrame or records with ``records_replayed`` and ``wall_seconds`` (e.g. from
    :func:`simqueue.lab.sweeps.measure_recovery`), a Simulation, or RecoveryReports."""
    frame = _reports_frame(data)
    fig, axes = _figure(figsize=(7.5, 4.2))
    ax = axes[0, 0]
    x = frame["records_replayed"].astype(float).clip(lower=1)
    ax.plot(x, frame["wall_seconds"], "o", color="#1f77b4", label=label, zorder=4)
    extra: dict[str, Any] = {"target": target}
    if fit is not None:
        limit = fit.max_records(target)
        hi = max(float(x.max()), limit if math.isfinite(limit) else float(x.max())) * 1.5
        lo = max(1.0, float(x.min()) / 2)
        xs = [lo * (hi / lo) ** (i / 60) for i in range(61)]
        ys = [max(fit.predict(v), 1e-6) for v in xs]
        ax.plot(
            xs,
            ys,
            "-",
            color="#ff7f0e",
            label=f"fit: {fit.intercept * 1000:.1f} ms + {fit.per_record * 1e6:.2f} µs/record",
        )
        _mark_limit(ax, limit, target, f"{limit:,.0f} records", dy=-14)
        extra["fit"] = {
            "intercept": fit.intercept,
            "per_record": fit.per_record,
            "r_squared": fit.r_squared,
            "max_records": limit,
        }
    _recovery_axes(
        ax, target, "WAL records replayed", "Recovery time against records since the last snapshot"
    )
    return _attach(fig, "recovery_vs_records", frame, _config_of(data, config), data, **extra)


def recovery_vs_snapshot_interval(
    data: Any,
    *,
    fit: RecoveryFit | None = None,
    records_per_second: float | None = None,
    target: float = TARGET_RECOVERY_SECONDS,
    config: Config | None = None,
) -> Figure:
    """Measured recovery time against snapshot interval (worst-case crashes: just before the
    next snapshot) and, from ``fit`` and ``records_per_second``, the predicted worst case for
    any interval with the longest one that stays under the 3 s target."""
    frame = _reports_frame(data)
    fig, axes = _figure(figsize=(7.5, 4.2))
    ax = axes[0, 0]
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
        hi = max(best if math.isfinite(best) else 0, lo * 10) * 2
        xs = [lo * (hi / lo) ** (i / 60) for i in range(61)]
        ys = [max(fit.predict(records_per_second * v), 1e-6) for v in xs]
        ax.plot(xs, ys, "-", color="#ff7f0e", label="predicted worst case (fit)")
        _mark_limit(ax, best, target, f"longest interval ≈ {best:,.0f} s", dy=8)
        extra["max_snapshot_interval"] = best
        extra["records_per_second"] = records_per_second
    _recovery_axes(
        ax,
        target,
        "snapshot interval (simulated s)",
        "Worst-case recovery time against snapshot interval",
    )
    return _attach(fig, "recovery_vs_snapshot_interval", frame, config, **extra)


# --------------------------------------------------------------------------- worker timeline
def attempts_frame(source: Any) -> pd.DataFrame:
    """One row per attempt from the trace: job_id, attempt, worker, start, end, outcome and
    (for an attempt cut off at its deadline whose result came anyway) ``stale_at``.

    Outcomes: completed, failed, timeout (hung), timeout (late result ignored), interrupted by
    crash, running."""
    trace = _trace_tuples(source)
    open_: dict[tuple[str, int], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    by_key: dict[tuple[str, int], dict[str, Any]] = {}
    end_time = max((t[0] for t in trace), default=0.0)
    if _is_sim(source):
        end_time = max(end_time, source.now)
    for t in trace:
        time, kind, job_id, attempt = t[0], t[1], t[2], t[3]
        if kind == "DISPATCH":
            row = {
                "job_id": job_id,
                "attempt": attempt,
                "worker": t[4],
                "start": time,
                "end": None,
                "outcome": "running",
                "stale_at": None,
            }
            open_[(job_id, attempt)] = row
            by_key[(job_id, attempt)] = row
            rows.append(row)
        elif kind in ("COMPLETE", "FAIL", "TIMEOUT"):
            row = open_.pop((job_id, attempt), None)
            if row is not None:
                row["end"] = time
                row["outcome"] = {
                    "COMPLETE": "completed",
                    "FAIL": "failed",
                    "TIMEOUT": "timeout (hung)",
                }[kind]
        elif kind == "STALE":
            row = by_key.get((job_id, attempt))
            if row is not None and row["outcome"].startswith("timeout"):
                row["outcome"] = "timeout (late result ignored)"
                row["stale_at"] = time
        elif kind == "CRASH":
            for row in open_.values():
                row["end"] = time
                row["outcome"] = "interrupted by crash"
            open_.clear()
    for row in open_.values():
        row["end"] = end_time
    frame = pd.DataFrame.from_records(
        rows, columns=["job_id", "attempt", "worker", "start", "end", "outcome", "stale_at"]
    )
    frame["duration"] = frame["end"] - frame["start"]
    return frame


def worker_timeline(
    source: Any,
    *,
    start: float | None = None,
    end: float | None = None,
    workers: Sequence[int] | None = None,
    label_jobs: bool | None = None,
    config: Config | None = None,
    title: str | None = None,
) -> Figure:
    """A Gantt chart: one row per worker, one bar per attempt, coloured by how it ended.
    A late result from an attempt already timed out is marked with an ``x`` where it arrived
    (and ignored). Outages are shaded."""
    frame = attempts_frame(source)
    sel = frame
    if start is not None:
        sel = sel[sel["end"] >= start]
    if end is not None:
        sel = sel[sel["start"] <= end]
    if workers is not None:
        sel = sel[sel["worker"].isin(list(workers))]
    rows = sorted(sel["worker"].dropna().unique().tolist()) if len(sel) else []
    height = min(9.0, max(2.6, 0.38 * len(rows) + 1.6))
    fig, axes = _figure(figsize=(10.0, height))
    ax = axes[0, 0]
    _shade(ax, outages(source))
    if label_jobs is None:
        label_jobs = len(sel) <= 60
    span = (sel["end"].max() - sel["start"].min()) if len(sel) else 0.0
    min_label = 0.05 * span
    for outcome, colour in OUTCOME_COLOURS.items():
        part = sel[sel["outcome"] == outcome]
        if not len(part):
            continue
        # one collection per outcome, not one Rectangle per attempt: thousands of bars draw fast
        verts = [
            [(x0, y - 0.35), (x0, y + 0.35), (x1, y + 0.35), (x1, y - 0.35)]
            for x0, x1, y in zip(part["start"], part["end"], part["worker"], strict=True)
        ]
        bars = PolyCollection(
            verts, facecolors=colour, edgecolors="white", linewidths=0.5, label=outcome
        )
        bars.set_gid(f"attempts:{outcome}")
        ax.add_collection(bars)
        if label_jobs:
            for r in part.itertuples():
                if r.duration < min_label:
                    continue  # too short to hold a readable label
                ax.text(
                    r.start + r.duration / 2,
                    r.worker,
                    f"{r.job_id}#{r.attempt}",
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white",
                    clip_on=True,
                )
    late = sel.dropna(subset=["stale_at"])
    if len(late):  # just above the row: the worker has moved on by the time the result comes
        y = late["worker"] - 0.45
        ax.hlines(y, late["end"], late["stale_at"], colors="black", linestyles=":", lw=0.9)
        ax.plot(late["stale_at"], y, "x", color="black", ms=6, label="late result ignored")
    if len(sel):
        x0 = float(sel["start"].min())
        x1 = max(float(sel["end"].max()), float(sel["stale_at"].max(skipna=True) or 0.0))
        pad = 0.02 * (x1 - x0) if x1 > x0 else 0.5
        ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(max(rows, default=0) + 0.7, min(rows, default=0) - 0.7)  # worker 0 on top
    ax.set_yticks(rows)
    ax.set_yticklabels([f"worker {int(w)}" for w in rows])
    if start is not None or end is not None:
        ax.set_xlim(
            start if start is not None else None,
            end if end is not None else None,
        )
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("worker")
    ax.set_title(title or "Worker timeline: one bar per attempt, coloured by outcome")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3, axis="x")
    return _attach(
        fig, "worker_timeline", sel.reset_index(drop=True), _config_of(source, config), source
    )


# --------------------------------------------------------------------------- states and WAL
def job_states(source: Any, *, config: Config | None = None, title: str | None = None) -> Figure:
    """How many jobs are pending, in flight, completed and dead over time (two panels: the
    queue and the finished totals), with outages shaded. ``source``: a Simulation or its
    samples / metrics frame."""
    frame = _samples_frame(source)
    spans = outages(source) if _is_sim(source) else _outages_from_up(frame) if len(frame) else []
    fig, axes = _figure(2, 1, figsize=(9.0, 5.2), sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    for ax in (top, bottom):
        _shade(ax, spans)
    t = frame["time"]
    for col, ax in (("pending", top), ("in_flight", top), ("completed", bottom), ("dead", bottom)):
        ax.plot(t, frame[col].astype(float), color=_STATE_COLOURS[col], lw=1.5, label=col)
    top.set_ylabel("jobs in the queue")
    bottom.set_ylabel("jobs finished")
    bottom.set_xlabel("simulated time (s)")
    top.set_title(title or "Job states over time")
    for ax in (top, bottom):
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    return _attach(
        fig, "job_states", frame.reset_index(drop=True), _config_of(source, config), source
    )


def wal_size(source: Any, *, config: Config | None = None, title: str | None = None) -> Figure:
    """WAL bytes on disk over time with a marker at every snapshot (after which old segments
    may be deleted), and below it the log's last seq against the durable point: the gap is
    what a power cut could take. ``source``: a Simulation (or samples plus ``trace=``)."""
    frame = _samples_frame(source)
    trace = _trace_tuples(source) if _is_sim(source) else []
    snaps = [t[0] for t in trace if t[1] == "SNAPSHOT"]
    spans = outages(source) if _is_sim(source) else _outages_from_up(frame) if len(frame) else []
    fig, axes = _figure(2, 1, figsize=(9.0, 5.2), sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    for ax in (top, bottom):
        _shade(ax, spans)
    t = frame["time"]
    top.plot(t, frame["wal_bytes"].astype(float) / 1024, color="#1f77b4", lw=1.5, label="WAL")
    for i, s in enumerate(snaps):
        for ax in (top, bottom):
            ax.axvline(s, color="#2ca02c", lw=1, ls="-.", label="snapshot" if i == 0 else None)
    bottom.plot(t, frame["last_seq"].astype(float), color="#ff7f0e", lw=1.5, label="last seq")
    bottom.plot(
        t, frame["durable_seq"].astype(float), color="#2ca02c", lw=1.5, label="durable up to seq"
    )
    top.set_ylabel("WAL size (KiB)")
    bottom.set_ylabel("sequence number")
    bottom.set_xlabel("simulated time (s)")
    top.set_title(title or "Write-ahead log: size, snapshots and the durable point")
    for ax in (top, bottom):
        ax.legend(fontsize="small", loc="upper left")
        ax.grid(alpha=0.3)
    return _attach(
        fig,
        "wal_size",
        frame.reset_index(drop=True),
        _config_of(source, config),
        source,
        snapshots=snaps,
    )


def _mark_limit(ax: Any, x: float, y: float, text: str, dy: int) -> None:
    """A vertical dotted line at a derived limit (if there is one), labelled where it meets y."""
    if not math.isfinite(x):
        return
    ax.axvline(x, color="#ff7f0e", ls=":", lw=1.2)
    ax.annotate(
        text,
        (x, y),
        textcoords="offset points",
        xytext=(-6, dy),
        ha="right",
        fontsize=8,
        color="#ff7f0e",
    )
