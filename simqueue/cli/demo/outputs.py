"""What the demo leaves in ``--out``: ``demo_recovery.png`` (job counts and finished jobs per
second around the kill), ``demo_timeline.csv`` (every status sample) and ``demo_summary.json``."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from simqueue.cli.demo.timeline import Marks, Sample, Timeline, finished_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The lines of the job counts panel: (Sample field, label, colour, line style). "in flight"
#: (at most one job per worker) has its own panel: on the scale of thousands of jobs it would run
#: along zero, under "dead".
COUNT_LINES = (
    ("pending", "pending", "tab:orange", "-"),
    ("completed", "completed", "tab:green", "-"),
    ("dead", "dead", "tab:red", "--"),
)
PHASES = ("before", "after")
TARGET_RATE = 200  # jobs/s, the original plan's throughput target
TARGET_RECOVERY = 3.0  # seconds, the original plan's recovery target
TARGET_COLOUR = "#444444"
DPI = 100  # with the figure's 9 x 7.5 inches: 900 x 750 pixels, a laptop screen's worth
FONT = 9  # points, of the legends and the note: 12 pixels at DPI


def write_outputs(out_dir: str, timeline: Timeline, summary: dict[str, Any]) -> list[str]:
    """The plot, the timeline CSV and the summary JSON; returns their paths, the plot first."""
    png = os.path.join(out_dir, "demo_recovery.png")
    csv = os.path.join(out_dir, "demo_timeline.csv")
    js = os.path.join(out_dir, "demo_summary.json")
    _write_csv(csv, timeline.samples, timeline.marks.enqueued)
    with open(js, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=str)
        fh.write("\n")
    plot(timeline, summary).savefig(png, dpi=DPI)
    return [png, csv, js]


def _write_csv(path: str, samples: list[Sample], t_enq: float) -> None:
    """One row per sample; time counts from the moment the jobs were posted."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("time,phase,pending,in_flight,completed,dead\n")
        for s in samples:
            counts = (s.pending, s.in_flight, s.completed, s.dead)
            fh.write(f"{s.time - t_enq:.4f},{s.phase}," + ",".join(map(str, counts)) + "\n")


def plot(timeline: Timeline, summary: dict[str, Any]) -> Figure:
    """Job counts, jobs in flight and finished jobs per second around the kill, with both
    targets as lines: 200 jobs/s on the rate, and "back within 3 s of the kill" on every panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 7.5), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    counts_ax, flight_ax, rate_ax = fig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.2, 2]}
    )
    t_enq = timeline.marks.enqueued
    _plot_counts(counts_ax, timeline, t_enq)
    _plot_in_flight(flight_ax, timeline, t_enq, int(summary.get("workers", 0)))
    _plot_rate(rate_ax, timeline, t_enq)
    _zero_while_down((flight_ax, rate_ax), timeline.marks)
    _mark_outage((counts_ax, flight_ax, rate_ax), timeline.marks, summary["recovery_seconds"])
    counts_ax.set(ylabel="jobs", title=f"simqueue demo: {summary['jobs']} jobs, kill -9, restart")
    counts_ax.set_ylim(bottom=-0.02 * max(1, summary["jobs"]))
    for ax in (counts_ax, flight_ax, rate_ax):
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=FONT)
        ax.grid(alpha=0.3)
    return fig


def _plot_counts(ax: Axes, timeline: Timeline, t_enq: float) -> None:
    """Pending, completed and dead over time, one line per server's life."""
    for phase in PHASES:
        pts = timeline.phase(phase)
        if not pts:
            continue
        t = [s.time - t_enq for s in pts]
        for attr, name, color, style in COUNT_LINES:
            ax.plot(
                t,
                [getattr(s, attr) for s in pts],
                style,
                color=color,
                lw=1.8,
                label=name if phase == "before" else None,
            )


def _plot_in_flight(ax: Axes, timeline: Timeline, t_enq: float, workers: int) -> None:
    """Jobs handed to a worker and not yet finished: at most one per worker, so the axis ends
    just above the number of workers."""
    top = 0
    for phase in PHASES:
        pts = timeline.phase(phase)
        ax.step(
            [s.time - t_enq for s in pts],
            [s.in_flight for s in pts],
            where="post",
            color="tab:blue",
            label="in flight" if phase == "before" else None,
        )
        top = max([top, *(s.in_flight for s in pts)])
    ax.set_ylim(-0.5, max(top, workers, 1) * 1.25)
    ax.set_ylabel(f"in flight\n(of {workers} workers)" if workers else "in flight")


def _zero_while_down(axes: tuple[Axes, ...], marks: Marks) -> None:
    """While no server runs nothing is in flight and nothing finishes: those panels read zero
    across the outage (measured, not missing: the process was gone). The job counts stay
    blank there: what the log holds did not change, but no server reported it."""
    kill, ready = marks.killed - marks.enqueued, marks.ready - marks.enqueued
    if ready <= kill:
        return
    colours = ("tab:blue", "tab:green")
    for ax, colour in zip(axes, colours, strict=True):
        ax.plot([kill, ready], [0, 0], color=colour, lw=2.2, solid_capstyle="butt")


def _mark_outage(axes: tuple[Axes, ...], marks: Marks, recovery_seconds: float) -> None:
    """The kill as a dashed line, the time without a server shaded, the recovery target as a
    dotted line 3 s after the kill, and the measured recovery noted."""
    kill, ready = marks.killed - marks.enqueued, marks.ready - marks.enqueued
    deadline = kill + TARGET_RECOVERY
    for i, a in enumerate(axes):
        first = i == 0
        a.axvline(kill, color="black", ls="--", lw=1, label="kill -9" if first else None)
        a.axvspan(kill, ready, color="grey", alpha=0.2, label="down" if first else None)
        a.axvline(
            deadline,
            color=TARGET_COLOUR,
            ls=":",
            lw=1.5,
            label=f"recovery target:\nback by kill + {TARGET_RECOVERY:g} s" if first else None,
        )
    lo, hi = axes[0].get_xlim()
    axes[0].set_xlim(lo, max(hi, deadline + 0.05 * (deadline - lo)))
    counts_ax = axes[0]
    counts_ax.annotate(
        f"recovery (measured): {recovery_seconds * 1000:.1f} ms\n"
        f"down {ready - kill:.2f} s (process restart)",
        xy=(ready, 0.97),
        xycoords=("data", "axes fraction"),
        xytext=(6, 0),
        textcoords="offset points",
        va="top",
        fontsize=FONT,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )


def _plot_rate(ax: Axes, timeline: Timeline, t_enq: float) -> None:
    """Finished jobs per second (per phase, never across the crash) against the target."""
    top = float(TARGET_RATE)
    for phase in PHASES:
        rates = finished_rate(timeline.phase(phase))
        ax.plot(
            [t - t_enq for t, _ in rates],
            [r for _, r in rates],
            color="tab:green",
            label="finished jobs/s" if phase == "before" else None,
        )
        top = max([top, *(r for _, r in rates)])
    ax.axhline(
        TARGET_RATE, color=TARGET_COLOUR, ls="--", lw=1.3, label=f"target {TARGET_RATE} jobs/s"
    )
    ax.set(xlabel="seconds since the jobs were enqueued", ylabel="jobs/s")
    ax.set_ylim(-0.03 * top, top * 1.15)  # below zero, so a rate of zero shows above the axis


__all__ = ["plot", "write_outputs"]
