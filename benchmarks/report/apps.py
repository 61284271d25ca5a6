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


SERVER_COLUMNS = [
    "clients",
    "system",
    "jobs_per_s",
    "ack_p50_ms",
    "ack_p99_ms",
    "jobs_per_fsync",
    "server_cpu_us_per_job",
    "client_cpu_us_per_job",
]
TARGET_LABELS = {
    "always_over_huey_16": '"always" / huey jobs/s, 16 clients',
    "batch_over_huey_16": '"batch" / huey jobs/s, 16 clients',
    "always_p50_1_in_bare": '"always" ack p50, 1 client / bare fdatasync p50',
    "always_p99_16_in_bare": '"always" ack p99, 16 clients / bare fdatasync p50',
    "batch_p99_16_in_bare": '"batch" ack p99, 16 clients / bare fdatasync p50',
}


def section_server(doc: dict[str, Any], img: str) -> Blocks:
    srv = doc.get("server") or {}
    out = [_t("server-heading"), stale(doc, "server")]
    if not srv.get("cells"):
        return out
    bare = srv["bare_sync_p50_ms"]
    bare_rows = [
        {"clients": c, **{f"repeat {i + 1}": v for i, v in enumerate(vals)}}
        for c, vals in bare.items()
    ]
    out += [
        _t(
            "server-intro",
            jobs=srv["jobs_per_cell"],
            repeats=srv["repeats"],
            workers=srv["workers"],
            file_system=srv["file_system"],
        ),
        md_table(srv["cells"], SERVER_COLUMNS),
        _t("server-bare"),
        md_table(bare_rows),
        _t("server-targets"),
        md_table(_target_rows(srv["targets"])),
    ]
    floor = srv.get("floor")
    if floor:
        out.append(
            _t(
                "server-floor",
                p50_1=floor["p50_1_in_bare"],
                p99_16=floor["p99_16_in_bare"],
                over_huey=floor["over_huey_16"],
            )
        )
    out.append(_t("server-guarantees"))
    bulk = srv.get("bulk")
    if bulk:
        out.append(_t("server-bulk", **bulk))
    http_get = srv.get("http_get")
    if http_get:
        out.append(_t("server-http-get", **http_get))
    placement = srv.get("placement")
    if placement:
        one, anywhere = placement["one CPU"], placement["any CPU"]
        out.append(
            _t(
                "server-placement",
                one_jobs=one["jobs_per_s"],
                one_cpu=one["server_cpu_us_per_job"],
                any_jobs=anywhere["jobs_per_s"],
                any_cpu=anywhere["server_cpu_us_per_job"],
            )
        )
    out.append(caption(doc, "server", fig_server(srv, img)))
    return out


def _target_rows(targets: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "measure": TARGET_LABELS.get(k, k),
            "value": v["value"],
            "target": f"{v['op']} {v['target']:g}",
            "verdict": verdict(bool(v["met"])),
        }
        for k, v in targets.items()
    ]


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
