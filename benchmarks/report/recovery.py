"""Section 3 of the page: recovery time against records replayed and snapshot size."""

from __future__ import annotations

from typing import Any

from .figures import fig_recovery
from .headlines import recovery_million, snapshot_interval_budget
from .markdown import md_table, verdict
from .page import Blocks, caption, stale
from .templates import fill, sentences

COLUMNS = [
    "records",
    "segments",
    "wal_MB",
    "open_s",
    "open_min_s",
    "open_max_s",
    "us_per_record",
    "read_s",
    "decode_s",
    "apply_etc_s",
]


def _t(fragment: str, **values: Any) -> str:
    return fill("recovery", fragment, **values)


def _million(core: dict[str, Any]) -> Blocks:
    """Recovery of a million records against the 1 s target and the page-cache read floor."""
    t, how, big = recovery_million(core)
    if t is None or big is None:
        return []
    million = _t("million", seconds=t, how=f" ({how})" if how else "", verdict=verdict(t < 1))
    floor = big.get("read_s")
    read_floor = ""
    if floor:
        over = big["open_s"] / floor
        read_floor = _t("read-floor", floor=floor, records=big["records"], over_floor=over)
    return [sentences(million, read_floor)]


def section_recovery(doc: dict[str, Any], img: str) -> Blocks:
    core = doc.get("core") or {}
    out = [_t("heading"), stale(doc, "core")]
    if not core:
        return out
    out += [_t("intro"), md_table(core.get("recovery", []), COLUMNS)]
    out += _million(core)
    budget = snapshot_interval_budget(core)
    if budget:
        out.append(_t("budget", **budget))
    snaps = core.get("recovery_snapshot") or []
    if snaps:
        out += [_t("snapshot-title"), md_table(snaps)]
    fs = core.get("fsync") or []
    if fs:
        out += [_t("fsync-title"), md_table(fs)]
    out.append(caption(doc, "core", fig_recovery(core, img)))
    return out + _windows(doc)


def _windows(doc: dict[str, Any]) -> Blocks:
    """Recovery against history with a retention window, and a snapshot's stall on enqueues."""
    out: Blocks = []
    retention = doc.get("retention") or {}
    if retention.get("rows"):
        out += [_t("retention-title", records=retention["records"]), md_table(retention["rows"])]
    hold = doc.get("snapshot_hold") or {}
    if hold.get("rows"):
        out += [_t("hold-title", jobs=hold["jobs"]), md_table(hold["rows"])]
    return out
