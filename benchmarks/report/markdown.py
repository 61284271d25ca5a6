"""Numbers and tables as the report prints them: :func:`fmt`, :func:`md_table`, :func:`spread`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fmt(v: Any, digits: int = 3) -> str:
    """A table cell: thousands separators for large numbers, ``digits`` significant for small."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return _fmt_float(v, digits)
    return str(v)


def _fmt_float(v: float, digits: int) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    if a == 0:
        return "0"
    return f"{v:.{digits}g}"


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of every row, in first-seen order."""
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    return columns


def _is_numeric(rows: Sequence[dict[str, Any]], column: str) -> bool:
    """A column of numbers (None cells aside) is right-aligned."""
    values = [r.get(column) for r in rows if r.get(column) is not None]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def md_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of ``rows`` (dicts), numbers right-aligned; no trailing newline."""
    if not rows:
        return "_(no data)_"
    cols = list(columns) if columns is not None else _columns(rows)
    head = "| " + " | ".join(cols) + " |"
    align = "|" + "|".join("---:" if _is_numeric(rows, c) else "---" for c in cols) + "|"
    body = ["| " + " | ".join(fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join([head, align, *body])


def spread(d: dict[str, float] | None, unit: str = "", digits: int = 2) -> str:
    """A ``{median, min, max}`` dict as ``1.07x (min 0.98, max 1.19)`` (``unit`` after the
    median)."""
    if not d:
        return "-"
    med, lo, hi = d["median"], d["min"], d["max"]
    return f"{med:.{digits}f}{unit} (min {lo:.{digits}f}, max {hi:.{digits}f})"


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"
