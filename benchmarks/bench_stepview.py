"""Step view latency: time from a button press to a finished redraw, against 200 ms.

Run::

    python -m benchmarks.bench_stepview            # 200 steps, then the other buttons
    python -m benchmarks.bench_stepview --quick    # 60 steps (or SIMQUEUE_BENCH_QUICK=1)

:func:`simqueue.lab.widgets.step_view` (its default run: 3 workers, 20 jobs/s, fsync batch) is
built, then its buttons are pressed from Python the way a click does (``button.click()``, which
calls the widget's handler): Step, then Step x10, Run to t, Crash (power, garble), Recover, a
rewind with the event slider and Fork. Each press is timed on the wall clock around the click,
and ``last_redraw_seconds`` (the redraw alone) is read beside it. Late steps are timed as well
as early ones: after Run to t the log holds thousands of records, and a step must not cost
more for it. Median and max against the 200 ms target; results go to the ``stepview``
section of ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from .common import is_quick, load_average, print_table, write_results

TARGET_S = 0.2


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_stepview", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="60 steps instead of 200")
    parser.add_argument("--no-write", action="store_true", help="do not update results.json")
    args = parser.parse_args(argv)
    return args, args.quick or is_quick(argv if argv is not None else sys.argv[1:])


def _press(view: Any, name: str, press: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    press()
    wall = time.perf_counter() - t0
    if view.message:
        raise RuntimeError(f"{name} was refused: {view.message}")
    return {
        "press": name,
        "wall_s": wall,
        "redraw_s": view.last_redraw_seconds,
        "records": len(view.replay.wal.records),
        "met": wall <= TARGET_S,
    }


def _summary(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    walls = [r["wall_s"] for r in rows]
    redraws = [r["redraw_s"] for r in rows]
    return {
        "press": label,
        "n": len(rows),
        "median_s": statistics.median(walls),
        "max_s": max(walls),
        "redraw_median_s": statistics.median(redraws),
        "records": rows[-1]["records"],
        "within": sum(r["met"] for r in rows),
    }


def measure(steps: int) -> dict[str, Any]:
    from simqueue.lab.widgets import step_view

    view = step_view()
    c = view.c
    early = [_press(view, "Step", c.step.click) for _ in range(steps)]
    others = [_press(view, "Step x10", c.step10.click)]
    c.t.value = 30.0
    others.append(_press(view, "Run to t = 30 s", c.run.click))
    late = [_press(view, "Step", c.step.click) for _ in range(steps)]
    c.kind.value, c.tear.value = "power", "garble"
    others.append(_press(view, "Crash (power, garble)", c.crash.click))
    others.append(_press(view, "Recover", c.recover.click))
    others.append(_press(view, "Step after recovery", c.step.click))
    back = view.position // 2
    others.append(_press(view, f"rewind to event {back}", lambda: setattr(c.event, "value", back)))
    others.append(_press(view, "Fork (seed 1)", c.fork.click))
    groups = [_summary(early, "Step (early)"), _summary(late, "Step (after 30 s)")]
    every = [*early, *late, *others]
    return {
        "target_s": TARGET_S,
        "steps": groups,
        "presses": others,
        "within_target": sum(r["met"] for r in every),
        "presses_total": len(every),
        "target_met": all(g["median_s"] <= TARGET_S for g in groups)
        and all(r["met"] for r in others if r["press"].startswith("Step")),
    }


def main(argv: list[str] | None = None) -> int:
    args, quick = _parse(argv)
    load_before = load_average()
    started = time.perf_counter()
    res = measure(60 if quick else 200)
    print_table(
        res["steps"],
        ["press", "n", "median_s", "max_s", "redraw_median_s", "records", "within"],
        "step view: button press -> finished redraw",
    )
    print_table(
        res["presses"],
        ["press", "wall_s", "redraw_s", "records", "met"],
        "the other buttons (a rewind and a fork re-run the run from its seed)",
    )
    print(
        f"\n{res['within_target']}/{res['presses_total']} presses within {TARGET_S} s; "
        f"target (every step <= {TARGET_S} s at the median): "
        f"{'met' if res['target_met'] else 'NOT MET'}"
    )
    res |= {
        "quick": quick,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "seconds_total": time.perf_counter() - started,
    }
    if not args.no_write:
        print(f"results: {write_results('stepview', res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
