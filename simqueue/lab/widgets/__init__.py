"""A slider dashboard: change the workers or the failure rate, watch throughput move.

>>> from simqueue.lab.widgets import dashboard
>>> dash = dashboard()          # doctest: +SKIP
>>> dash                        # doctest: +SKIP   (in Jupyter: sliders and a plot)
>>> dash.set(workers=64)        # doctest: +SKIP   (what dragging the slider does)
>>> dash.last_summary.throughput  # doctest: +SKIP

:func:`dashboard` returns a :class:`Dashboard`, which *is* an ipywidgets ``VBox``: display it and
drag. Every change re-runs the real engine for ``duration`` (60) simulated seconds at the
configured arrival rate and redraws three panels: throughput over time against the 200 jobs/s
target, throughput against the number of workers, and the mean wait against the number of
workers, each with the M/M/c prediction (:func:`simqueue.lab.sweeps.predict`) drawn beside the
simulated points. Earlier runs that differ only in ``workers`` stay on the chart, so dragging
the workers slider traces the curve.

For tests and notebooks everything is reachable from Python: ``dash.sliders`` (keyed by
description: ``workers``, ``failure rate``, ``task timeout``, ``arrival rate``,
``snapshot interval``, ``fsync``), ``dash.runs``, ``dash.last_summary``, ``dash.last_figure``,
``dash.last_config``, ``dash.last_prediction``, ``dash.last_timing`` and ``dash.history``.

The modules: :mod:`~simqueue.lab.widgets.board` (the Dashboard: state, runs, export),
:mod:`~simqueue.lab.widgets.controls` (sliders and layout), :mod:`~simqueue.lab.widgets.chart`
(the three panels, drawn in place), :mod:`~simqueue.lab.widgets.measures` (what a run and
theory give the panels) and :mod:`~simqueue.lab.widgets.outcome` (one run's results and the
summary under the plot).

:func:`step_view` returns a :class:`StepView`: one run stepped event by event, its WAL drawn as
a strip with the appended, written and durable cursors, crash and recover buttons, a slider
that rewinds, and forks. Its modules: :mod:`~simqueue.lab.widgets.stepview` (the widget),
:mod:`~simqueue.lab.widgets.timeline` (the recorded actions and the re-run that rewinds),
:mod:`~simqueue.lab.widgets.walstrip` (the strip and one record's bytes) and
:mod:`~simqueue.lab.widgets.tables` (the job table and the event log).
"""

from __future__ import annotations

from simqueue.lab.widgets.board import Dashboard, dashboard
from simqueue.lab.widgets.stepview import StepView, step_view

__all__ = ["Dashboard", "StepView", "dashboard", "step_view"]
