"""Section 4 of the page: durable library throughput against SQLite-based queues (no HTTP)."""

from __future__ import annotations

from typing import Any

from .figures import fig_queue
from .markdown import md_table, verdict
from .page import Blocks, caption, stale
from .templates import fill

COLUMNS = [
    "system",
    "pairing",
    "jobs",
    "fsyncs",
    "per_s",
    "per_s_min",
    "per_s_max",
    "us_each",
    "fsyncs_per_job",
]


def _t(fragment: str, **values: Any) -> str:
    return fill("queue", fragment, **values)


def _ratios_table(head: dict[str, Any]) -> str:
    rows = [
        {
            "ratio": k,
            "what": v["what"],
            "value": v["value"],
            "target": f">= {v['target']:g}",
            "verdict": verdict(v["met"]),
        }
        for k, v in head.get("ratios", {}).items()
    ]
    return md_table(rows)


def _headline(head: dict[str, Any], group_jobs: int) -> Blocks:
    """The disk's limit, what group commit makes of it, and the target ratios."""
    if not head:
        return []
    disk = _t(
        "disk",
        group_jobs=group_jobs,
        bare_fsyncs_per_s=head["bare_fsyncs_per_s"],
        bare_overwrite_per_s=head.get("bare_overwrite_fdatasync_per_s", float("nan")),
        always_fsyncs_per_job=head["always_fsyncs_per_job"],
        always_ceiling_jobs_per_s=head["always_ceiling_jobs_per_s"],
        batch_jobs_per_bare_fsync=head.get("batch_jobs_per_bare_fsync", float("nan")),
    )
    return [disk, _ratios_table(head)]


def section_queue(doc: dict[str, Any], img: str) -> Blocks:
    q = doc.get("queue") or {}
    out = [_t("heading"), stale(doc, "queue")]
    if not q:
        return out
    group_jobs = q.get("group_jobs", 100)
    out.append(_t("intro", repeat=q.get("repeat"), group_jobs=group_jobs))
    out.append(md_table(q.get("rows", []), COLUMNS))
    out += _headline(q.get("headline") or {}, group_jobs)
    out.append(caption(doc, "queue", fig_queue(q, img)))
    return out
