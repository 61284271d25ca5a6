"""Helpers shared by every benchmark: timing, tables, results.json and the quick mode.

Conventions

* Every timing is wall-clock seconds from :func:`time.perf_counter`; :func:`measure` runs a
  function several times and reports median, min and max, never a single run.
* ``--quick`` on the command line or ``SIMQUEUE_BENCH_QUICK=1`` in the environment selects
  smaller sizes (for a smoke run); :func:`is_quick` tells which.
* Each benchmark writes one section of ``benchmarks/results.json`` with
  :func:`write_results`; other sections are kept, and the file records the machine.
* Benchmarks are never part of the test suite and nothing asserts a timing.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from simqueue.core.wal import accel

QUICK_ENV = "SIMQUEUE_BENCH_QUICK"
RESULTS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def is_quick(argv: Sequence[str] | None = None) -> bool:
    """Quick mode: ``--quick`` in ``argv`` (default ``sys.argv``) or ``SIMQUEUE_BENCH_QUICK=1``."""
    args = sys.argv[1:] if argv is None else argv
    if "--quick" in args:
        return True
    return os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def measure(
    fn: Callable[[], Any], repeat: int = 5, setup: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Run ``fn`` ``repeat`` times; wall seconds as ``dict(median, min, max, runs)``.

    ``setup`` (optional) runs before each run, outside the timed region."""
    runs = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return {
        "median": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "runs": runs,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        a = abs(value)
        if a == 0:
            return "0"
        if a >= 1000:
            return f"{value:,.0f}"
        if a >= 10:
            return f"{value:.1f}"
        if a >= 0.01:
            return f"{value:.3f}"
        return f"{value:.2e}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """An aligned text table; numbers right-aligned, text left-aligned."""
    if not rows:
        return "(no rows)"
    if columns is None:
        columns = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
        for c in columns
    ]

    def line(values: Sequence[str]) -> str:
        out = []
        for v, w, num in zip(values, widths, numeric, strict=True):
            out.append(v.rjust(w) if num else v.ljust(w))
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(columns)), sep, *(line(r) for r in cells)])


def print_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str = ""
) -> None:
    if title:
        print(f"\n{title}")
    print(format_table(rows, columns), flush=True)


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        # Which WAL codec ran: the C accelerator or the pure-Python fallback (simqueue.core.wal).
        "wal_codec": "C accelerator" if accel.ACCELERATED else "pure Python",
        "load_average": load_average(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the machine moves every number here."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def write_results(name: str, payload: dict[str, Any], path: str = RESULTS_PATH) -> str:
    """Merge ``payload`` as section ``name`` into ``results.json`` (created if absent), with
    the machine it ran on. Other sections are kept; benchmarks running at the same time are
    serialised by a lock file, and the file is replaced atomically (temp file + rename)."""
    section = dict(payload)
    section["machine"] = machine_info()
    # The lock lives in the temp dir (never removed: removing a lock file races its waiters).
    lock_path = os.path.join(tempfile.gettempdir(), "simqueue-bench-results.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc: dict[str, Any] = {}
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                doc = {}
            if not isinstance(doc, dict):
                doc = {}
        doc[name] = section
        doc["machine"] = section["machine"]
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, sort_keys=False, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, set | tuple):
        return list(obj)
    return str(obj)


@contextmanager
def temp_dir(base: str | None = None, prefix: str = "simqueue-bench-") -> Iterator[str]:
    """A scratch directory under ``base`` (``None``: the system temp dir), removed afterwards
    together with ``base`` itself if this call created it."""
    created = base if base is not None and not os.path.isdir(base) else None
    if created is not None:
        os.makedirs(created)
    d = tempfile.mkdtemp(prefix=prefix, dir=base)
    try:
        yield d
    finally:
        _rmtree(d)
        if created is not None:
            try:
                os.rmdir(created)
            except OSError:
                pass


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")
