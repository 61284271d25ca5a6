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
"""

from __future__ import annotations

import html
import io
import math
import time
from typing import Any

import ipywidgets as widgets

from simqueue.lab.sweeps import Prediction, predict
from simqueue.sim.config import Config
from simqueue.sim.distributions import Poisson
from simqueue.sim.simulation import Simulation, Summary

__all__ = ["Dashboard", "dashboard"]

TARGET_THROUGHPUT = 200.0
WARMUP = 5.0  # seconds excluded from the steady-state throughput


def dashboard(config: Config | None = None, **kwargs: Any) -> Dashboard:
    """An ipywidgets dashboard over ``config`` (default: the original plan's defaults with
    Poisson(200) arrivals). Keyword arguments go to :class:`Dashboard`."""
    return Dashboard(config, **kwargs)


class Dashboard(widgets.VBox):
    """Sliders, an fsync selector, an export button, a plot and a one-line summary."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        duration: float = 60.0,
        arrival_rate: float | None = None,
        run_now: bool = True,
        dpi: int = 72,
        export_folder: str | None = None,
    ) -> None:
        base = config or Config()
        if arrival_rate is None:
            arrival_rate = base.arrival.rate if base.arrival is not None else TARGET_THROUGHPUT
        self.base_config = base.replace(data_dir=None)
        self.duration = float(duration)
        self.dpi = dpi
        self.export_folder = export_folder
        self.runs = 0
        self.history: list[dict[str, Any]] = []
        self.last_summary: Summary | None = None
        self.last_figure = None
        self.last_config: Config | None = None
        self.last_prediction: Prediction | None = None
        self.last_timing: dict[str, float] = {}
        self.last_error: BaseException | None = None
        self.last_export: dict[str, str] | None = None
        self._holding = False

        style = {"description_width": "9em"}
        layout = widgets.Layout(width="26em")
        snap = base.snapshot_interval if base.snapshot_interval is not None else 10.0

        def slider(cls, description, value, lo, hi, step, fmt=None):
            kw = {"readout_format": fmt} if fmt else {}
            return cls(
                value=value,
                min=lo,
                max=hi,
                step=step,
                description=description,
                continuous_update=False,
                style=style,
                layout=layout,
                **kw,
            )

        self.sliders: dict[str, widgets.ValueWidget] = {
            "workers": slider(widgets.IntSlider, "workers", base.workers, 1, 128, 1),
            "failure rate": slider(
                widgets.FloatSlider, "failure rate", base.failure_rate, 0.0, 0.5, 0.01, ".2f"
            ),
            "task timeout": slider(
                widgets.FloatSlider, "task timeout", base.task_timeout, 0.05, 10.0, 0.05, ".2f"
            ),
            "arrival rate": slider(
                widgets.FloatSlider, "arrival rate", float(arrival_rate), 10.0, 500.0, 10.0, ".0f"
            ),
            "snapshot interval": slider(
                widgets.FloatSlider, "snapshot interval", float(snap), 1.0, 60.0, 1.0, ".0f"
            ),
            "fsync": widgets.ToggleButtons(
                options=["always", "batch", "never"],
                value=base.fsync,
                description="fsync",
                style={"description_width": "9em", "button_width": "6em"},
            ),
        }
        self.export_button = widgets.Button(
            description="export", icon="download", tooltip="write PNG, SVG, CSV and JSON"
        )
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%"))
        self.status = widgets.HTML()
        for w in self.sliders.values():
            w.observe(self._on_change, names="value")
        self.export_button.on_click(self._on_export)
        controls = widgets.HBox(
            [
                widgets.VBox(list(self.sliders.values())[:3]),
                widgets.VBox([*list(self.sliders.values())[3:], self.export_button]),
            ]
        )
        super().__init__(children=[controls, self.image, self.status])
        if run_now:
            self.run()

    # ------------------------------------------------------------------ state
    @property
    def widget(self) -> Dashboard:
        """The ipywidgets container (the dashboard itself)."""
        return self

    def config(self) -> Config:
        """The Config the sliders describe right now."""
        s = self.sliders
        return self.base_config.replace(
            workers=int(s["workers"].value),
            failure_rate=float(s["failure rate"].value),
            task_timeout=float(s["task timeout"].value),
            arrival=Poisson(float(s["arrival rate"].value)),
            snapshot_interval=float(s["snapshot interval"].value),
            fsync=s["fsync"].value,
        )

    def set(self, **values: Any) -> Summary | None:
        """Move several controls at once (``workers=64, failure_rate=0.2``: underscores for
        spaces) and re-run once, as if the student had dragged them."""
        unknown = [k for k in values if k.replace("_", " ") not in self.sliders]
        if unknown:
            raise KeyError(f"no control {unknown[0]!r}; controls: {', '.join(self.sliders)}")
        self._holding = True
        try:
            for key, value in values.items():
                self.sliders[key.replace("_", " ")].value = value
        finally:
            self._holding = False
        return self.run()

    def _on_change(self, change: dict[str, Any]) -> None:
        if not self._holding:
            self.run()

    # ------------------------------------------------------------------ running and drawing
    def run(self) -> Summary | None:
        """Simulate ``duration`` seconds with the current settings and redraw."""
        start = time.perf_counter()
        try:
            cfg = self.config()
            with Simulation(cfg) as sim:
                sim.run_until(self.duration)
                samples = sim.samples()
                summary = sim.summary()
            simulated = time.perf_counter()
            pred = predict(cfg)
            steady = _steady_throughput(samples, WARMUP)
            self.history.append(_history_row(cfg, summary, steady))
            fig = self._draw(cfg, samples, summary, steady, pred)
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=self.dpi)
            self.image.value = png.getvalue()
        except Exception as exc:  # shown in the dashboard instead of vanishing in a callback
            self.last_error = exc
            self.status.value = f"<b style='color:#b00'>error:</b> {html.escape(repr(exc))}"
            return None
        done = time.perf_counter()
        self.last_error = None
        self.last_config = cfg
        self.last_summary = summary
        self.last_prediction = pred
        self.last_figure = fig
        self.last_timing = {
            "simulate": simulated - start,
            "draw": done - simulated,
            "total": done - start,
        }
        self.runs += 1
        self.status.value = self._status_html(summary, steady, pred)
        return summary

    def _status_html(self, summary: Summary, steady: float, pred: Prediction) -> str:
        """One paragraph: did the run keep up with the offered load, and does this many workers
        have the capacity for the 200 jobs/s target (throughput can never exceed the arrival
        rate, so the target is judged on capacity)."""
        rate = pred.arrival_rate
        keeps_up = summary.pending <= rate  # less than a second of work waiting at the end
        enough = pred.capacity >= TARGET_THROUGHPUT
        green, red = "#2a7", "#b00"
        backlog = (
            f"<span style='color:{green}'>keeps up</span>"
            if keeps_up
            else f"<span style='color:{red}'>falls behind: {summary.pending} jobs waiting</span>"
        )
        verdict = (
            f"<span style='color:{green if enough else red}'>"
            f"{'meets' if enough else 'misses'} the {TARGET_THROUGHPUT:.0f} jobs/s target</span>"
        )
        t = self.last_timing
        return (
            f"<b>run {self.runs}</b>: {rate:.0f} jobs/s offered, <b>{steady:.1f} jobs/s</b> "
            f"completed ({backlog}); {summary.dead} dead. "
            f"Capacity of {self.last_config.workers} workers (M/M/c): {pred.capacity:.0f} jobs/s, "
            f"{verdict} ({pred.min_workers} workers needed at {rate:.0f} jobs/s). "
            f"Mean wait {_fmt_wait(summary.mean_wait)} (M/M/c {_fmt_wait(pred.mean_wait)}). "
            f"<small>{self.duration:.0f} simulated s in {t['simulate'] * 1000:.0f} ms, "
            f"drawn in {t['draw'] * 1000:.0f} ms</small>"
        )

    def _build_figure(self) -> None:
        """Make the figure and its artists once; each run only updates their data. A new
        figure per run would re-measure every tick label's text (matplotlib caches text
        metrics per renderer), and the dashboard has 0.5 s per change for simulating and
        drawing together. A fixed layout for the same reason (constrained layout doubles the
        drawing time)."""
        from matplotlib.ticker import FuncFormatter, NullLocator

        from simqueue.lab.plots import PlotFigure

        fig = PlotFigure(figsize=(13.0, 3.6), dpi=self.dpi)
        ax_t, ax_w, ax_q = fig.subplots(1, 3, width_ratios=[1.5, 1, 1])
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.15, top=0.9, wspace=0.22)
        a: dict[str, Any] = {"fig": fig, "t": ax_t, "w": ax_w, "q": ax_q}
        target = f"target {TARGET_THROUGHPUT:g} jobs/s"
        grey, green, blue = "#444444", "#2ca02c", "#1f77b4"
        # 1. throughput over time
        (a["tput"],) = ax_t.plot([], [], drawstyle="steps-pre", color=blue, label="simulated")
        ax_t.axhline(TARGET_THROUGHPUT, color=grey, ls="--", lw=1.2, label=target)
        a["t_theory"] = ax_t.axhline(0, color=green, ls=":", lw=1.8, label="M/M/c prediction")
        ax_t.set_xlabel("simulated time (s)")
        ax_t.set_ylabel("throughput (jobs/s)")
        ax_t.legend(fontsize="small", loc="lower right")
        ax_t.grid(alpha=0.3)
        # 2. throughput against workers
        (a["w_theory"],) = ax_w.plot([], [], ":", color=green, lw=1.8, label="M/M/c")
        ax_w.axhline(TARGET_THROUGHPUT, color=grey, ls="--", lw=1.2, label=target)
        a["w_min"] = ax_w.axvline(1, color=green, lw=0.8, alpha=0.6)
        (a["w_hist"],) = ax_w.plot([], [], "o", color=blue, alpha=0.35, label="earlier runs")
        (a["w_now"],) = ax_w.plot([], [], "o", color=blue, ms=8, label="this run")
        ax_w.set_xlim(0, 130)
        ax_w.set_xlabel("workers")
        ax_w.set_ylabel("throughput (jobs/s)")
        ax_w.legend(fontsize="small", loc="lower right")
        ax_w.grid(alpha=0.3)
        # 3. mean wait against workers
        (a["q_theory"],) = ax_q.plot([], [], ":", color=green, lw=1.8, label="M/M/c")
        (a["q_hist"],) = ax_q.plot([], [], "o", color=blue, alpha=0.35)
        (a["q_now"],) = ax_q.plot([], [], "o", color=blue, ms=8, label="simulated")
        ax_q.set_yscale("log")
        ax_q.yaxis.set_minor_locator(NullLocator())  # fewer ticks and lines to draw
        ax_q.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # no mathtext
        ax_q.set_xlim(0, 130)
        ax_q.set_xlabel("workers")
        ax_q.set_ylabel("mean wait (ms)")
        ax_q.legend(fontsize="small", loc="upper right")
        ax_q.grid(alpha=0.3)
        for ax in (ax_t, ax_w, ax_q):  # a fixed title position skips a costly layout pass
            ax.set_title(" ", y=1.01)
        self._art = a

    def _draw(self, cfg: Config, samples: list[tuple], summary: Summary, steady: float, pred):
        import pandas as pd

        if getattr(self, "_art", None) is None:
            self._build_figure()
        a = self._art
        fig = a["fig"]
        rate = cfg.arrival.rate
        # 1. throughput over time
        times, tput = _per_second(samples)
        a["tput"].set_data(times, tput)
        a["t_theory"].set_ydata([pred.throughput, pred.throughput])
        top = max(TARGET_THROUGHPUT, rate, max(tput, default=0.0)) * 1.15
        a["t"].set_xlim(0, self.duration)
        a["t"].set_ylim(0, top)
        title = f"{cfg.workers} workers, {rate:.0f} jobs/s offered, {steady:.0f} jobs/s done"
        a["t"].set_title(title, y=1.01)
        # 2. and 3. theory curves, this run, and earlier runs that differ only in workers
        cs = list(range(1, 129))
        served = rate * (1 - pred.dead_fraction)
        curve = [min(served, c * pred.capacity_per_worker) for c in cs]
        a["w_theory"].set_data(cs, curve)
        a["w_min"].set_xdata([pred.min_workers, pred.min_workers])
        waits = [_ms(w) for w in _theory_waits(cfg, rate, cs)]
        a["q_theory"].set_data(cs, waits)
        same = [h for h in self.history[:-1] if _comparable(h, self.history[-1])]
        xs = [h["workers"] for h in same]
        a["w_hist"].set_data(xs, [h["throughput"] for h in same])
        a["q_hist"].set_data(xs, [_ms(h["mean_wait"]) for h in same])
        a["w_now"].set_data([cfg.workers], [steady])
        a["q_now"].set_data([cfg.workers], [_ms(summary.mean_wait)])
        a["w"].set_ylim(0, max(TARGET_THROUGHPUT, served, steady) * 1.15)
        a["w"].set_title(f"M/M/c: {pred.min_workers} workers keep up", y=1.01)
        shown = [_ms(h["mean_wait"]) for h in same] + [_ms(summary.mean_wait), *waits]
        shown = [w for w in shown if math.isfinite(w)]
        lo, hi = (min(shown), max(shown)) if shown else (1e-3, 1.0)
        a["q"].set_ylim(max(lo / 2, 1e-3), max(hi * 2, 1e-2))
        a["q"].set_title(f"mean wait {_fmt_wait(summary.mean_wait)} (dots) vs M/M/c", y=1.01)
        fig.simqueue_data = pd.DataFrame({"time": times, "throughput": tput})
        fig.simqueue_meta = {
            "plot": "dashboard",
            "config": cfg,
            "duration": self.duration,
            "steady_throughput": steady,
            "summary": {k: v for k, v in summary.as_dict().items() if k != "recoveries"},
            "prediction": pred.as_dict(),
            "target": TARGET_THROUGHPUT,
        }
        return fig

    # ------------------------------------------------------------------ export
    def export(self, path_stem: str | None = None) -> dict[str, str]:
        """Export the current figure (PNG, SVG), its data (CSV) and the settings (JSON)."""
        from simqueue.lab.export import export

        if path_stem is None:
            c = self.last_config or self.config()
            path_stem = f"dashboard-w{c.workers}-f{c.failure_rate:g}-seed{c.seed}"
        self.last_export = export(self, path_stem, folder=self.export_folder)
        return self.last_export

    def _on_export(self, _button: Any) -> None:
        try:
            paths = self.export()
        except Exception as exc:
            self.last_error = exc
            self.status.value = f"<b style='color:#b00'>export failed:</b> {html.escape(str(exc))}"
            return
        names = ", ".join(html.escape(p) for p in paths.values())
        self.status.value += f"<br>exported: {names}"


# --------------------------------------------------------------------------- helpers
def _per_second(samples: list[tuple]) -> tuple[list[float], list[float]]:
    """Completions per simulated second from the periodic samples (time, ..., completed, ...)."""
    times: list[float] = []
    rates: list[float] = []
    last_t = last_c = None
    next_t = 0.0
    for s in samples:
        t, completed = s[0], s[3]
        if t + 1e-9 < next_t or completed is None:
            continue
        if last_t is not None and t > last_t:
            times.append(t)
            rates.append(max(0.0, (completed - last_c) / (t - last_t)))
        last_t, last_c = t, completed
        next_t = math.floor(t + 1e-9) + 1.0
    return times, rates


def _steady_throughput(samples: list[tuple], warmup: float) -> float:
    """Completions per second after ``warmup`` (the first seconds only fill the pipeline)."""
    up = [s for s in samples if s[3] is not None]
    if len(up) < 2:
        return 0.0
    first = next((s for s in up if s[0] >= warmup), up[0])
    last = up[-1]
    if last[0] <= first[0]:
        return 0.0
    return (last[3] - first[3]) / (last[0] - first[0])


def _fmt_wait(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    if math.isinf(seconds):
        return "unbounded"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def _ms(seconds: float | None) -> float:
    """Seconds to milliseconds for a log axis: None/NaN stay NaN, zero becomes 1 µs."""
    if seconds is None or not math.isfinite(seconds):
        return math.nan
    return max(seconds * 1000, 1e-3)


def _theory_waits(cfg: Config, rate: float, cs: list[int]) -> list[float | None]:
    from simqueue.sim import theory

    pred = predict(cfg.replace(workers=1), rate)
    lam = rate * pred.attempts_per_job
    if pred.occupancy <= 0:
        return [0.0 for _ in cs]
    mu = 1.0 / pred.occupancy
    return [theory.mmc_mean_wait(lam, mu, c) if lam < c * mu else None for c in cs]


def _history_row(cfg: Config, summary: Summary, steady: float) -> dict[str, Any]:
    return {
        "workers": cfg.workers,
        "failure_rate": cfg.failure_rate,
        "task_timeout": cfg.task_timeout,
        "arrival_rate": cfg.arrival.rate,
        "snapshot_interval": cfg.snapshot_interval,
        "fsync": cfg.fsync,
        "throughput": steady,
        "mean_wait": summary.mean_wait,
        "completed": summary.completed,
        "dead": summary.dead,
    }


def _comparable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("failure_rate", "task_timeout", "arrival_rate", "snapshot_interval", "fsync")
    return all(a[k] == b[k] for k in keys)
