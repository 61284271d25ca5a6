"""The files ``simqueue simulate`` writes: the run's frames as CSV, a summary JSON and PNG plots.

The plots are the notebooks' (:mod:`simqueue.lab.plots`), so a headless run and a notebook show
the same pictures. If that layer cannot be imported or draws nothing, three simple plots drawn
here take their place: a run's numbers are never lost to a plotting problem.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from simqueue.cli.settings import Settings
    from simqueue.cli.sim_verdicts import Verdict
    from simqueue.sim.simulation import Simulation, Summary

#: Above this many trace events the per-attempt worker timeline is unreadable (and slow).
TIMELINE_MAX_EVENTS = 20_000


def write_outputs(
    sim: Simulation,
    settings: Settings,
    summary: Summary,
    out: str,
    invariants: str,
    verdicts: Sequence[Verdict] = (),
) -> list[str]:
    """trace.csv, jobs.csv, metrics.csv, summary.json (with the targets' verdicts) and the plots;
    returns their paths."""
    from simqueue.lab.frames import jobs_frame, metrics_frame, trace_frame

    trace = trace_frame(sim)
    jobs = jobs_frame(sim)
    interval = max(sim.config.metrics_interval, round(max(summary.elapsed, 0.1) / 100, 3))
    metrics = metrics_frame(sim, interval)
    files = []
    for name, df in (("trace.csv", trace), ("jobs.csv", jobs), ("metrics.csv", metrics)):
        path = os.path.join(out, name)
        df.to_csv(path, index=False)
        files.append(path)
    files.append(_write_summary(settings, summary, out, invariants, verdicts))
    files += write_plots(sim, out, metrics, jobs, interval, len(trace))
    return files


def _write_summary(
    settings: Settings, summary: Summary, out: str, invariants: str, verdicts: Sequence[Verdict]
) -> str:
    path = os.path.join(out, "summary.json")
    doc = {
        "summary": summary.as_dict(),
        "config": settings.config.to_dict(),
        "scenario": settings.as_dict()["scenario"],
        "invariants": invariants,
        "targets": [v.as_dict() for v in verdicts],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(json_safe(doc), fh, indent=2, default=str)
        fh.write("\n")
    return path


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinity replaced by ``None`` (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_plots(
    sim: Simulation,
    out: str,
    metrics: pd.DataFrame,
    jobs: pd.DataFrame,
    interval: float,
    events: int,
) -> list[str]:
    """The standard plots as PNG, drawn by :mod:`simqueue.lab.plots` (the notebooks' plots); if
    that layer is missing or fails, simple plots drawn here instead."""
    try:
        from simqueue.lab import plots
    except Exception as exc:
        msg = f"simqueue: simqueue.lab.plots unavailable ({exc!r}); drawing simple plots"
        print(msg, file=sys.stderr)
        return simple_plots(metrics, jobs, out)
    wanted: list[tuple[str, Callable[[], Any]]] = [
        ("throughput", lambda: plots.throughput(sim, interval=interval)),
        ("job_states", lambda: plots.job_states(sim)),
        ("wal_size", lambda: plots.wal_size(sim)),
    ]
    if sim.recoveries:
        wanted.append(("recovery_times", lambda: plots.recovery_times(sim)))
    if sim.config.trace and events <= TIMELINE_MAX_EVENTS:  # drawn from the trace's events
        wanted.append(("worker_timeline", lambda: plots.worker_timeline(sim)))
    paths = []
    for name, draw in wanted:
        try:
            path = os.path.join(out, f"{name}.png")
            draw().savefig(path, dpi=100)
            paths.append(path)
        except Exception as exc:  # one plot failing must not cost the run's other outputs
            print(f"simqueue: plot {name} failed: {exc!r}", file=sys.stderr)
    return paths or simple_plots(metrics, jobs, out)


def simple_plots(metrics: pd.DataFrame, jobs: pd.DataFrame, out: str) -> list[str]:
    """queue.png, throughput.png and latency.png, drawn with matplotlib alone."""
    return [
        _save(_queue_plot(metrics), out, "queue.png"),
        _save(_throughput_plot(metrics), out, "throughput.png"),
        _save(_latency_plot(jobs), out, "latency.png"),
    ]


def _figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out: str, name: str) -> str:
    path = os.path.join(out, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def _queue_plot(metrics: pd.DataFrame) -> Figure:
    """Pending, completed and dead above; in flight (at most one per worker, so on a scale of
    its own) below."""
    fig = _figure()
    counts, flight = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for col, style in (("pending", "-"), ("completed", "-"), ("dead", "--")):
        counts.plot(metrics["time"], metrics[col].astype(float), style, label=col)
    flight.plot(metrics["time"], metrics["in_flight"].astype(float), color="tab:purple")
    counts.set(ylabel="jobs", title="Queue state over time")
    flight.set(xlabel="simulated time (s)", ylabel="in flight")
    counts.legend()
    return fig


def _throughput_plot(metrics: pd.DataFrame) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(metrics["time"], metrics["throughput"].astype(float), label="completions/s")
    ax.axhline(200, color="tab:red", linestyle="--", label="target 200 jobs/s")
    ax.set(xlabel="simulated time (s)", ylabel="jobs/s", title="Throughput")
    ax.legend()
    return fig


def _latency_plot(jobs: pd.DataFrame) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    lat = jobs["latency"].dropna()
    if len(lat):
        ax.hist(lat, bins=50)
    ax.set(xlabel="enqueue to completion (s)", ylabel="jobs", title="Latency of completed jobs")
    return fig


__all__ = ["json_safe", "simple_plots", "write_outputs", "write_plots"]
