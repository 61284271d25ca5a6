"""cProfile and memory helpers shared by the benchmarks written for the performance report.

* :func:`profile_call` runs a function under :mod:`cProfile` and returns the top functions by own
  time as plain rows (for ``results.json`` and ``docs/performance.md``) plus the usual text.
* :func:`share` sums the own time of the rows whose function name matches, e.g. the share of a
  run spent inside ``os.fsync``.
* :func:`peak_rss_bytes` is this process's peak resident set size (``VmHWM``, else
  ``ru_maxrss``).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _short(filename: str) -> str:
    """``simqueue/core/queue.py`` rather than an absolute path; built-ins stay as they are."""
    if filename.startswith(REPO_ROOT):
        return os.path.relpath(filename, REPO_ROOT)
    for marker in ("site-packages/", "lib/python3"):
        i = filename.find(marker)
        if i >= 0:
            return filename[i + len(marker) :].lstrip("/0123456789.")
    return filename


def profile_call(
    fn: Callable[[], Any],
    top: int = 15,
    sort: str = "tottime",
    shares: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Run ``fn`` once under cProfile. Returns ``total_s`` (the profiled wall time, inflated by
    the profiler), ``rows`` (the ``top`` functions by ``sort``: function, ncalls, tottime,
    cumtime, share of total own time), ``by_file`` (own time per file, built-ins grouped by
    kind), ``text`` (pstats' own listing) and ``shares``: for each name in ``shares``, the share
    of own time in *all* functions whose name contains one of its needles (e.g.
    ``{"fsync": ("posix.fsync",)}``)."""
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    try:
        fn()
    finally:
        pr.disable()
    wall = time.perf_counter() - t0
    # Stats.stats (function -> call counts and times) is pstats' raw table, absent from typeshed.
    stats: dict[Any, Any] = pstats.Stats(pr).stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in stats.values()) or 1e-12
    column = 2 if sort == "tottime" else 3
    items = sorted(stats.items(), key=lambda kv: kv[1][column], reverse=True)
    out = io.StringIO()
    pstats.Stats(pr, stream=out).sort_stats(sort).print_stats(top)
    return {
        "total_s": wall,
        "own_time_s": total,
        "rows": _top_rows(items[:top], total),
        "by_file": _by_file(items, total, top),
        "shares": {
            key: _share_of(items, needles, total) for key, needles in (shares or {}).items()
        },
        "text": out.getvalue(),
    }


def _where(filename: str, line: int) -> str:
    return f"{_short(filename)}:{line}" if filename != "~" else "built-in"


def _top_rows(items: list[tuple[Any, Any]], total: float) -> list[dict[str, Any]]:
    return [
        {
            "function": f"{name} ({_where(filename, line)})",
            "ncalls": nc,
            "tottime_s": tt,
            "cumtime_s": ct,
            "share": tt / total,
        }
        for (filename, line, name), (_cc, nc, tt, ct, _callers) in items
    ]


def _by_file(items: list[tuple[Any, Any]], total: float, top: int) -> list[dict[str, Any]]:
    """Own time per file (built-ins grouped by kind), the ``top`` largest."""
    files: dict[str, float] = {}
    for (filename, _line, name), v in items:
        key = _short(filename) if filename != "~" else _builtin_group(name)
        files[key] = files.get(key, 0.0) + v[2]
    ranked = sorted(files.items(), key=lambda kv: -kv[1])[:top]
    return [{"file": f, "tottime_s": t, "share": t / total} for f, t in ranked]


def _share_of(items: list[tuple[Any, Any]], needles: tuple[str, ...], total: float) -> float:
    """Share of own time in the functions whose ``name (file:line)`` contains a needle."""
    own = 0.0
    for (filename, line, name), v in items:
        label = f"{name} ({_short(filename)}:{line})"
        if any(n in label for n in needles):
            own += v[2]
    return own / total


def _builtin_group(name: str) -> str:
    """Built-ins grouped by what they are: ``posix.fsync`` stays itself, the rest by kind
    (``_codec`` is simqueue's C record codec, :mod:`simqueue.core.wal`)."""
    for key in ("posix.fsync", "posix.write", "zlib.crc32", "heapq", "_struct", "_codec", "json"):
        if key in name:
            return f"built-in: {key}"
    return "built-in: other"


def share(profile: dict[str, Any], *needles: str) -> float:
    """The share of own time in the listed (top) rows whose name contains any of ``needles``."""
    rows = profile["rows"]
    return sum(float(r["share"]) for r in rows if any(n in r["function"] for n in needles))


def peak_rss_bytes() -> int:
    """Peak resident set size of this process: ``VmHWM`` from /proc (the high-water mark of
    this address space only), else ``ru_maxrss``. Linux carries ``ru_maxrss`` across ``exec``,
    so a child forked from a large parent would report the parent's size; ``VmHWM`` starts over
    with the new program."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def current_rss_bytes() -> int | None:
    """Current resident set size from /proc (None where there is no /proc)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def print_profile(profile: dict[str, Any], title: str, top: int = 10) -> None:
    print(f"\n{title} (cProfile, own time; profiled run {profile['total_s']:.2f} s)")
    for r in profile["rows"][:top]:
        pct, own, calls = 100 * r["share"], r["tottime_s"], r["ncalls"]
        print(f"  {pct:5.1f}%  {own:7.3f} s  {calls:>9,}  {r['function']}")
