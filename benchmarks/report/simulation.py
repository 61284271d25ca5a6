"""Section 1 of the page: simulation speed, simqueue against SimPy and Ciw."""

from __future__ import annotations

from typing import Any

from .figures import fig_simulation
from .markdown import md_table, spread, verdict
from .page import Blocks, caption, stale
from .templates import fill, sentences

DURABILITY_OFF_PREFIX = "durabil"  # bench_simulation's "durability off (...)" variant


def _t(fragment: str, **values: Any) -> str:
    return fill("simulation", fragment, **values)


def _runs_table(sim: dict[str, Any]) -> str:
    """One row per pair of runs (simqueue, SimPy) with the same seed."""
    rows = []
    for i, r in enumerate(sim.get("runs", [])):
        a, b = r["simqueue"], r["simpy"]
        rows.append(
            {
                "run": i,
                "simqueue wall s": a["wall_seconds"],
                "SimPy wall s": b["wall_seconds"],
                "simqueue jobs/wall-s": a["jobs_per_wall_second"],
                "SimPy jobs/wall-s": b["jobs_per_wall_second"],
                "simqueue sim-s/wall-s": a["sim_seconds_per_wall_second"],
                "SimPy sim-s/wall-s": b["sim_seconds_per_wall_second"],
                "ratio": r["ratio"],
                "throughput diff %": 100 * (a["throughput"] / b["throughput"] - 1),
                "timeouts diff %": 100 * (a["timeouts"] / max(1, b["timeouts"]) - 1),
            }
        )
    return md_table(rows)


def _variants(sim: dict[str, Any]) -> Blocks:
    """The durability variants: what the WAL and the snapshots cost."""
    variants = sim.get("variants") or {}
    if not variants:
        return []
    rows = [
        {
            "simqueue variant": name,
            "jobs/wall-s": v["jobs_per_wall_second"],
            "sim-s/wall-s": v["sim_seconds_per_wall_second"],
            "WAL bytes": v["wal_bytes"],
            "snapshots": v["snapshots"],
        }
        for name, v in variants.items()
    ]
    speed = {name: v["jobs_per_wall_second"] for name, v in variants.items()}
    modeled = next(iter(speed.values()))
    real = speed.get("real fsync")
    never = speed.get("fsync never, no snapshots")
    off = next((s for k, s in speed.items() if k.startswith(DURABILITY_OFF_PREFIX)), None)
    summary = sentences(
        _t("variant-real", ratio=real / modeled) if real else "",
        _t("variant-never", ratio=never / modeled) if never else "",
        _t("variant-off", ratio=off / modeled, cost_pct=100 * (1 - modeled / off)) if off else "",
    )
    return [_t("variants-title", duration=sim["duration"] / 10), md_table(rows), summary]


def _memory(sim: dict[str, Any]) -> Blocks:
    """Resident bytes per job over a long run, each variant of :mod:`benchmarks.sim_memory`."""
    memory = sim.get("memory") or {}
    if not memory.get("rows"):
        return []
    rows = [
        {
            "variant": m["variant"],
            "jobs": m["jobs"],
            "trace events": m["trace_events"],
            "bytes per job": m["bytes_per_job"],
            "second half, bytes per job": m.get("second_half_bytes_per_job", float("nan")),
            "resident growth MB": m["resident_growth_mb"],
            "wall s": m["wall_seconds"],
        }
        for m in memory["rows"]
    ]
    return [_t("memory-title", jobs=memory["jobs"]), md_table(rows), _t("memory-text")]


def _plain(sim: dict[str, Any]) -> Blocks:
    """Plain M/M/8: simqueue, Ciw and SimPy, each against Erlang C."""
    plain = sim.get("plain") or {}
    if not plain.get("rows"):
        return []
    ratios = _t(
        "plain-ratios",
        ciw=spread(plain["ratio_vs_ciw"], "x"),
        simpy=spread(plain["ratio_vs_simpy"], "x"),
    )
    return [_t("plain-title", duration=plain["duration"]), md_table(plain["rows"]), ratios]


def section_simulation(doc: dict[str, Any], img: str) -> Blocks:
    sim = doc.get("simulation") or {}
    out = [_t("heading"), stale(doc, "simulation")]
    if not sim:
        return out
    out += [_t("intro"), _t("runs-title", duration=sim["duration"]), _runs_table(sim)]
    r = sim.get("ratio")
    if r:
        target = sim.get("target_ratio", 1.5)
        met = verdict(r["median"] >= target)
        out.append(_t("ratio", ratio=spread(r, "x"), target=target, verdict=met))
    out += _memory(sim)
    out += _variants(sim)
    out += _plain(sim)
    if sim.get("sixty_seconds_wall"):
        out.append(_t("sixty", wall=spread(sim["sixty_seconds_wall"], " s", 3)))
    out.append(caption(doc, "simulation", fig_simulation(sim, img)))
    return out
