"""The step view: drive the real engine one event at a time and watch its log.

>>> from simqueue.lab.widgets import step_view
>>> view = step_view()            # doctest: +SKIP
>>> view                          # doctest: +SKIP   (in Jupyter: buttons, the WAL strip, tables)
>>> view.step(10); view.crash("power", "garble"); view.recover()   # doctest: +SKIP

Buttons Step, Step x10, Run to t, Crash (process, or power with its tear mode) and Recover act
on one :class:`~simqueue.sim.simulation.Simulation`; the *event* slider rewinds to any event
already reached (a deterministic re-run from the seed with the recorded actions,
:mod:`~simqueue.lab.widgets.timeline`) and forward again; Fork branches from the current event
with another seed. Under the buttons: the WAL strip with its three cursors
(:mod:`~simqueue.lab.widgets.walstrip`, reading :mod:`simqueue.sim.walview`), the selected
record's fields and bytes, the job table and the event log (:mod:`~simqueue.lab.widgets.tables`).

An impossible request (a negative time, rewinding past the last event, crashing a crashed queue,
recovering a running one) changes nothing and shows one line naming the field.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any

import ipywidgets as widgets

from simqueue.core.storage import TEAR_MODES
from simqueue.lab.widgets import tables, walstrip
from simqueue.lab.widgets.timeline import Action, Replay, Timeline
from simqueue.sim.config import Config
from simqueue.sim.distributions import Poisson, Uniform

__all__ = ["MAX_RUN_AHEAD", "STRIP_RECORDS", "StepView", "step_view"]

STRIP_RECORDS = 40  # records the strip shows: the latest ones
#: The furthest one Run to t goes (simulated seconds): a step view is for following events, and
#: every rewind re-runs what was run.
MAX_RUN_AHEAD = 600.0
_ERROR = "color:#b00;font-weight:bold"


def step_view(config: Config | None = None, **kwargs: Any) -> StepView:
    """A step view over ``config`` (default: 3 workers, 20 jobs/s, fsync batch every 50 ms, a
    snapshot every 5 s: slow enough to follow one record at a time)."""
    return StepView(config, **kwargs)


def _default_config() -> Config:
    return Config(
        seed=7,
        workers=3,
        arrival=Poisson(20),
        failure_rate=0.2,
        flush_interval=0.05,
        snapshot_interval=5.0,
        service_time=Uniform(0.05, 0.4),
    )


class _Controls:
    """The buttons and fields, made once."""

    def __init__(self) -> None:
        b = widgets.Button
        self.step = b(description="Step", tooltip="advance to the next event")
        self.step10 = b(description="Step x10", tooltip="advance ten events")
        self.t = widgets.FloatText(
            value=1.0,
            description="t",
            layout=widgets.Layout(width="11em"),
            style={"description_width": "1.5em"},
        )
        self.run = b(description="Run to t", tooltip="run every event up to simulated time t")
        self.kind = widgets.Dropdown(
            options=["process", "power"],
            value="power",
            description="crash",
            layout=widgets.Layout(width="13em"),
            style={"description_width": "3em"},
        )
        self.tear = widgets.Dropdown(
            options=list(TEAR_MODES),
            value="garble",
            description="tear",
            layout=widgets.Layout(width="12em"),
            style={"description_width": "2.5em"},
        )
        self.crash = b(description="Crash", button_style="danger", tooltip="pull the plug now")
        self.recover = b(
            description="Recover",
            button_style="success",
            tooltip="run the real recovery on what the crash left",
        )
        self.event = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="event",
            continuous_update=False,
            layout=widgets.Layout(width="40em"),
        )
        self.seed = widgets.IntText(
            value=1,
            description="seed",
            layout=widgets.Layout(width="9em"),
            style={"description_width": "3em"},
        )
        self.fork = b(description="Fork", tooltip="branch from this event with another seed")
        self.record = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="record",
            continuous_update=True,
            layout=widgets.Layout(width="34em"),
        )

    def rows(self) -> list[Any]:
        return [
            widgets.HBox(
                [
                    self.step,
                    self.step10,
                    self.t,
                    self.run,
                    self.kind,
                    self.tear,
                    self.crash,
                    self.recover,
                ]
            ),
            widgets.HBox([self.event, self.seed, self.fork]),
        ]


class StepView(widgets.VBox):  # type: ignore[misc]  # ipywidgets ships no type information
    """Buttons, the WAL strip, the selected record, the job table and the event log."""

    def __init__(
        self, config: Config | None = None, *, jobs: int = 0, timeline: Timeline | None = None
    ) -> None:
        self.timeline = timeline or Timeline(config or _default_config(), jobs)
        self.replay: Replay = self.timeline.rebuild(self.timeline.end)
        self.message = ""
        self.last_redraw_seconds = 0.0
        self.forks: list[StepView] = []
        self._follow = True  # the record slider follows the newest record
        self._quiet = False  # set while the view moves its own sliders
        self.c = _Controls()
        self.status = widgets.HTML()
        self.strip = widgets.HTML()
        self.detail = widgets.HTML()
        self.jobs = widgets.HTML()
        self.events = widgets.HTML()
        self.fork_box = widgets.VBox()
        columns = widgets.HBox(
            [
                widgets.VBox([self.c.record, self.detail], layout=widgets.Layout(width="36em")),
                widgets.VBox(
                    [widgets.HTML("<b>jobs</b>"), self.jobs],
                    layout=widgets.Layout(width="21em", flex="none"),
                ),
                widgets.VBox(
                    [widgets.HTML("<b>event log</b>"), self.events],
                    layout=widgets.Layout(flex="1", min_width="0"),
                ),
            ]
        )
        super().__init__(
            children=[
                *self.c.rows(),
                self.status,
                self.strip,
                widgets.HTML(walstrip.legend_html()),
                columns,
                self.fork_box,
            ]
        )
        self.add_class("sq-step-view")
        self._connect()
        self.redraw()

    def _connect(self) -> None:
        c = self.c
        c.step.on_click(lambda _b: self.step())
        c.step10.on_click(lambda _b: self.step(10))
        c.run.on_click(lambda _b: self.run_to(c.t.value))
        c.crash.on_click(lambda _b: self.crash(c.kind.value, c.tear.value))
        c.recover.on_click(lambda _b: self.recover())
        c.fork.on_click(lambda _b: self._on_fork())
        c.kind.observe(self._on_kind, names="value")
        c.event.observe(self._on_event, names="value")
        c.record.observe(self._on_record, names="value")

    # ------------------------------------------------------------------ state
    @property
    def sim(self) -> Any:
        return self.replay.sim

    @property
    def position(self) -> int:
        """How many events the run has had (the event slider's value)."""
        return self.replay.position

    def _fail(self, field: str, why: str) -> bool:
        self.message = f"{field}: {why}"
        self.status.value = (
            f"<span class='sq-error' style='{_ERROR}'>{html.escape(self.message)}</span>"
        )
        return False

    def _done(self, action: Action) -> bool:
        self.timeline.record(action)
        self.message = ""
        self.redraw()
        return True

    # ------------------------------------------------------------------ actions
    def step(self, n: int = 1) -> bool:
        """Advance ``n`` events (fewer if nothing is left to happen)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            return self._fail("steps", f"must be a whole number of at least 1, got {n!r}")
        if self.sim.crashed:
            return self._fail("step", "the queue is down after the crash; press Recover first")
        start = self.position
        self.replay.step_to(start + n)
        if self.position == start:
            return self._fail("step", "nothing left to happen")
        return self._done(Action("step", start, self.position))

    def run_to(self, t: float) -> bool:
        """Run every event up to simulated time ``t``."""
        if not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            return self._fail("t", f"must be a time >= 0 in simulated seconds, got {t!r}")
        if t < self.sim.now:
            return self._fail(
                "t",
                f"{t:g} s is in the past (now is {self.sim.now:.3f} s); "
                "rewind with the event slider",
            )
        if t > self.sim.now + MAX_RUN_AHEAD:
            return self._fail(
                "t", f"{t:g} s is more than {MAX_RUN_AHEAD:g} s ahead (now is {self.sim.now:.3f} s)"
            )
        if self.sim.crashed:
            return self._fail("run to t", "the queue is down after the crash; press Recover first")
        start = self.position
        self.sim.run_until(float(t))
        self.replay.caught_up()
        self.replay.wal.refresh()
        return self._done(Action("run", start, self.position, time=float(t)))

    def crash(self, kind: str = "power", tear: str = "drop") -> bool:
        """Crash the queue now: ``process`` (kill -9) or ``power`` (torn per ``tear``)."""
        if kind not in ("process", "power"):
            return self._fail("crash kind", f"must be process or power, got {kind!r}")
        if tear not in TEAR_MODES:
            return self._fail("tear", f"must be one of {', '.join(TEAR_MODES)}, got {tear!r}")
        if self.sim.crashed:
            return self._fail("crash", "the queue is already down; press Recover first")
        start = self.position
        self.replay.wal.crash(kind, tear)
        self.replay.caught_up()
        return self._done(Action("crash", start, self.position, crash_kind=kind, tear=tear))

    def recover(self) -> bool:
        """Run the real recovery on the files the crash left."""
        if not self.sim.crashed:
            return self._fail("recover", "the queue is running; there is nothing to recover")
        start = self.position
        self.replay.wal.recover()
        self.replay.caught_up()
        return self._done(Action("recover", start, self.position))

    def rewind(self, k: int) -> bool:
        """Go to event ``k`` (0 to the last event reached): a re-run from the seed with the
        recorded actions. The actions after ``k`` are kept until a new action replaces them."""
        end = self.timeline.end
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            return self._fail("event", f"must be a whole number >= 0, got {k!r}")
        if k > end:
            return self._fail("event", f"{k} is past the end: the last event reached is {end}")
        old = self.replay
        self.replay = self.timeline.rebuild(k)
        old.sim.close()
        self.message = ""
        self.redraw()
        return True

    def fork(self, seed: int) -> StepView | None:
        """A new step view that shares this run up to the current event, then draws from
        ``seed``'s streams (arrivals, outcomes, tears): the same past, another future."""
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            self._fail("seed", f"must be a whole number >= 0, got {seed!r}")
            return None
        k = self.position
        branch = Timeline(self.timeline.config, self.timeline.jobs, self.timeline.truncated(k))
        branch.actions.append(Action("reseed", k, k, seed=seed))
        view = StepView(timeline=branch)
        self.forks.append(view)
        return view

    def _on_fork(self) -> None:
        view = self.fork(int(self.c.seed.value))
        if view is not None:
            title = widgets.HTML(f"<b>fork at event {self.position}, seed {self.c.seed.value}</b>")
            self.fork_box.children = [*self.fork_box.children, title, view]

    def _on_kind(self, change: dict[str, Any]) -> None:
        self.c.tear.disabled = change["new"] != "power"  # only a power cut tears

    def _on_event(self, change: dict[str, Any]) -> None:
        if not self._quiet and change["new"] != self.position:
            self.rewind(int(change["new"]))

    def _on_record(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._follow = change["new"] >= self.c.record.max
            self._draw_detail()

    # ------------------------------------------------------------------ drawing
    def redraw(self) -> None:
        """Draw everything from the current state (every action ends here)."""
        start = time.perf_counter()
        self.replay.wal.refresh()
        records = self.replay.wal.strip(STRIP_RECORDS)
        c = self.c
        self._quiet = True
        try:
            c.event.max = max(self.timeline.end, self.position)
            c.event.value = self.position
            c.record.max = max(0, len(records) - 1)
            if self._follow:
                c.record.value = c.record.max
        finally:
            self._quiet = False
        self.strip.value = walstrip.strip_html(self.replay.wal, records, c.record.value)
        self._draw_detail(records)
        self.jobs.value = tables.job_table_html(self.sim)
        self.events.value = tables.event_log_html(self.sim, self.replay.base, self.replay.read)
        if not self.message:
            self.status.value = self._status_line()
        self.last_redraw_seconds = time.perf_counter() - start

    def _draw_detail(self, records: list[Any] | None = None) -> None:
        if records is None:
            records = self.replay.wal.strip(STRIP_RECORDS)
            self.strip.value = walstrip.strip_html(self.replay.wal, records, self.c.record.value)
        i = self.c.record.value
        self.detail.value = walstrip.record_html(self.replay.wal, records[i] if records else None)

    def _status_line(self) -> str:
        sim = self.sim
        state = "<b style='color:#b00'>down (crashed)</b>" if sim.crashed else "running"
        lost = len(sim.lost_acknowledged)
        lost_text = f"; <b style='color:#b00'>{lost} acknowledged job(s) lost</b>" if lost else ""
        return (
            f"<span class='sq-status'>event {self.position}, t = {sim.now:.3f} s, queue "
            f"{state}, fsync {sim.config.fsync}{lost_text}</span>"
        )
