"""Dashboard latency: time from a slider change to a finished redraw.

Run::

    python -m benchmarks.bench_dashboard            # 15 slider changes
    python -m benchmarks.bench_dashboard --quick    # 8 changes (or SIMQUEUE_BENCH_QUICK=1)
    python -m benchmarks.bench_dashboard --browser  # also in JupyterLab in headless Chromium

:func:`simqueue.lab.widgets.dashboard` (its default settings: :class:`simqueue.Config`'s
defaults with Poisson(200) arrivals, 60 simulated seconds per run) is built once, which runs
and draws the first time (reported apart: it builds the figure). Then sliders are moved from
Python the way a drag ends, ``dash.sliders[name].value = v``, which fires the widget's
observer: the simulation re-runs (crashing once, at 25 s, and recovering, as the dashboard does
unless its crash control says none), the four panels are redrawn and the PNG is rendered. Two
clocks are read per change: the dashboard's own ``last_timing`` (simulate, draw, total) and the
wall time around the assignment (what the student waits for). Median, min and max against the
0.5 s target.

With ``--browser`` the same dashboard is also measured where a student meets it: JupyterLab in
headless Chromium (``tests/browser/jupyter_browser.py``), a slider moved with the keyboard,
timed from the key press until the new plot image has loaded in the page.

A cProfile of one change shows where the time goes (simulation vs matplotlib). Results go to
the ``dashboard`` section of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

from .common import is_quick, load_average, print_table, write_results
from .profiling import print_profile, profile_call

TARGET_S = 0.5

# (slider, value): a drag across the workers range, then the other controls, then back
CHANGES: list[tuple[str, Any]] = [
    ("workers", 16),
    ("workers", 32),
    ("workers", 56),
    ("workers", 64),
    ("workers", 128),
    ("workers", 4),
    ("failure rate", 0.2),
    ("task timeout", 1.0),
    ("arrival rate", 300.0),
    ("snapshot interval", 5.0),
    ("fsync", "always"),
    ("fsync", "batch"),
    ("crash", "process"),
    ("crash at", 40.0),
    ("crash", "none"),
]
#: (slider, key presses) in the browser: each press is one change.
BROWSER_CHANGES = [
    ("workers", 1),
    ("workers", 1),
    ("failure rate", 1),
    ("snapshot interval", 1),
    ("crash at", 1),
    ("arrival rate", 1),
]


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_dashboard", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="8 changes instead of 15")
    parser.add_argument(
        "--browser",
        action="store_true",
        help="also time slider changes in JupyterLab in headless Chromium",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    return args, args.quick or is_quick(argv if argv is not None else sys.argv[1:])


def _change(dash: Any, name: str, value: Any) -> dict[str, Any]:
    """Move one slider the way a drag ends and time the redraw it fires."""
    runs = dash.runs
    t0 = time.perf_counter()
    dash.sliders[name].value = value
    wall = time.perf_counter() - t0
    if dash.last_error is not None:
        raise RuntimeError(f"dashboard failed after {name}={value!r}: {dash.last_error!r}")
    if dash.runs != runs + 1 or dash.last_summary is None:
        raise RuntimeError(f"setting {name}={value!r} did not re-run the dashboard")
    t = dash.last_timing
    print(f"  {name} = {value}: {wall:.3f} s", flush=True)
    return {
        "change": f"{name} = {value}",
        "wall_s": wall,
        "simulate_s": t["simulate"],
        "draw_s": t["draw"],
        "total_s": t["total"],
        "completed": dash.last_summary.completed,
        "events": dash.last_summary.attempts,
        "met": wall <= TARGET_S,
    }


def _stats(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, min and max of each timing over the changes."""
    out = {}
    for key in ("wall_s", "simulate_s", "draw_s", "total_s"):
        values = [float(r[key]) for r in rows]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def _profile_change(dash: Any) -> dict[str, Any]:
    """Where one change's time goes: one more change (back to 8 workers) under cProfile."""
    return profile_call(
        lambda: setattr(dash.sliders["workers"], "value", 8),
        top=15,
        shares={
            "matplotlib": ("matplotlib/",),
            "simqueue": ("simqueue/",),
            "PIL/png": ("PIL/", "zlib"),
        },
    )


def _print(res: dict[str, Any], duration: float) -> None:
    rows, stats, prof = res["changes"], res["stats"], res["profile"]
    print_table(
        rows,
        ["change", "wall_s", "simulate_s", "draw_s", "total_s", "completed", "met"],
        f"slider change -> finished redraw ({duration:.0f} simulated s per run)",
    )
    wall = stats["wall_s"]
    print(
        f"\nfirst run (builds the figure): {res['first_run']['wall_s']:.3f} s; "
        f"per change: median {wall['median']:.3f} s "
        f"(min {wall['min']:.3f}, max {wall['max']:.3f}); "
        f"simulate median {stats['simulate_s']['median']:.3f} s, "
        f"draw median {stats['draw_s']['median']:.3f} s; {res['within_target']}/{len(rows)} "
        f"within {TARGET_S} s; target median <= {TARGET_S} s: "
        f"{'met' if res['target_met'] else 'NOT MET'}"
    )
    browser = res.get("browser")
    if browser and "skipped" in browser:
        print(f"\nin the browser: skipped ({browser['skipped']})")
    elif browser:
        print(
            f"\nin the browser (JupyterLab, headless Chromium, key press to loaded image): "
            f"median {browser['median_s']:.3f} s, max {browser['max_s']:.3f} s; "
            f"{browser['within_target']}/{len(browser['changes'])} within {TARGET_S} s"
        )
    print_profile(prof, "one slider change (workers = 8)", top=10)
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in prof["shares"].items())
    print(f"  own time by package: {shares}")


def main(argv: list[str] | None = None) -> int:
    args, quick = _parse(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    from simqueue.lab.widgets import dashboard

    load_before = load_average()
    started = time.perf_counter()
    t0 = time.perf_counter()
    dash = dashboard()
    first = {"wall_s": time.perf_counter() - t0, **dash.last_timing}
    rows = [_change(dash, name, value) for name, value in (CHANGES[::2] if quick else CHANGES)]
    stats = _stats(rows)
    res = {
        "quick": quick,
        "target_s": TARGET_S,
        "duration": dash.duration,
        "first_run": first,
        "changes": rows,
        "stats": stats,
        "within_target": sum(r["wall_s"] <= TARGET_S for r in rows),
        "target_met": stats["wall_s"]["median"] <= TARGET_S,
        "profile": _profile_change(dash),
    }
    if args.browser:
        from .dashboard_browser import measure_in_browser

        res["browser"] = measure_in_browser(BROWSER_CHANGES, TARGET_S)
    total = time.perf_counter() - started
    _print(res, dash.duration)
    load_after = load_average()
    print(f"load average before {load_before}, after {load_after}; {total:.0f} s in all")
    if not args.no_write:
        res["profile"].pop("text", None)
        res |= {"load_average_before": load_before, "load_average_after": load_after}
        res["seconds_total"] = total
        print(f"results: {write_results('dashboard', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
