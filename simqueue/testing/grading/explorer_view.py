"""The crash-point explorer on screen: a slider over every operation of the recorded workload, a
selector over every power-loss outcome at that crash point, the recovered state as text
(:meth:`CrashState.describe`), and the heatmap of acknowledged jobs lost per crash point and
outcome family, one panel per fsync policy.

It lives with the records (:mod:`simqueue.testing.grading.explorer`) because ``lab``, which holds
the other widgets and plots, may not import the crash campaign (``lab`` sits below ``testing``);
it borrows ``lab``'s figure class (:class:`~simqueue.lab.plots.figure.PlotFigure`) so the heatmap
shows in Jupyter and exports like every other figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from matplotlib.colors import ListedColormap

from simqueue.lab.plots.figure import DPI, PlotFigure
from simqueue.testing.grading.explorer import CrashExplorer, CrashState, Losses

__all__ = ["ExplorerBoard", "losses_figure"]


# ipywidgets ships no type information, so VBox is Any to mypy.
class ExplorerBoard(widgets.VBox):  # type: ignore[misc]
    """The slider (crash point), the selector (outcome) and the recovered state. ``current`` is
    the :class:`CrashState` on show; :meth:`select` moves both controls as a user would."""

    def __init__(self, explorer: CrashExplorer, crash_point: int = 0, outcome: int = 0) -> None:
        self.explorer = explorer
        self.slider = widgets.IntSlider(
            value=min(max(crash_point, 0), explorer.operations),
            min=0,
            max=explorer.operations,
            description="crash point",
            continuous_update=False,
            layout=widgets.Layout(width="90%"),
        )
        self.outcome = widgets.Dropdown(description="power loss", layout={"width": "90%"})
        self.text = widgets.HTML()
        self.current: CrashState | None = None
        self._quiet = False  # True while the board moves its own controls
        super().__init__([self.slider, self.outcome, self.text])
        self._set_options(self.slider.value, outcome)
        self.slider.observe(self._on_point, names="value")
        self.outcome.observe(self._on_outcome, names="value")
        self._show()

    def select(self, crash_point: int, outcome: int = 0) -> CrashState:
        """Move the slider and the selector (to the last outcome if there are fewer); returns the
        state now on show."""
        self._quiet = True
        self.slider.value = crash_point
        self._set_options(crash_point, outcome)
        self._show()
        assert self.current is not None  # _show always sets it
        return self.current

    def _set_options(self, k: int, index: int) -> None:
        _, outs = self.explorer.disk_at(k)
        self._quiet = True
        self.outcome.options = [(f"{i}: {o.family}: {o.label}", i) for i, o in enumerate(outs)]
        self.outcome.value = min(max(index, 0), len(outs) - 1)
        self._quiet = False

    def _on_point(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._set_options(change["new"], 0)
            self._show()

    def _on_outcome(self, change: dict[str, Any]) -> None:
        if not self._quiet and change["new"] is not None:
            self._show()

    def _show(self) -> None:
        self.current = self.explorer.state(self.slider.value, self.outcome.value)
        colour = "#2ca02c" if self.current.status != "violation" else "#d62728"
        self.text.value = (
            f'<pre style="border-left: 4px solid {colour}; padding-left: 8px">'
            f"{html.escape(self.current.describe())}</pre>"
        )


def losses_figure(grids: Sequence[Losses], *, width: float = 11.0) -> PlotFigure:
    """Crash point (x) by outcome family (y), coloured by the most acknowledged jobs one outcome
    of that family lost; white: the family has no outcome there. One panel per fsync policy."""
    fig = PlotFigure(figsize=(width, 2.3 * len(grids) + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(grids), 1, squeeze=False)[:, 0]
    top = max(1, max(g.worst for g in grids))
    cmap = ListedColormap(["#d9ead3"] + [_red(i / top) for i in range(1, top + 1)]).with_extremes(
        bad="white"
    )
    images = []
    for ax, g in zip(axes, grids, strict=True):
        image = ax.imshow(
            [[math.nan if math.isnan(v) else v for v in row] for row in g.lost],
            aspect="auto",
            interpolation="nearest",
            cmap=cmap,
            vmin=-0.5,
            vmax=top + 0.5,
        )
        images.append(image)
        ax.set_yticks(range(len(g.families)), g.families)
        ax.set_title(
            f"fsync={g.policy}: at most {g.worst} acknowledged job(s) lost by one outcome",
            loc="left",
            fontsize=10,
        )
        ax.set_xlabel("crash point (operations done when the power went)")
    fig.colorbar(images[-1], ax=list(axes), label="acknowledged jobs lost", shrink=0.8)
    fig.suptitle(
        "Acknowledged jobs lost, by crash point and power-loss outcome "
        "(white: no outcome of that family there)",
        fontsize=11,
    )
    return fig


def _red(x: float) -> tuple[float, float, float]:
    """From a light to a dark red as ``x`` goes from 0 to 1."""
    return (1.0 - 0.35 * x, 0.75 * (1.0 - x), 0.7 * (1.0 - x))
