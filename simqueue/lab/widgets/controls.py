"""The dashboard's controls: one slider per setting a student moves, the fsync and crash
selectors and the export button, laid out in two columns; and the Config the controls
describe."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from simqueue.lab.widgets.crashes import CRASH_CHOICES
from simqueue.sim.config import Config
from simqueue.sim.distributions import Poisson

__all__ = ["config_from", "control_panel", "crash_from", "export_button", "make_controls"]

_STYLE = {"description_width": "9em"}
_WIDTH = "26em"
DEFAULT_SNAPSHOT_INTERVAL = 10.0  # where the slider starts for a config without snapshots
DEFAULT_CRASH = "power"  # every run crashes once unless the student chooses none
DEFAULT_CRASH_AT = 25.0  # seconds: mid-run, half a snapshot interval after one (10 s apart)


def _slider(
    cls: Any,
    description: str,
    value: float,
    bounds: tuple[float, float, float],
    layout: Any,
    fmt: str = "",
) -> Any:
    """A slider that reports only where a drag ends (each change re-runs the simulation)."""
    lo, hi, step = bounds
    kw = {"readout_format": fmt} if fmt else {}
    return cls(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        continuous_update=False,
        style=_STYLE,
        layout=layout,
        **kw,
    )


def make_controls(base: Config, arrival_rate: float) -> dict[str, Any]:
    """The controls keyed by description, starting at ``base``'s values."""
    snap = base.snapshot_interval
    snap = DEFAULT_SNAPSHOT_INTERVAL if snap is None else snap
    layout = widgets.Layout(width=_WIDTH)
    whole, real = widgets.IntSlider, widgets.FloatSlider
    return {
        "workers": _slider(whole, "workers", base.workers, (1, 128, 1), layout),
        "failure rate": _slider(
            real, "failure rate", base.failure_rate, (0.0, 0.5, 0.01), layout, ".2f"
        ),
        "task timeout": _slider(
            real, "task timeout", base.task_timeout, (0.05, 10.0, 0.05), layout, ".2f"
        ),
        "arrival rate": _slider(
            real, "arrival rate", float(arrival_rate), (10.0, 500.0, 10.0), layout, ".0f"
        ),
        "snapshot interval": _slider(
            real, "snapshot interval", float(snap), (1.0, 60.0, 1.0), layout, ".0f"
        ),
        "fsync": widgets.ToggleButtons(
            options=["always", "batch", "never"],
            value=base.fsync,
            description="fsync",
            style={**_STYLE, "button_width": "6em"},
        ),
        "crash": widgets.ToggleButtons(
            options=list(CRASH_CHOICES),
            value=DEFAULT_CRASH,
            description="crash",
            tooltip="crash the queue once per run, then recover",
            style={**_STYLE, "button_width": "6em"},
        ),
        "crash at": _slider(real, "crash at", DEFAULT_CRASH_AT, (1.0, 59.0, 1.0), layout, ".0f"),
    }


def export_button() -> Any:
    return widgets.Button(
        description="export", icon="download", tooltip="write PNG, SVG, CSV and JSON"
    )


def control_panel(controls: dict[str, Any], button: Any) -> Any:
    """Two columns: the workload (workers to arrival rate), then durability and the crash
    with the export button."""
    shown = list(controls.values())
    return widgets.HBox([widgets.VBox(shown[:4]), widgets.VBox([*shown[4:], button])])


def config_from(base: Config, controls: dict[str, Any]) -> Config:
    """``base`` with every setting the controls describe right now (the crash is not a
    setting of the queue: :func:`crash_from`)."""
    return base.replace(
        workers=int(controls["workers"].value),
        failure_rate=float(controls["failure rate"].value),
        task_timeout=float(controls["task timeout"].value),
        arrival=Poisson(float(controls["arrival rate"].value)),
        snapshot_interval=float(controls["snapshot interval"].value),
        fsync=controls["fsync"].value,
    )


def crash_from(controls: dict[str, Any]) -> tuple[str, float]:
    """The crash the controls choose: its kind (one of ``CRASH_CHOICES``) and its time."""
    return str(controls["crash"].value), float(controls["crash at"].value)
