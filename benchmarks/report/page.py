"""What every section of the page shares: where its data came from, its figure's caption, the
note on a missing or mismatched section, and the profile tables.

A section is a list of Markdown blocks (headings, paragraphs, tables); the document joins them
with a blank line between.
"""

from __future__ import annotations

import os
from typing import Any

from .layers import layer_of
from .markdown import md_table
from .templates import fill

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT_CMD = "python -m benchmarks.report"
SECTION_MODULE = {
    "core": "bench_core",
    "simulation": "bench_simulation",
    "scaling": "bench_scaling",
    "queue": "bench_queue",
    "server": "bench_server",
    "dashboard": "bench_dashboard",
}

Blocks = list[str]


def produced_by(doc: dict[str, Any], section: str) -> str:
    """The command that produced a section: the suite's, if the section was written during the
    last suite run, else the module's own command."""
    sec = doc.get(section) or {}
    suite = doc.get("suite") or {}
    date = (sec.get("machine") or {}).get("date")
    mod = SECTION_MODULE.get(section, section)
    quick = " --quick" if sec.get("quick") else ""
    if date and suite.get("started_at") and suite["started_at"] <= date <= suite["finished_at"]:
        return str(suite["command"])
    return f"python -m benchmarks.{mod}{quick}"


def caption(doc: dict[str, Any], section: str, path: str | None) -> str:
    """The figure of a section with the commands that produced its data and drew it."""
    if not path:
        return fill("page", "no-figure", section=section)
    m = (doc.get(section) or {}).get("machine") or {}
    return fill(
        "page",
        "figure",
        section=section,
        name=os.path.basename(path),
        command=produced_by(doc, section),
        date=m.get("date", "?"),
        load=m.get("load_average", "?"),
        report_cmd=REPORT_CMD,
    )


def stale(doc: dict[str, Any], section: str) -> str:
    """A note when a section has no data, or comes from a quick run unlike the suite (or the
    other way round); empty otherwise."""
    sec = doc.get(section) or {}
    suite = doc.get("suite") or {}
    if not sec:
        return fill("page", "no-data")
    if suite and bool(sec.get("quick")) != bool(suite.get("quick")):
        return fill("page", "other-mode", mode="quick" if sec.get("quick") else "full")
    return ""


def profile_table(p: dict[str, Any] | None, top: int = 12) -> str:
    """The ``top`` functions of a profile by own time."""
    if not p:
        return "_(no profile)_"
    rows = [
        {
            "function": r["function"],
            "calls": r["ncalls"],
            "own s": r["tottime_s"],
            "cum s": r["cumtime_s"],
            "own %": 100 * r["share"],
        }
        for r in p["rows"][:top]
    ]
    return md_table(rows)


def by_file_table(p: dict[str, Any] | None, top: int = 8) -> str:
    """A profile's own time by file, each labelled with the part of simqueue it belongs to."""
    if not p or not p.get("by_file"):
        return ""
    rows = [
        {
            "file": r["file"],
            "layer": layer_of(r["file"]),
            "own s": r["tottime_s"],
            "own %": 100 * r["share"],
        }
        for r in p["by_file"][:top]
    ]
    return md_table(rows)
