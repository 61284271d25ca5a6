"""``docs/performance.md`` as a whole: the page's head, the headline table, every section, the
run, and the hand-kept history (``docs/performance-history.md``) included as it is."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
from typing import Any

from ..common import RESULTS_PATH
from .apps import section_dashboard, section_server
from .headlines import Row, headlines
from .markdown import md_table
from .missed import section_missed
from .page import REPORT_CMD, ROOT, Blocks
from .profiles import section_time
from .queue import section_queue
from .recovery import section_recovery
from .scaling import section_scaling
from .simulation import section_simulation
from .templates import fill

DOC_PATH = os.path.join(ROOT, "docs", "performance.md")
HISTORY_NAME = "performance-history.md"  # kept by hand, next to the page: every fix, measured


def load(path: str = RESULTS_PATH) -> dict[str, Any]:
    """results.json as a dict; an absent or unreadable file is an empty one."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _head(doc: dict[str, Any]) -> Blocks:
    suite = doc.get("suite") or {}
    m = doc.get("machine") or {}
    facts = fill(
        "page",
        "facts",
        command=suite.get("command", "python -m benchmarks"),
        mode="quick" if suite.get("quick") else "full",
        seconds=suite.get("seconds_total", 0),
        started=suite.get("started_at", "?"),
        platform=m.get("platform", "?"),
        cpus=m.get("cpu_count", "?"),
        python=m.get("python", "?"),
        implementation=m.get("implementation", "?"),
        codec=m.get("wal_codec", "pure Python"),
        load_before=suite.get("load_average_before"),
        load_after=suite.get("load_average_after"),
        report_cmd=REPORT_CMD,
    )
    return [fill("page", "title"), fill("page", "intro"), facts]


def _headline_table(heads: list[Row]) -> Blocks:
    rows = [
        {
            "item": h["item"],
            "measure": h["measure"],
            "value": h["value_text"],
            "target": h["target_text"],
            "verdict": f"**{h['verdict']}**" if h["verdict"].startswith("NOT") else h["verdict"],
        }
        for h in heads
    ]
    return [fill("page", "headlines"), md_table(rows)]


def _run(doc: dict[str, Any]) -> Blocks:
    """Each module of the last suite run: its time, whether it passed, the load around it."""
    modules = (doc.get("suite") or {}).get("modules")
    if not modules:
        return []
    rows = [
        {
            "module": r["module"],
            "seconds": r["seconds"],
            "ok": r["ok"],
            "load before": " ".join(map(str, r.get("load_average_before") or [])),
            "load after": " ".join(map(str, r.get("load_average_after") or [])),
        }
        for r in modules
    ]
    return [fill("page", "run"), md_table(rows)]


def _history(out_path: str) -> Blocks:
    path = os.path.join(os.path.dirname(out_path), HISTORY_NAME)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [f.read()]


def render(doc: dict[str, Any], img: str, out_path: str) -> str:
    """The page's Markdown, drawing the figures into ``img`` on the way."""
    heads = headlines(doc)
    blocks = [
        *_head(doc),
        *_headline_table(heads),
        *section_simulation(doc, img),
        *section_scaling(doc, img),
        *section_recovery(doc, img),
        *section_queue(doc, img),
        *section_server(doc, img),
        *section_dashboard(doc, img),
        *section_time(doc),
        *section_missed(doc, heads),
        *_run(doc),
        *_history(out_path),
        fill("page", "footer", report_cmd=REPORT_CMD, date=_now()),
    ]
    return "\n\n".join(b.strip("\n") for b in blocks if b.strip()) + "\n"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def generate(results: str = RESULTS_PATH, out_path: str = DOC_PATH) -> str:
    """Write the page (and its figures, into ``img/`` beside it) from ``results``."""
    img = os.path.join(os.path.dirname(out_path), "img")
    text = render(load(results), img, out_path)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)
    return out_path


def main(argv: list[str] | None = None) -> int:
    from . import __doc__ as usage

    parser = argparse.ArgumentParser(prog=REPORT_CMD, description=usage)
    parser.add_argument("--results", default=RESULTS_PATH, help="results.json to read")
    parser.add_argument("--out", default=DOC_PATH, help="markdown file to write")
    args = parser.parse_args(argv)
    path = generate(args.results, args.out)
    print(f"wrote {path}")
    return 0
