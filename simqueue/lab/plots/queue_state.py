"""The queue's state over time: how many jobs are in each state, and the write-ahead log's size,
snapshots and durable point. Two stacked panels each, outages shaded on both."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simqueue.lab.plots.figure import (
    LEGEND_FONT,
    PlotFigure,
    attach,
    new_panels,
    new_stacked_figure,
    shade_outages,
)
from simqueue.lab.plots.records import (
    config_of,
    is_simulation,
    outage_spans,
    samples_frame,
    trace_tuples,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from simqueue.sim.config import Config

__all__ = ["job_states", "wal_size"]

STATE_COLOURS = {
    "pending": "#1f77b4",
    "in_flight": "#ff7f0e",
    "completed": "#2ca02c",
    "dead": "#d62728",
}
SNAPSHOT_COLOUR = "#7f7f7f"


def job_states(
    source: object, *, config: Config | None = None, title: str | None = None
) -> PlotFigure:
    """How many jobs are pending, in flight, completed and dead over time, with outages shaded.
    Three panels: the jobs waiting, the jobs in flight (at most one per worker: on the scale of
    the others they would run along zero) and the finished totals. ``source``: a Simulation or
    its samples / metrics frame."""
    frame = samples_frame(source)
    spans = outage_spans(source, frame)
    fig, panels = new_panels((9.0, 6.2), (3.0, 1.4, 3.0))
    top, middle, bottom = panels
    t = frame["time"]
    lines = (("pending", top), ("in_flight", middle), ("completed", bottom), ("dead", bottom))
    for col, ax in lines:
        label = col.replace("_", " ")
        ax.plot(t, frame[col].astype(float), color=STATE_COLOURS[col], lw=1.5, label=label)
    top.set_ylabel("jobs waiting")
    middle.set_ylabel("in flight")
    bottom.set_ylabel("jobs finished")
    bottom.set_xlabel("simulated time (s)")
    top.set_title(title or "Job states over time")
    for ax in panels:
        shade_outages(ax, spans)
        ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.grid(alpha=0.3)
        # A little below zero, so that a count of zero (no dead jobs) is a visible line.
        ax.set_ylim(bottom=-0.03 * max(1.0, ax.get_ylim()[1]))
    return attach(
        fig, "job_states", frame.reset_index(drop=True), config_of(source, config), source
    )


def wal_size(
    source: object, *, config: Config | None = None, title: str | None = None
) -> PlotFigure:
    """WAL bytes on disk over time with a marker at every snapshot (after which old segments
    may be deleted), and below it the log's last seq against the durable point: the gap is
    what a power cut could take. ``source``: a Simulation, or its samples (then without
    snapshot markers: those come from the trace)."""
    frame = samples_frame(source)
    trace = trace_tuples(source) if is_simulation(source) else []
    snaps = [t[0] for t in trace if t[1] == "SNAPSHOT"]
    spans = outage_spans(source, frame)
    fig, top, bottom = new_stacked_figure((9.0, 5.2))
    for ax in (top, bottom):
        shade_outages(ax, spans)
    t = frame["time"]
    top.plot(t, frame["wal_bytes"].astype(float) / 1024, color="#1f77b4", lw=1.5, label="WAL")
    _mark_snapshots(snaps, top, bottom)
    # The durable point is often the last seq itself (fsync always, or just after a group
    # commit): dashed, over a wider last-seq line, both stay visible when they coincide.
    bottom.plot(
        t, frame["last_seq"].astype(float), color="#ff7f0e", lw=3.5, alpha=0.6, label="last seq"
    )
    bottom.plot(
        t,
        frame["durable_seq"].astype(float),
        color="#1f77b4",
        lw=1.5,
        ls="--",
        label="durable up to seq",
    )
    top.set_ylabel("WAL size (KiB)")
    bottom.set_ylabel("sequence number")
    bottom.set_xlabel("simulated time (s)")
    top.set_title(title or "Write-ahead log: size, snapshots and the durable point")
    for ax in (top, bottom):
        ax.legend(fontsize=LEGEND_FONT, loc="upper left")
        ax.grid(alpha=0.3)
    return attach(
        fig,
        "wal_size",
        frame.reset_index(drop=True),
        config_of(source, config),
        source,
        snapshots=snaps,
    )


def _mark_snapshots(times: list[float], *panels: Axes) -> None:
    """A dash-dotted line at every snapshot across all panels; the first one named in each
    panel's legend."""
    for i, s in enumerate(times):
        label = "snapshot" if i == 0 else None
        for ax in panels:
            ax.axvline(s, color=SNAPSHOT_COLOUR, lw=1, ls="-.", label=label)
