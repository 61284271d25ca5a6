"""What every worker did: one row per attempt read from the trace, and a Gantt chart of them
coloured by how each attempt ended."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.collections import PolyCollection

from simqueue.lab.plots.figure import LEGEND_FONT, PlotFigure, attach, new_figure, shade_outages
from simqueue.lab.plots.records import config_of, is_simulation, outages, trace_tuples

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.sim.config import Config

__all__ = ["OUTCOME_COLOURS", "attempts_frame", "worker_timeline"]

#: Worker-timeline colours, one per way an attempt can end.
OUTCOME_COLOURS = {
    "completed": "#2ca02c",
    "failed": "#ff7f0e",
    "timeout (hung)": "#d62728",
    "timeout (late result ignored)": "#9467bd",
    "interrupted by crash": "#7f7f7f",
    "running": "#1f77b4",
}
ATTEMPT_COLUMNS = ["job_id", "attempt", "worker", "start", "end", "outcome", "stale_at"]
_ENDINGS = {"COMPLETE": "completed", "FAIL": "failed", "TIMEOUT": "timeout (hung)"}
LABEL_AT_MOST = 60  # attempts on one chart beyond which job labels would crowd each other
BAR_HALF_HEIGHT = 0.35  # of a worker's row, which is 1 high
JOB_LABEL_FONT = 7.5  # points: fits inside a bar (a row is 0.38 inch high)


class _Attempts:
    """The attempts of a run as its trace reveals them, one event at a time."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._open: dict[tuple[str, int], dict[str, Any]] = {}
        self._by_key: dict[tuple[str, int], dict[str, Any]] = {}

    def dispatch(self, t: tuple[Any, ...]) -> None:
        key = (t[2], t[3])
        row = {
            "job_id": t[2],
            "attempt": t[3],
            "worker": t[4],
            "start": t[0],
            "end": None,
            "outcome": "running",
            "stale_at": None,
        }
        self._open[key] = self._by_key[key] = row
        self.rows.append(row)

    def finish(self, t: tuple[Any, ...], outcome: str) -> None:
        row = self._open.pop((t[2], t[3]), None)
        if row is not None:
            row["end"] = t[0]
            row["outcome"] = outcome

    def stale(self, t: tuple[Any, ...]) -> None:
        """A result arrived for an attempt already timed out: it was ignored."""
        row = self._by_key.get((t[2], t[3]))
        if row is not None and row["outcome"].startswith("timeout"):
            row["outcome"] = "timeout (late result ignored)"
            row["stale_at"] = t[0]

    def crash(self, time: float) -> None:
        for row in self._open.values():
            row["end"] = time
            row["outcome"] = "interrupted by crash"
        self._open.clear()

    def close(self, end_time: float) -> None:
        """Attempts still running when the run stopped end there."""
        for row in self._open.values():
            row["end"] = end_time


def attempts_frame(source: object) -> pd.DataFrame:
    """One row per attempt from the trace: job_id, attempt, worker, start, end, outcome and
    (for an attempt cut off at its deadline whose result came anyway) ``stale_at``.

    Outcomes: completed, failed, timeout (hung), timeout (late result ignored), interrupted by
    crash, running."""
    trace = trace_tuples(source)
    end_time = max((t[0] for t in trace), default=0.0)
    if is_simulation(source):
        end_time = max(end_time, source.now)
    attempts = _Attempts()
    for t in trace:
        kind = t[1]
        if kind == "DISPATCH":
            attempts.dispatch(t)
        elif kind in _ENDINGS:
            attempts.finish(t, _ENDINGS[kind])
        elif kind == "STALE":
            attempts.stale(t)
        elif kind == "CRASH":
            attempts.crash(t[0])
    attempts.close(end_time)
    frame = pd.DataFrame.from_records(attempts.rows, columns=ATTEMPT_COLUMNS)
    frame["duration"] = frame["end"] - frame["start"]
    return frame


def worker_timeline(
    source: object,
    *,
    start: float | None = None,
    end: float | None = None,
    workers: Sequence[int] | None = None,
    label_jobs: bool | None = None,
    config: Config | None = None,
    title: str | None = None,
) -> PlotFigure:
    """A Gantt chart: one row per worker, one bar per attempt, coloured by how it ended.
    A late result from an attempt already timed out is marked with an ``x`` where it arrived
    (and ignored). Outages are shaded. ``label_jobs`` (default: when there are few enough
    attempts to read) writes ``job#attempt`` on every bar long enough to hold it."""
    sel = _select(attempts_frame(source), start, end, workers)
    rows = sorted(sel["worker"].dropna().unique().tolist()) if len(sel) else []
    height = min(9.0, max(2.6, 0.38 * len(rows) + 1.6))
    fig, ax = new_figure((10.0, height))
    shade_outages(ax, outages(source))
    if label_jobs is None:
        label_jobs = len(sel) <= LABEL_AT_MOST
    _draw_attempts(ax, sel, label_jobs, (start, end))
    _draw_late_results(ax, sel)
    _frame_axes(ax, sel, rows, start, end)
    ax.set_title(title or "Worker timeline: one bar per attempt, coloured by outcome")
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3, axis="x")
    return attach(
        fig, "worker_timeline", sel.reset_index(drop=True), config_of(source, config), source
    )


def _select(
    frame: pd.DataFrame, start: float | None, end: float | None, workers: Sequence[int] | None
) -> pd.DataFrame:
    """The attempts that overlap ``[start, end]`` on the chosen workers."""
    if start is not None:
        frame = frame[frame["end"] >= start]
    if end is not None:
        frame = frame[frame["start"] <= end]
    if workers is not None:
        frame = frame[frame["worker"].isin(list(workers))]
    return frame


def _draw_attempts(
    ax: Axes, sel: pd.DataFrame, label_jobs: bool, window: tuple[float | None, float | None]
) -> None:
    """One bar per attempt, drawn as one collection per outcome rather than one Rectangle per
    attempt: thousands of bars draw fast. Labels go on the part of a bar inside ``window``."""
    lo = window[0] if window[0] is not None else sel["start"].min() if len(sel) else 0.0
    hi = window[1] if window[1] is not None else sel["end"].max() if len(sel) else 0.0
    min_label = 0.05 * (hi - lo)  # shorter bars cannot hold a readable label
    h = BAR_HALF_HEIGHT
    for outcome, colour in OUTCOME_COLOURS.items():
        part = sel[sel["outcome"] == outcome]
        if not len(part):
            continue
        verts = [
            [(x0, y - h), (x0, y + h), (x1, y + h), (x1, y - h)]
            for x0, x1, y in zip(part["start"], part["end"], part["worker"], strict=True)
        ]
        bars = PolyCollection(
            verts, facecolors=colour, edgecolors="white", linewidths=0.5, label=outcome
        )
        bars.set_gid(f"attempts:{outcome}")
        ax.add_collection(bars)
        if label_jobs:
            _label_attempts(ax, part, min_label, (lo, hi))


def _label_attempts(
    ax: Axes, part: pd.DataFrame, min_label: float, window: tuple[float, float]
) -> None:
    """``job#attempt`` in the middle of the visible part of every bar long enough to hold it
    (a bar cut by the window's edge keeps its whole label)."""
    for r in part.itertuples():
        x0, x1 = max(r.start, window[0]), min(r.end, window[1])
        if x1 - x0 < min_label:
            continue
        ax.text(
            (x0 + x1) / 2,
            r.worker,
            f"{r.job_id}#{r.attempt}",
            ha="center",
            va="center",
            fontsize=JOB_LABEL_FONT,
            color="white",
            clip_on=True,
        )


def _draw_late_results(ax: Axes, sel: pd.DataFrame) -> None:
    """A dotted line from the deadline to an ignored late result, and an ``x`` where it came:
    just above the row, since the worker has moved on by then."""
    late = sel.dropna(subset=["stale_at"])
    if not len(late):
        return
    y = late["worker"] - 0.45
    ax.hlines(y, late["end"], late["stale_at"], colors="black", linestyles=":", lw=0.9)
    ax.plot(late["stale_at"], y, "x", color="black", ms=6, label="late result ignored")


def _frame_axes(
    ax: Axes, sel: pd.DataFrame, rows: list[Any], start: float | None, end: float | None
) -> None:
    """Time limits (the window asked for, else the data with a margin) and one labelled row per
    worker, worker 0 on top."""
    if len(sel):
        x0 = float(sel["start"].min())
        x1 = max(float(sel["end"].max()), float(sel["stale_at"].max(skipna=True) or 0.0))
        pad = 0.02 * (x1 - x0) if x1 > x0 else 0.5
        ax.set_xlim(x0 - pad, x1 + pad)
    ax.set_ylim(max(rows, default=0) + 0.7, min(rows, default=0) - 0.7)
    ax.set_yticks(rows)
    ax.set_yticklabels([f"worker {int(w)}" for w in rows])
    if start is not None or end is not None:
        ax.set_xlim(start, end)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("worker")
