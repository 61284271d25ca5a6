"""The WAL strip: the log's latest records as coloured cells with the three cursors under them,
and one record's fields and bytes. Plain HTML, one string per redraw (a widget per record
would send one message per cell at every step)."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simqueue.sim.walview import Cursors, StripRecord, WalView

__all__ = ["TYPE_COLOURS", "legend_html", "record_html", "strip_html"]

#: A colour per record type (the WAL format's type names).
TYPE_COLOURS = {
    "ENQUEUE": "#1f77b4",
    "DISPATCH": "#ff7f0e",
    "ACK": "#2ca02c",
    "RETRY": "#9467bd",
    "DEAD": "#d62728",
}
_OTHER = "#7f7f7f"
_CELL = "display:inline-block;width:17px;height:26px;margin:0 1px;box-sizing:border-box;"
_MARK_SIGNS = {"lost": "\u00d7", "torn": "/", "garbled": "#", "snapshot": "S", "replayed": "\u21bb"}
#: What each state looks like, for the legend and the cells.
_STATE_HELP = {
    "appended": "in the writer's buffer (dashed)",
    "written": "handed to the OS (pale)",
    "durable": "fsynced (solid)",
    "lost": "\u00d7 gone with the crash",
    "torn": "/ cut part-way",
    "garbled": "# bytes changed",
    "snapshot": "S covered by the snapshot",
    "replayed": "\u21bb applied by replay",
}


def _cell_style(colour: str, state: str, kept_fraction: float) -> str:
    if state == "appended":
        return f"background:#fff;border:2px dashed {colour};"
    if state == "written":
        return f"background:{colour}66;border:2px solid {colour};"
    if state == "lost":
        return "background:#ddd;border:2px solid #999;color:#b00;"
    if state == "torn":
        pct = max(0, min(100, round(kept_fraction * 100)))
        return (
            f"background:linear-gradient(90deg,{colour} {pct}%,#ddd {pct}%);border:2px solid #b00;"
        )
    if state == "garbled":
        stripes = f"repeating-linear-gradient(45deg,{colour},{colour} 3px,#b00 3px,#b00 6px)"
        return f"background:{stripes};border:2px solid #b00;"
    if state == "snapshot":
        return f"background:{colour}40;border:2px solid {colour}80;"
    return f"background:{colour};border:2px solid {colour};"


def _cursor_labels(rec: StripRecord, c: Cursors, current_life: int) -> str:
    if rec.life != current_life or rec.mark in ("lost", "torn", "garbled"):
        return ""
    names = [
        n for n, seq in (("A", c.appended), ("W", c.written), ("D", c.durable)) if seq == rec.seq
    ]
    return "".join(names)


def strip_html(view: WalView, records: list[StripRecord], selected: int | None) -> str:
    """One cell per record (oldest left), the cursors A (appended), W (written to the OS) and
    D (durable) under the record each stands at; ``selected`` (an index into ``records``) is
    outlined."""
    c = view.cursors()
    cells, marks = [], []
    for i, rec in enumerate(records):
        state = view.state_of(rec)
        colour = TYPE_COLOURS.get(rec.type_name, _OTHER)
        kept = rec.kept / rec.size if rec.kept >= 0 and rec.size else 1.0
        outline = "outline:3px solid #000;outline-offset:1px;" if i == selected else ""
        title = html.escape(f"seq {rec.seq} {rec.type_name} {rec.job_id} ({state})")
        sign = _MARK_SIGNS.get(rec.mark, "")
        cells.append(
            f"<span class='sq-wal-cell sq-{state}' title='{title}' "
            f"style='{_CELL}{_cell_style(colour, state, kept)}{outline}"
            f"font:bold 12px monospace;text-align:center;line-height:22px'>{sign}</span>"
        )
        label = _cursor_labels(rec, c, view.life)
        marks.append(
            f"<span style='{_CELL}height:16px;font:bold 11px monospace;text-align:center;"
            f"color:#333'>{label}</span>"
        )
    if view.sim.crashed:
        cells.append(
            f"<span class='sq-crash-mark' style='{_CELL}width:6px;background:#b00' "
            "title='the crash'></span>"
        )
    if not records:
        cells.append("<i>the log is empty</i>")
    first = records[0].seq if records else 0
    caption = (
        f"<div style='font-size:13px'>WAL seq {first}..{records[-1].seq if records else 0}: "
        f"appended <b>{c.appended}</b>, written to the OS <b>{c.written}</b>, "
        f"durable <b>{c.durable}</b></div>"
    )
    caption += _life_line(view, records)
    return (
        f"<div class='sq-wal-strip'>{caption}<div style='white-space:nowrap'>{''.join(cells)}</div>"
        f"<div style='white-space:nowrap'>{''.join(marks)}</div></div>"
    )


def _life_line(view: WalView, records: list[StripRecord]) -> str:
    """What the last crash took (while down) or what the last recovery did (after it)."""
    crash = view.last_crash
    if view.sim.crashed and crash is not None:
        taken = sum(
            r.mark in ("lost", "torn", "garbled") for r in view.records if r.life == view.life
        )
        tear = f", tear {crash['tear']}" if crash["kind"] == "power" else ""
        return (
            f"<div class='sq-crash-line' style='font-size:13px;color:#b00'><b>{crash['kind']} "
            f"crash{tear}</b> at t = {crash['time']:.3f} s: {taken} record(s) lost, torn or "
            "garbled; the cursors stand where they were</div>"
        )
    report = view.last_recovery
    if report is None:
        return ""
    old = [r for r in view.records if r.life < view.life]
    replayed = sum(r.mark == "replayed" for r in old)
    covered = sum(r.mark == "snapshot" for r in old)
    return (
        f"<div class='sq-recovery-line' style='font-size:13px;color:#2a7'>recovered: "
        f"{covered} record(s) covered by the snapshot, {replayed} replayed; the new life's "
        f"records start at seq {report.next_seq}</div>"
    )


def legend_html() -> str:
    """The colours of the types and the looks of the states."""
    types = "".join(
        f"<span style='{_CELL}height:12px;width:12px;background:{col}'></span>{name.lower()} "
        for name, col in TYPE_COLOURS.items()
    )
    states = "; ".join(f"<b>{k}</b> {v}" for k, v in _STATE_HELP.items())
    return f"<div style='font-size:12px'>{types}<br>{states}</div>"


def _hex_bytes(raw: bytes, kept: int, limit: int = 96) -> str:
    """The record's bytes in hex, 16 a line: the CRC and size fields shaded, lost bytes struck
    through."""
    lines, line = [], []
    for i, b in enumerate(raw[:limit]):
        style = "background:#fde2b4;" if i < 4 else "background:#d7ecff;" if i < 8 else ""
        if 0 <= kept <= i:
            style += "text-decoration:line-through;color:#b00;"
        line.append(f"<span style='{style}'>{b:02x}</span>" if style else f"{b:02x}")
        if i % 16 == 15:
            lines.append(" ".join(line))
            line = []
    if line:
        lines.append(" ".join(line))
    more = f"\n\u2026 (+{len(raw) - limit} bytes)" if len(raw) > limit else ""
    return (
        "<pre style='font-size:12px;line-height:1.35;margin:2px 0'>"
        + "\n".join(lines)
        + more
        + "</pre>"
    )


def record_html(view: WalView, rec: StripRecord | None) -> str:
    """The selected record: decoded fields, header (CRC stored and computed), bytes."""
    if rec is None:
        return "<i>no record selected</i>"
    fields = " &middot; ".join(
        f"{html.escape(k)} <b>{html.escape(_fmt(v))}</b>" for k, v in rec.fields().items()
    )
    h = rec.header()
    crc = "ok" if h["crc_ok"] else "MISMATCH"
    state = view.state_of(rec)
    lost = ""
    if rec.kept >= 0 and rec.mark in ("lost", "torn", "garbled"):
        lost = (
            f"<br><b style='color:#b00'>{rec.mark}: {rec.kept} of {rec.size} bytes left "
            "in the file</b>"
        )
    return (
        f"<div class='sq-wal-record' style='font-size:13px;line-height:1.5;max-width:34em'>"
        f"<b>seq {rec.seq} {rec.type_name}</b> ({state})<br>{fields}<br>"
        f"header: crc <code>{h['crc']:08x}</code> (computed <code>{h['crc_computed']:08x}</code>, "
        f"{crc}), size <code>{h['size']}</code>{lost}{_hex_bytes(rec.raw, rec.kept)}</div>"
    )


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return "none" if math.isnan(v) else f"{v:.6g}"
    return str(v)
