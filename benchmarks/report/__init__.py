"""Write ``docs/performance.md`` and its plots from ``benchmarks/results.json``.

Run::

    python -m benchmarks.report                  # redraw from the stored results, run nothing
    python -m benchmarks.report --results FILE --out docs/performance.md

``python -m benchmarks`` calls :func:`generate` after running the suite. Every figure is a PNG
under ``docs/img/`` (matplotlib, Agg backend), captioned with the command that produced its
data and the one that drew it. :func:`headlines` turns the sections into the table of headline
ratios against their targets; the suite prints the same table. The page's prose lives in
``benchmarks/report/templates/*.md``, filled from the computed values.
"""

from __future__ import annotations

from .document import DOC_PATH, generate, load, main
from .headlines import headlines
from .page import REPORT_CMD

__all__ = ["DOC_PATH", "REPORT_CMD", "generate", "headlines", "load", "main"]
