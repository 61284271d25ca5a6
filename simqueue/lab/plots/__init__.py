"""Plots of a simulation, each returning a matplotlib :class:`~matplotlib.figure.Figure`.

Outer layer: every function reads plain records (the trace tuples, :meth:`Simulation.samples`,
the pandas frames, :class:`~simqueue.RecoveryReport` fields) and never reaches into the engine.
No function touches pyplot's global state (see :mod:`simqueue.lab.plots.figure`), and a notebook
shows a figure by returning it from a cell.

Every figure carries the data it was drawn from and where that data came from, for
:func:`simqueue.export`: ``fig.simqueue_data`` (a DataFrame) and ``fig.simqueue_meta`` (a dict
with the plot name, the :class:`~simqueue.Config` and anything else worth recording).

The two targets of the original design are drawn wherever they apply: **200 jobs/s** on
throughput plots and **3 s** on recovery plots. Outages (from a CRASH event to the RECOVER that
follows it) are shaded.

The modules, one concept each: :mod:`~simqueue.lab.plots.records` (reading a Simulation or its
records), :mod:`~simqueue.lab.plots.figure` (the figure, its provenance, the shared look),
:mod:`~simqueue.lab.plots.capacity` (throughput, sweeps), :mod:`~simqueue.lab.plots.recovery`
(recovery times), :mod:`~simqueue.lab.plots.timeline` (attempts per worker) and
:mod:`~simqueue.lab.plots.queue_state` (job states, the WAL). Everything public is here too.
"""

from __future__ import annotations

from simqueue.lab.plots.capacity import sweep, throughput
from simqueue.lab.plots.figure import (
    OUTAGE_COLOUR,
    TARGET_COLOUR,
    TARGET_RECOVERY_SECONDS,
    TARGET_THROUGHPUT,
    PlotFigure,
)
from simqueue.lab.plots.queue_state import job_states, wal_size
from simqueue.lab.plots.records import outages
from simqueue.lab.plots.recovery import (
    recovery_times,
    recovery_vs_records,
    recovery_vs_snapshot_interval,
)
from simqueue.lab.plots.timeline import OUTCOME_COLOURS, attempts_frame, worker_timeline

__all__ = [
    "OUTAGE_COLOUR",
    "OUTCOME_COLOURS",
    "PlotFigure",
    "TARGET_COLOUR",
    "TARGET_RECOVERY_SECONDS",
    "TARGET_THROUGHPUT",
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
