"""Run the whole performance suite: ``python -m benchmarks [--quick]`` (what ``make bench`` runs).

Each benchmark module runs in turn through its ``main(argv)`` (``--quick`` passed on), writing
its own section of ``benchmarks/results.json``; then one table of the headline ratios against
their targets is printed, a ``suite`` section records the command, each module's run time and
the load average around it, and :mod:`benchmarks.report` writes ``docs/performance.md`` with
its plots (``docs/img/*.png``). ``python -m benchmarks.report`` redraws the document from
``results.json`` without running anything.

Options: ``--only core,queue`` / ``--skip dashboard`` pick modules (names with or without the
``bench_`` prefix); ``--no-report`` leaves ``docs/`` alone. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import io
import sys
import time
import traceback
from typing import Any

from .common import RESULTS_PATH, is_quick, load_average, print_table, write_results

MODULES = (
    "bench_core",
    "bench_simulation",
    "bench_scaling",
    "bench_queue",
    "bench_snapshot_hold",
    "bench_retention",
    "bench_server",
    "bench_dashboard",
    "bench_stepview",
    "bench_cluster",
)


class _Tee(io.TextIOBase):
    """Write to the real stdout and keep a copy (to lift bench_core's recovery profile)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.buf = io.StringIO()

    def write(self, s: str) -> int:
        self.out.write(s)
        self.buf.write(s)
        return len(s)

    def flush(self) -> None:
        self.out.flush()


def _names(spec: str | None) -> list[str]:
    if not spec:
        return []
    out = []
    for part in spec.split(","):
        part = part.strip()
        if part:
            out.append(part if part.startswith("bench_") else f"bench_{part}")
    unknown = [n for n in out if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown[0]!r}; known: {', '.join(MODULES)}")
    return out


def _extract_profile(text: str) -> str | None:
    """The cProfile listing bench_core prints after ``--profile`` (None if absent)."""
    marker = "cProfile of one recovery"
    i = text.find(marker)
    if i < 0:
        return None
    block = text[i:]
    end = block.find("\nload average")
    return block[:end].strip() if end > 0 else block[:6000].strip()


def run_module(name: str, argv: list[str]) -> dict[str, Any]:
    """Run one benchmark module's ``main(argv)`` in this process: its time, outcome and the load
    around it (bench_core also profiles one recovery, lifted from its output)."""
    mod = importlib.import_module(f"benchmarks.{name}")
    extra = ["--profile"] if name == "bench_core" else []
    load_before = load_average()
    t0 = time.perf_counter()
    rc: Any = None
    error = None
    tee = _Tee(sys.stdout)
    try:
        with contextlib.redirect_stdout(tee):
            try:
                rc = mod.main([*argv, *extra])
            except SystemExit as exc:
                rc = exc.code
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    seconds = time.perf_counter() - t0
    out = {
        "module": name,
        "seconds": seconds,
        "returncode": rc if isinstance(rc, int) or rc is None else str(rc),
        "error": error,
        "ok": error is None and rc in (0, None),
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    if name == "bench_core":
        out["recovery_profile"] = _extract_profile(tee.buf.getvalue())
    return out


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str], bool]:
    """The options, the command line as given, and whether this is a quick run."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--only", help="comma-separated modules to run (e.g. core,queue)")
    parser.add_argument("--skip", help="comma-separated modules to leave out")
    parser.add_argument("--no-report", action="store_true", help="do not write docs/")
    args = parser.parse_args(argv)
    raw = sys.argv[1:] if argv is None else list(argv)
    return args, raw, args.quick or is_quick(raw)


def _run_all(modules: list[str], mod_argv: list[str]) -> list[dict[str, Any]]:
    runs = []
    for name in modules:
        print(f"\n{'=' * 100}\n{name} {' '.join(mod_argv)}\n{'=' * 100}", flush=True)
        r = run_module(name, mod_argv)
        runs.append(r)
        status = "ok" if r["ok"] else f"FAILED ({r['error'] or r['returncode']})"
        print(f"\n[{name}: {status}, {r['seconds']:.0f} s]", flush=True)
    return runs


def _print_headlines(quick: bool) -> None:
    """The headline ratios of results.json (this run's sections and older ones)."""
    from . import report

    rows = report.headlines(report.load(RESULTS_PATH))
    print(f"\n{'=' * 100}")
    table = [
        {
            "item": r["item"],
            "measure": r["measure"],
            "value": r["value_text"],
            "target": r["target_text"],
            "verdict": r["verdict"],
        }
        for r in rows
    ]
    print_table(
        table,
        title=f"headline ratios against their targets ({'quick' if quick else 'full'} run)",
    )


def main(argv: list[str] | None = None) -> int:
    args, raw, quick = _parse(argv)
    only, skip = _names(args.only), _names(args.skip)
    modules = [m for m in MODULES if (not only or m in only) and m not in skip]
    started_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    load_before = load_average()
    runs = _run_all(modules, ["--quick"] if quick else [])
    total = time.perf_counter() - t0
    suite = {
        "command": " ".join(["python -m benchmarks", *raw]).strip(),
        "make_target": "make bench" if not quick and not only and not skip else None,
        "quick": quick,
        "modules": runs,
        "started_at": started_at,
        "finished_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "seconds_total": total,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    write_results("suite", suite)
    _print_headlines(quick)
    failed = [r["module"] for r in runs if not r["ok"]]
    print(
        f"\n{len(modules)} modules in {total:.0f} s"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
        + f"; load average before {load_before}, after {suite['load_average_after']}"
    )
    if not args.no_report:
        from . import report

        print(f"wrote {report.generate(RESULTS_PATH)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
