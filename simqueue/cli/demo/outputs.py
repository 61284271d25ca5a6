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

#: The line of each job count in the plot: (Sample field, label, colour).
COUNT_LINES = (
    ("pending", "pending", "tab:orange"),
    ("in_flight", "in flight", "tab:blue"),
    ("completed", "completed", "tab:green"),
    ("dead", "dead", "tab:red"),
)
PHASES = ("before", "after")
TARGET_RATE = 200  # jobs/s, the original plan's throughput target


def write_outputs(out_dir: str, timeline: Timeline, summary: dict[str, Any]) -> list[str]:
    """The plot, the timeline CSV and the summary JSON; returns their paths, the plot first."""
    png = os.path.join(out_dir, "demo_recovery.png")
    csv = os.path.join(out_dir, "demo_timeline.csv")
    js = os.path.join(out_dir, "demo_summary.json")
    _write_csv(csv, timeline.samples, timeline.marks.enqueued)
    with open(js, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=str)
        fh.write("\n")
    _plot(timeline, summary).savefig(png, dpi=100)
    return [png, csv, js]


def _write_csv(path: str, samples: list[Sample], t_enq: float) -> None:
    """One row per sample; time counts from the moment the jobs were posted."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("time,phase,pending,in_flight,completed,dead\n")
        for s in samples:
            counts = (s.pending, s.in_flight, s.completed, s.dead)
            fh.write(f"{s.time - t_enq:.4f},{s.phase}," + ",".join(map(str, counts)) + "\n")


def _plot(timeline: Timeline, summary: dict[str, Any]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6.5))
    FigureCanvasAgg(fig)
    counts_ax, rate_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    t_enq = timeline.marks.enqueued
    _plot_counts(counts_ax, timeline, t_enq)
    _mark_outage((counts_ax, rate_ax), timeline.marks, summary["recovery_seconds"])
    counts_ax.set(ylabel="jobs", title=f"simqueue demo: {summary['jobs']} jobs, kill -9, restart")
    counts_ax.legend(loc="center right")
    _plot_rate(rate_ax, timeline, t_enq)
    fig.tight_layout()
    return fig


def _plot_counts(ax: Axes, timeline: Timeline, t_enq: float) -> None:
    """Pending, in flight, completed and dead over time, one line per server's life."""
    for phase in PHASES:
        pts = timeline.phase(phase)
        if not pts:
            continue
        t = [s.time - t_enq for s in pts]
        for attr, name, color in COUNT_LINES:
            ax.plot(
                t,
                [getattr(s, attr) for s in pts],
                "-",
                color=color,
                label=name if phase == "before" else None,
            )


def _mark_outage(axes: tuple[Axes, Axes], marks: Marks, recovery_seconds: float) -> None:
    """The kill as a dashed line, the time without a server shaded, the measured recovery noted."""
    kill, ready = marks.killed - marks.enqueued, marks.ready - marks.enqueued
    for a in axes:
        a.axvline(kill, color="black", linestyle="--", linewidth=1)
        a.axvspan(kill, ready, color="grey", alpha=0.2)
    counts_ax = axes[0]
    counts_ax.annotate(
        f"kill -9\nrecovery (measured): {recovery_seconds * 1000:.1f} ms\n"
        f"down {ready - kill:.2f} s (process restart)",
        xy=(kill, counts_ax.get_ylim()[1] * 0.55),
        xytext=(8, 0),
        textcoords="offset points",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )


def _plot_rate(ax: Axes, timeline: Timeline, t_enq: float) -> None:
    """Finished jobs per second (per phase, never across the crash) against the target."""
    for phase in PHASES:
        rates = finished_rate(timeline.phase(phase))
        ax.plot(
            [t - t_enq for t, _ in rates],
            [r for _, r in rates],
            color="tab:green",
            label="finished jobs/s" if phase == "before" else None,
        )
    ax.axhline(TARGET_RATE, color="tab:red", linestyle=":", label=f"target {TARGET_RATE} jobs/s")
    ax.set(xlabel="seconds since the jobs were enqueued", ylabel="jobs/s")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right")


__all__ = ["write_outputs"]
