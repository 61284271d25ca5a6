"""Section 2 of the page: wall time and memory as the number of jobs grows."""

from __future__ import annotations

from typing import Any

from .figures import fig_scaling
from .markdown import md_table
from .page import Blocks, caption, stale
from .templates import fill, sentences

COLUMNS = [
    "jobs",
    "events",
    "wall_s",
    "wall_min_s",
    "wall_max_s",
    "us_per_job",
    "jobs_per_s",
    "peak_rss_MiB",
    "bytes_per_job",
    "walked_bytes_per_job",
    "wal_MB",
]


def _t(fragment: str, **values: Any) -> str:
    return fill("scaling", fragment, **values)


def _growth(lin: dict[str, Any]) -> str:
    return _t(
        "growth",
        largest=lin["largest_jobs"],
        wall_ratio=lin["wall_per_job_ratio_vs_previous"],
        bytes_ratio=lin["bytes_per_job_ratio_vs_previous"],
        verdict="linear" if lin["linear"] else "NOT linear",
        tolerance=lin.get("tolerance", 1.25),
        bytes_per_job=lin["bytes_per_job_at_largest"],
    )


def _breakdown_table(bd: list[dict[str, Any]]) -> str:
    """Bytes per job of each part (rows) at each size (columns)."""
    sizes = sorted({r["jobs"] for r in bd})
    by_key = {(r["part"], r["jobs"]): r["bytes_per_job"] for r in bd}
    table = []
    for part in dict.fromkeys(r["part"] for r in bd):
        row: dict[str, Any] = {"part": part}
        for n in sizes:
            row[f"B/job at {n:,}"] = by_key.get((part, n))
        table.append(row)
    return md_table(table)


def _dominant(sc: dict[str, Any], bd: list[dict[str, Any]]) -> str:
    """The largest part at the largest size, and what a job's trace events are."""
    largest = max(r["jobs"] for r in bd)
    big = [r for r in bd if r["jobs"] == largest]
    total = sum(r["bytes_per_job"] for r in big) or 1
    top = max(big, key=lambda r: r["bytes_per_job"])
    dominant = _t(
        "dominant",
        part=top["part"],
        share_pct=100 * top["bytes_per_job"] / total,
        jobs=largest,
        bytes_per_job=top["bytes_per_job"],
    )
    rows = sc.get("rows")
    events = rows[-1]["events"] / rows[-1]["jobs"] if rows else None
    return sentences(dominant, _t("trace-events", events=events) if events else "")


def _memory(sc: dict[str, Any]) -> Blocks:
    bd = sc.get("breakdown") or []
    if not bd:
        return []
    return [_t("memory-title"), _breakdown_table(bd), _dominant(sc, bd)]


def _allocations(sc: dict[str, Any]) -> Blocks:
    tm = sc.get("tracemalloc") or {}
    if not tm.get("top_lines"):
        return []
    title = _t("allocation-title", jobs=tm["jobs"], bytes_per_job=tm["bytes_per_job"])
    return [title, md_table(tm["top_lines"], ["site", "bytes_per_job", "share", "code"])]


def section_scaling(doc: dict[str, Any], img: str) -> Blocks:
    sc = doc.get("scaling") or {}
    out = [_t("heading"), stale(doc, "scaling")]
    if not sc:
        return out
    out.append(_t("intro", model=sc.get("model", "reference"), repeat=sc.get("repeat")))
    out.append(md_table(sc.get("rows", []), COLUMNS))
    lin = sc.get("linear") or {}
    if lin:
        out.append(_growth(lin))
    out += _memory(sc)
    out += _allocations(sc)
    out.append(caption(doc, "scaling", fig_scaling(sc, img)))
    return out
