"""The page's "Targets not met": for each headline that missed, the cause the profiles show and
the change that would meet the target (prose in ``templates/missed.md``)."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

from .headlines import Row, recovery_million
from .page import ROOT, Blocks
from .profiles import layer_shares, recovery_profile
from .queue_missed import why_queue
from .templates import fill, sentences


def _t(fragment: str, **values: Any) -> str:
    return fill("missed", fragment, **values)


def _why_simulation_ratio(doc: dict[str, Any], h: Row) -> str:
    sim = doc.get("simulation") or {}
    profiles = sim.get("profiles") or {}
    ratio, target = h["value"], sim.get("target_ratio", 1.5)
    sq = statistics.median(r["simqueue"]["jobs_per_wall_second"] for r in sim["runs"])
    sp = statistics.median(r["simpy"]["jobs_per_wall_second"] for r in sim["runs"])
    ratio_text = _t(
        "sim-ratio",
        simqueue=sq,
        simqueue_us=1e6 / sq,
        simpy=sp,
        simpy_us=1e6 / sp,
        target=target,
        target_us=1e6 / (target * sp),
        need=target / ratio if ratio else float("nan"),
        **layer_shares(profiles.get("simqueue")),
    )
    simpy = _t("sim-ratio-simpy") if profiles.get("simpy") else ""
    return sentences(ratio_text, simpy, _t("sim-ratio-tried", target=target))


def _why_simulation_memory(doc: dict[str, Any], h: Row) -> str:
    memory = (doc.get("simulation") or {}).get("memory") or {}
    by = {m["variant"]: m["bytes_per_job"] for m in memory.get("rows", [])}
    return _t(
        "sim-memory",
        default=by.get("default", by.get("packed", float("nan"))),
        keep_all=by.get("keep-all", float("nan")),
        tuples=by.get("tuples", float("nan")),
        window=by.get("window", float("nan")),
        target=memory.get("target_bytes_per_job", 300),
    )


def _why_scaling(doc: dict[str, Any], h: Row) -> str:
    rows = (doc.get("scaling") or {}).get("rows") or [{}]
    return _t("scaling", peak_rss_mib=rows[-1].get("peak_rss_MiB", 0))


def pstats_top(text: str | None, top: int = 3) -> list[tuple[str, float, float]]:
    """(function, own seconds, share) of the first ``top`` rows of a pstats listing."""
    if not text:
        return []
    total = None
    out = []
    for line in text.splitlines():
        parts = line.split()
        if "function calls" in line and "in" in parts:
            try:
                total = float(parts[parts.index("seconds") - 1])
            except (ValueError, IndexError):
                total = None
            continue
        if len(parts) >= 6 and parts[0].replace("/", "").isdigit():
            try:
                own = float(parts[1])
            except ValueError:
                continue
            name = " ".join(parts[5:]).strip("{}").replace(ROOT + os.sep, "")
            out.append((name, own, own / total if total else 0.0))
            if len(out) >= top:
                break
    return out


def _why_recovery(doc: dict[str, Any], h: Row) -> str:
    t, how, big = recovery_million(doc.get("core") or {})
    dec = (big or {}).get("decode_s")
    parts = [_t("recovery", seconds=t, how=f" ({how})" if how else "")]
    if dec and big:
        pct = dec / big["open_s"] * 100
        parts.append(_t("recovery-decode", decode_s=dec, records=big["records"], decode_pct=pct))
    top = pstats_top(recovery_profile(doc))
    if top:
        listed = "; ".join(f"`{f}` {s:.3f} s ({100 * sh:.0f} %)" for f, s, sh in top)
        parts.append(_t("recovery-top", listed=listed))
    if dec and big:
        dec_us = dec / big["records"] * 1e6
        bound = "recovery-decode-bound" if dec_us >= 1.0 else "recovery-apply-bound"
        parts.append(_t(bound, decode_us=dec_us))
    return sentences(*parts)


def _why_dashboard(doc: dict[str, Any], h: Row) -> str:
    dash = doc.get("dashboard") or {}
    st = dash.get("stats", {})
    p = dash.get("profile") or {}
    worst = max(dash.get("changes", []), key=lambda r: r["wall_s"], default=None)
    text = _t(
        "dashboard",
        simulate_s=st.get("simulate_s", {}).get("median", 0),
        draw_s=st.get("draw_s", {}).get("median", 0),
    )
    top = ", ".join(r["function"].split(" (")[0] for r in p.get("rows", [])[:4])
    return sentences(
        text,
        _t("dashboard-top", top=top) if top else "",
        _t("dashboard-worst", change=worst["change"], wall_s=worst["wall_s"]) if worst else "",
        _t("dashboard-fix"),
    )


Why = Callable[[dict[str, Any], Row], str]


def _why_server(doc: dict[str, Any], h: Row) -> str:
    """What bounds the server at 16 clients: its CPU and the clients' per job against the
    disk's bare fsync, from the cells of the ``server`` section."""
    srv = doc.get("server") or {}
    cells = {(c["system"], c["clients"]): c for c in srv.get("cells") or []}
    mine, huey = cells.get(("simqueue always", 16)), cells.get(("huey", 16))
    bare = [v for vals in (srv.get("bare_sync_p50_ms") or {}).values() for v in vals]
    if mine is None or huey is None or not bare or mine.get("server_cpu_us_per_job") is None:
        return _t("other")
    if not h["measure"].startswith('"always" / huey'):
        return _t("server-same")
    cpus = (srv.get("machine") or {}).get("cpu_count", "?")
    cpu = _t(
        "server-cpu",
        server_cpu=mine["server_cpu_us_per_job"],
        client_cpu=mine["client_cpu_us_per_job"],
        cpus=cpus,
        bare=statistics.median(bare),
        bare_max=max(bare),
        jobs_per_fsync=mine["jobs_per_fsync"] or 0.0,
        huey_p50=huey["ack_p50_ms"],
    )
    return sentences(cpu, _t("server-fix"))


def _explainer(h: Row) -> Why:
    """Which explanation fits headline ``h`` (by its item number and measure)."""
    item, measure = h["item"], h["measure"]
    if item.startswith("1") and "SimPy" in measure and "reference" in measure:
        return _why_simulation_ratio
    if item.startswith("1") and "bytes per job" in measure:
        return _why_simulation_memory
    if item.startswith("1") and "60 simulated" in measure:
        return lambda doc, h: _t("sim-sixty")
    if item.startswith("2"):
        return _why_scaling
    if item.startswith("3") and "1,000,000" in measure:
        return _why_recovery
    if item.startswith("4"):
        return lambda doc, h: why_queue(doc, h["measure"])
    if item.startswith("5"):
        return _why_server
    if item.startswith("6"):
        return _why_dashboard
    return lambda doc, h: _t("other")


def section_missed(doc: dict[str, Any], heads: list[Row]) -> Blocks:
    missed = [h for h in heads if h["verdict"].startswith("NOT MET")]
    if not missed:
        return [_t("heading"), _t("all-met")]
    out = [_t("heading"), _t("intro")]
    for h in missed:
        out.append(
            _t(
                "item-heading",
                item=h["item"],
                measure=h["measure"],
                value=h["value_text"],
                target=h["target_text"],
            )
        )
        if "borderline" in h["verdict"]:
            out.append(_t("borderline"))
        out.append(_explainer(h)(doc, h))
    return out
