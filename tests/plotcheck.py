"""Checks that a figure reads well, shared by the plot tests of the notebooks and of the demo:
every curve and marker inside its axes, text no smaller than a laptop screen needs, counts with
the right plural. None is pixel-exact: they read the figure's artists after a draw."""

from __future__ import annotations

import math
import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

#: Smallest font size (points) of any text: 7.5 pt is 10 pixels at 100 dpi.
MIN_FONT = 7.5
#: Smallest font size of legend entries.
MIN_LEGEND_FONT = 9.0
#: "1 workers", "1 records": a count of one with a plural noun.
BAD_PLURAL = re.compile(r"(?<![\d.,])1 (worker|record|recoverie|job|attempt|crashe|snapshot)s\b")


def _draw(fig: Figure) -> None:
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()


def outside_points(fig: Figure) -> list[str]:
    """Every line point (or marker) of every axes that lies outside the axes' box; a marker must
    fit inside whole. Reference lines drawn across the axes (axhline, axvline) count by the
    coordinate that is data."""
    _draw(fig)
    problems = []
    for ax in fig.axes:
        box = ax.get_window_extent()
        for line in ax.get_lines():
            problems += _outside(ax, line, box, fig.dpi)
    return problems


def _outside(ax, line: Line2D, box, dpi: float) -> list[str]:
    xs, ys = line.get_xdata(), line.get_ydata()
    transform = line.get_transform()
    marker = line.get_marker() not in (None, "None", "", " ")
    margin = (line.get_markersize() / 2 * dpi / 72) if marker else 0.0
    check_x = transform != ax.get_yaxis_transform()  # axhline: x is in axes units
    check_y = transform != ax.get_xaxis_transform()  # axvline: y is in axes units
    out = []
    for x, y in zip(xs, ys, strict=True):
        if not (math.isfinite(float(x)) and math.isfinite(float(y))):
            continue
        px, py = transform.transform((float(x), float(y)))
        if check_x and not box.x0 + margin - 0.5 <= px <= box.x1 - margin + 0.5:
            out.append(f"{line.get_label()!r}: x={x} outside {ax.get_xlim()} ({ax.get_title()})")
        if check_y and not box.y0 + margin - 0.5 <= py <= box.y1 - margin + 0.5:
            out.append(f"{line.get_label()!r}: y={y} outside {ax.get_ylim()} ({ax.get_title()})")
    return out


def small_text(fig: Figure) -> list[str]:
    """Texts smaller than :data:`MIN_FONT`, and legend entries smaller than
    :data:`MIN_LEGEND_FONT`."""
    _draw(fig)
    out = []
    for text in fig.findobj(lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text")):
        if text.get_text().strip() and text.get_visible() and text.get_fontsize() < MIN_FONT:
            out.append(f"{text.get_text()!r} at {text.get_fontsize():.1f} pt")
    for ax in fig.axes:
        legend = ax.get_legend()
        for text in legend.get_texts() if legend else []:
            if text.get_fontsize() < MIN_LEGEND_FONT:
                out.append(f"legend {text.get_text()!r} at {text.get_fontsize():.1f} pt")
    return out


def bad_plurals(fig: Figure) -> list[str]:
    _draw(fig)
    texts = fig.findobj(lambda a: hasattr(a, "get_text"))
    return [t.get_text() for t in texts if BAD_PLURAL.search(str(t.get_text()))]


def reads_well(fig: Figure) -> None:
    """Assert all of the above, with what failed."""
    assert not outside_points(fig), outside_points(fig)[:5]
    assert not small_text(fig), small_text(fig)[:5]
    assert not bad_plurals(fig), bad_plurals(fig)
