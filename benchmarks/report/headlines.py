"""The headline ratios against their targets, one row each, from the sections of results.json.

:func:`headlines` is the table at the top of ``docs/performance.md`` and the one the suite
prints after a run; :func:`recovery_million` and :func:`snapshot_interval_budget` are the two
derived recovery figures the recovery section explains.
"""

from __future__ import annotations

import re
from typing import Any

from .markdown import spread

ONE_MILLION = 1_000_000
BORDERLINE = 0.05  # a value within 5 % of its target is marked borderline

Row = dict[str, Any]


def _row(
    item: str,
    measure: str,
    value: float | None,
    value_text: str,
    target_text: str,
    met: bool | None,
) -> Row:
    """One headline; ``met`` None is information without a target."""
    verdict = "info" if met is None else ("met" if met else "NOT MET")
    if value is None:
        verdict = "n/a"
    elif met is not None and _near_target(value, target_text):
        verdict += " (borderline)"  # the verdict can flip between runs on a shared machine
    return {
        "item": item,
        "measure": measure,
        "value": value,
        "value_text": value_text,
        "target_text": target_text,
        "met": met if value is not None else None,
        "verdict": verdict,
        "note": "",
    }


def _near_target(value: float, target_text: str) -> bool:
    found = re.search(r"\d+(?:\.\d+)?", target_text)
    target = float(found.group()) if found else 0.0
    return target != 0.0 and abs(value / target - 1) < BORDERLINE


def recovery_million(core: dict[str, Any]) -> tuple[float | None, str, dict[str, Any] | None]:
    """Recovery wall time of 1,000,000 records: measured if the run had that size, otherwise
    extrapolated linearly from the largest size (and said so)."""
    rows = core.get("recovery") or []
    if not rows:
        return None, "", None
    exact = [r for r in rows if r.get("records") == ONE_MILLION]
    if exact:
        return exact[0]["open_s"], "", exact[0]
    big = max(rows, key=lambda r: r.get("records", 0))
    per = big["open_s"] / big["records"]
    return per * ONE_MILLION, f"extrapolated from {big['records']:,} records", big


def snapshot_interval_budget(core: dict[str, Any], rate: float = 200.0) -> dict[str, Any] | None:
    """The longest snapshot interval whose WAL replay stays under 3 s at ``rate`` jobs/s (3
    records per job: ENQUEUE, DISPATCH, ACK), from the measured cost per record at the largest
    size, minus the measured restore time of the largest snapshot benchmarked."""
    rows = core.get("recovery") or []
    if not rows:
        return None
    big = max(rows, key=lambda r: r.get("records", 0))
    per_record = big["open_s"] / big["records"]
    snaps = core.get("recovery_snapshot") or []
    pruned = [s for s in snaps if s.get("snapshots") == 2] or snaps
    snap_s = max((s["open_s"] for s in pruned), default=0.0)
    snap_jobs = max((s["jobs"] for s in pruned), default=0)
    budget = 3.0 - snap_s
    records_per_s = 3 * rate
    return {
        "us_per_record": per_record * 1e6,
        "records_per_s": records_per_s,
        "snapshot_restore_s": snap_s,
        "snapshot_jobs": snap_jobs,
        "interval_s": budget / (records_per_s * per_record) if budget > 0 else 0.0,
        "interval_without_snapshot_s": 3.0 / (records_per_s * per_record),
    }


def _simulation(sim: dict[str, Any]) -> list[Row]:
    """Section 1: simqueue against SimPy and Ciw, and the slider case."""
    item = "1 simulation"
    rows = []
    if sim.get("ratio"):
        r, target = sim["ratio"], sim.get("target_ratio", 1.5)
        measure = "simqueue / SimPy jobs per wall-s, reference model, WAL, snapshots, trace on"
        met = r["median"] >= target
        rows.append(_row(item, measure, r["median"], spread(r, "x"), f">= {target}x", met))
    memory = sim.get("memory") or {}
    rows_by = {m["variant"]: m for m in memory.get("rows", [])}
    default = rows_by.get("default") or rows_by.get("packed")  # "packed": results before
    if default:
        per_job, target = default["bytes_per_job"], memory["target_bytes_per_job"]
        measure = f"resident bytes per job at {default['jobs']:,} jobs, trace on, defaults"
        rows.append(
            _row(item, measure, per_job, f"{per_job:,.0f} B", f"<= {target} B", per_job <= target)
        )
    plain = sim.get("plain") or {}
    if plain.get("ratio_vs_ciw"):
        for key, measure in (
            (
                "ratio_vs_ciw",
                "simqueue / Ciw jobs per wall-s, plain M/M/8 (simqueue writes its WAL)",
            ),
            ("ratio_vs_simpy", "simqueue / SimPy jobs per wall-s, plain M/M/8"),
        ):
            r = plain[key]
            rows.append(_row(item, measure, r["median"], spread(r, "x"), "(no target)", None))
    if sim.get("sixty_seconds_wall"):
        w = sim["sixty_seconds_wall"]
        measure = "wall time of 60 simulated s at 200 jobs/s (slider case)"
        target = "< 0.3 s (simulation issue)"
        rows.append(_row(item, measure, w["median"], spread(w, " s", 3), target, w["median"] < 0.3))
    return rows


def _scaling(sc: dict[str, Any]) -> list[Row]:
    """Section 2: per-job wall time and memory at the largest size against the size before."""
    lin = sc.get("linear")
    if not lin:
        return []
    item, tol, largest = "2 scaling", lin.get("tolerance", 1.25), lin["largest_jobs"]
    wall, mem = lin["wall_per_job_ratio_vs_previous"], lin["bytes_per_job_ratio_vs_previous"]
    per_job = lin["bytes_per_job_at_largest"]
    linear = f"<= {tol} (linear)"
    return [
        _row(
            item,
            f"wall per job at {largest:,} jobs / at the size before",
            wall,
            f"{wall:.2f}",
            linear,
            wall <= tol,
        ),
        _row(
            item,
            f"peak-RSS bytes per job at {largest:,} jobs / at the size before",
            mem,
            f"{mem:.2f}",
            linear,
            mem <= tol,
        ),
        _row(
            item,
            f"memory per job at {largest:,} jobs (peak RSS growth / jobs)",
            per_job,
            f"{per_job:,.0f} B",
            "(no target)",
            None,
        ),
    ]


def _recovery(core: dict[str, Any]) -> list[Row]:
    """Section 3: a million records replayed, and the snapshot interval that keeps 3 s."""
    t, how, _big = recovery_million(core)
    if t is None:
        return []
    item = "3 recovery"
    measure = "recovery of 1,000,000 WAL records, no snapshot" + (f" ({how})" if how else "")
    rows = [_row(item, measure, t, f"{t:.2f} s", "< 1 s", t < 1.0)]
    budget = snapshot_interval_budget(core)
    if budget:
        measure = "longest snapshot interval keeping recovery < 3 s at 200 jobs/s"
        interval = budget["interval_s"]
        rows.append(_row(item, measure, interval, f"{interval:,.0f} s", "(derived)", None))
    return rows


_QUEUE_LABELS = {
    "batch_over_sqliteackqueue": (
        "group commit (1 fsync per 100 jobs) / SQLiteAckQueue (1 commit per op)",
        "(unequal durability: info)",
    ),
    "pairing_every_op": ('"always" / sqlite3 table, autocommit', ">= 1x"),
    "always_over_ceiling": (
        '"always" / (bare overwrite+fdatasync rate / fsyncs per job)',
        ">= 0.5 (2x)",
    ),
}


def _queue_label(key: str, v: dict[str, Any]) -> tuple[str, str]:
    """(measure, target text) of one of bench_queue's ratios."""
    if key in _QUEUE_LABELS:
        return _QUEUE_LABELS[key]
    if key.startswith("pairing_group"):
        return f"{v['what'].split(' / ')[0]} / sqlite3 table, same batch", ">= 1x"
    if key == "pairing_OS_only":
        return '"never" / sqlite3 table, synchronous=OFF', "(extra pairing)"
    return v["what"], f">= {v['target']}"


def _queue(q: dict[str, Any]) -> list[Row]:
    """Section 4: bench_queue's ratios, each against its pairing's target."""
    ratios = (q.get("headline") or {}).get("ratios") or {}
    rows = []
    for key, v in ratios.items():
        measure, target = _queue_label(key, v)
        met = v["met"] if not target.startswith("(") else None
        rows.append(_row("4 durable queue", measure, v["value"], f"{v['value']:.2f}x", target, met))
    return rows


_SERVER_HEADLINES = (
    (
        "always_over_huey_16",
        '"always" / huey SqliteHuey(fsync=True) jobs/s, 16 clients, 1 job/request',
        "x",
    ),
    (
        "batch_over_huey_16",
        '"batch" / huey SqliteHuey(fsync=True) jobs/s, 16 clients, 1 job/request',
        "x",
    ),
    (
        "always_p50_1_in_bare",
        '"always" ack p50 at 1 client, in bare pwrite+fdatasync latencies',
        "",
    ),
    (
        "always_p99_16_in_bare",
        '"always" ack p99 at 16 clients, in bare pwrite+fdatasync latencies',
        "",
    ),
)


def _server(srv: dict[str, Any]) -> list[Row]:
    """Section 5: one job per request against huey at equal durability, the ack latency in
    bare fsync latencies, and the bulk POST as information of its own."""
    targets = srv.get("targets") or {}
    rows = []
    for key, measure, unit in _SERVER_HEADLINES:
        t = targets.get(key)
        if t is None:
            continue
        target = f"{t['op']} {t['target']:g}{unit}"
        rows.append(
            _row("5 server", measure, t["value"], f"{t['value']:.2f}{unit}", target, t["met"])
        )
    bulk = srv.get("bulk")
    if bulk:
        rows.append(
            _row(
                "5 server",
                f"one POST of {bulk['jobs']:,} jobs (bulk, not comparable), jobs/s to completion",
                bulk["jobs_per_s"],
                f"{bulk['jobs_per_s']:,.0f}",
                "(own row)",
                None,
            )
        )
    return rows


def _dashboard(dash: dict[str, Any]) -> list[Row]:
    """Section 6: the median slider change against 0.5 s."""
    if not dash.get("stats"):
        return []
    w, target = dash["stats"]["wall_s"], dash.get("target_s", 0.5)
    measure = "slider change -> finished redraw (median of changes)"
    met = w["median"] <= target
    return [_row("6 dashboard", measure, w["median"], spread(w, " s", 3), f"<= {target} s", met)]


def headlines(doc: dict[str, Any]) -> list[Row]:
    """Every headline row, in the order of the page's sections; absent sections give none."""
    return [
        *_simulation(doc.get("simulation") or {}),
        *_scaling(doc.get("scaling") or {}),
        *_recovery(doc.get("core") or {}),
        *_queue(doc.get("queue") or {}),
        *_server(doc.get("server") or {}),
        *_dashboard(doc.get("dashboard") or {}),
    ]
