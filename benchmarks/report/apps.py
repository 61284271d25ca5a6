"""Sections 5 and 6 of the page, what a user runs: the server end to end, and the dashboard's
latency from a slider change to the finished redraw."""

from __future__ import annotations

from typing import Any

from .figures import fig_dashboard, fig_server
from .markdown import md_table, spread, verdict
from .page import Blocks, caption, stale
from .templates import fill

DASHBOARD_COLUMNS = ["change", "wall_s", "simulate_s", "draw_s", "total_s", "completed", "met"]


def _t(fragment: str, **values: Any) -> str:
    return fill("apps", fragment, **values)


def section_server(doc: dict[str, Any], img: str) -> Blocks:
    srv = doc.get("server") or {}
    out = [_t("server-heading"), stale(doc, "server")]
    if not srv:
        return out
    rows = [dict(system="simqueue run", **r) for r in srv.get("simqueue_runs", [])]
    rows += [dict(system="SQLiteAckQueue", **r) for r in srv.get("persist_queue_runs", [])]
    median = _t(
        "server-median",
        simqueue_jobs_per_s=srv["simqueue_jobs_per_s"],
        persist_queue_jobs_per_s=srv["persist_queue_jobs_per_s"],
        ratio=srv["ratio"],
        verdict=verdict(bool(srv.get("target_met"))),
    )
    out += [_t("server-intro"), md_table(rows), median]
    out.append(caption(doc, "server", fig_server(srv, img)))
    return out


def section_dashboard(doc: dict[str, Any], img: str) -> Blocks:
    dash = doc.get("dashboard") or {}
    out = [_t("dashboard-heading"), stale(doc, "dashboard")]
    if not dash:
        return out
    intro = _t(
        "dashboard-intro",
        duration=dash.get("duration", 60),
        first_run_s=dash["first_run"]["wall_s"],
    )
    st = dash["stats"]
    changes = _t(
        "dashboard-changes",
        wall=spread(st["wall_s"], " s", 3),
        simulate=spread(st["simulate_s"], " s", 3),
        draw=spread(st["draw_s"], " s", 3),
        within=dash["within_target"],
        changes=len(dash["changes"]),
        target_s=dash["target_s"],
        verdict=verdict(dash["target_met"]),
    )
    out += [intro, md_table(dash.get("changes", []), DASHBOARD_COLUMNS), changes]
    out.append(caption(doc, "dashboard", fig_dashboard(dash, img)))
    return out
