"""The report's prose: Markdown fragments in ``templates/*.md``, filled from computed values.

A template file holds named fragments, each introduced by a line ``<!-- name -->``; text before
the first marker is a note for whoever edits the file and is never printed. A fragment is
Markdown with :meth:`str.format` fields (``{ratio:.2f}``; a literal brace is doubled). Its
lines are wrapped in the file for reading; :func:`fill` joins the lines of each paragraph with
spaces (a line starting with ``- `` starts a list item), so every paragraph of the page is one
line, which Markdown renders the same way.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).with_name("templates")
_MARKER = re.compile(r"^<!-- ([a-z0-9_.-]+) -->[ \t]*$", re.MULTILINE)


@functools.cache
def fragments(name: str) -> dict[str, str]:
    """Every fragment of ``templates/<name>.md``, unwrapped, by fragment name."""
    text = (TEMPLATE_DIR / f"{name}.md").read_text(encoding="utf-8")
    parts = _MARKER.split(text)
    keys, bodies = parts[1::2], parts[2::2]
    if len(set(keys)) != len(keys):
        raise ValueError(f"templates/{name}.md names a fragment twice")
    return {k: _unwrap(b.strip()) for k, b in zip(keys, bodies, strict=True)}


def _unwrap(text: str) -> str:
    """Join each paragraph's wrapped lines; paragraphs stay apart (a blank line between)."""
    return "\n\n".join(_unwrap_paragraph(p) for p in re.split(r"\n\s*\n", text) if p.strip())


def _unwrap_paragraph(paragraph: str) -> str:
    lines: list[str] = []
    for raw in paragraph.splitlines():
        line = raw.strip()
        if lines and not line.startswith("- "):
            lines[-1] += " " + line
        else:
            lines.append(line)
    return "\n".join(lines)


def fill(template: str, fragment: str, /, **values: Any) -> str:
    """Fragment ``fragment`` of ``templates/<template>.md`` with ``values`` filled in."""
    return fragments(template)[fragment].format_map(values)


def sentences(*parts: str) -> str:
    """The non-empty ``parts`` as one paragraph."""
    return " ".join(p for p in parts if p)
