"""The page's "Where the time goes": the recorded cProfile listings, and simqueue's own time
attributed to its parts (:mod:`benchmarks.report.layers`)."""

from __future__ import annotations

import json
from typing import Any

from .layers import CORE, SIM, WAL, layer_share, names_flat_modules
from .page import Blocks, by_file_table, profile_table
from .templates import fill


def _t(fragment: str, **values: Any) -> str:
    return fill("profiles", fragment, **values)


def layer_shares(profile: dict[str, Any] | None) -> dict[str, float]:
    """Percent of a simqueue profile's own time in the WAL, the rest of the durable core and
    the simulation layer."""
    return {
        "wal_pct": 100 * layer_share(profile, WAL),
        "core_pct": 100 * layer_share(profile, CORE),
        "sim_pct": 100 * layer_share(profile, SIM),
    }


def _simulation(doc: dict[str, Any]) -> Blocks:
    prof = (doc.get("simulation") or {}).get("profiles") or {}
    if not prof:
        return []
    sq = prof.get("simqueue")
    return [
        _t("simulation-heading", duration=prof["simqueue"].get("duration", 0)),
        _t("simulation-simqueue"),
        profile_table(sq),
        _t("simulation-by-file"),
        by_file_table(sq),
        _t("simulation-simpy"),
        profile_table(prof.get("simpy")),
        _t("simulation-layers", **layer_shares(sq)),
    ]


def _queue(doc: dict[str, Any]) -> Blocks:
    qp = (doc.get("queue") or {}).get("profiles") or {}
    if not qp:
        return []
    out = [_t("queue-heading")]
    for policy, p in qp.items():
        out.append(
            _t("queue-policy", policy=policy, jobs=p["jobs"], fsync_pct=100 * p["fsync_share"])
        )
        out.append(profile_table(p, top=8))
    return out


def _dashboard(doc: dict[str, Any]) -> Blocks:
    p = (doc.get("dashboard") or {}).get("profile")
    if not p:
        return []
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in p.get("shares", {}).items())
    return [_t("dashboard-heading"), _t("dashboard-shares", shares=shares), profile_table(p)]


def recovery_profile(doc: dict[str, Any]) -> str | None:
    """The pstats listing of one recovery, which the suite lifts from bench_core's output."""
    for m in (doc.get("suite") or {}).get("modules", []):
        if m.get("module") == "bench_core":
            text = m.get("recovery_profile")
            return str(text) if text else None
    return None


def _recovery(doc: dict[str, Any]) -> Blocks:
    text = recovery_profile(doc)
    if not text:
        return []
    return [_t("recovery-heading"), "```\n" + text + "\n```"]


def _recorded_profiles(doc: dict[str, Any]) -> str:
    """Every recorded profile of the page, as one text to search."""
    return json.dumps(
        [
            (doc.get("simulation") or {}).get("profiles"),
            (doc.get("queue") or {}).get("profiles"),
            (doc.get("dashboard") or {}).get("profile"),
            recovery_profile(doc),
        ]
    )


def section_time(doc: dict[str, Any]) -> Blocks:
    flat = _t("flat-layout") if names_flat_modules(_recorded_profiles(doc)) else ""
    return [
        _t("heading"),
        flat,
        *_simulation(doc),
        *_queue(doc),
        *_dashboard(doc),
        *_recovery(doc),
    ]
