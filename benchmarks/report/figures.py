"""The report's figures: one PNG per section under ``docs/img/`` (matplotlib, Agg backend).

Each ``fig_*`` function draws one section of results.json and returns the file it wrote, or
None when the section has no data for it.
"""

from __future__ import annotations

import os
import statistics
import textwrap
from typing import Any

from .headlines import ONE_MILLION


def _figure(width: float = 9.0, height: float = 4.0, ncols: int = 1) -> tuple[Any, Any]:
    """A figure of ``ncols`` axes side by side (matplotlib imported only when drawing)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _save(fig: Any, img_dir: str, name: str) -> str:
    os.makedirs(img_dir, exist_ok=True)
    path = os.path.join(img_dir, name)
    fig.savefig(path, format="png")
    return path


def fig_simulation(sim: dict[str, Any], img_dir: str) -> str | None:
    if not sim.get("runs"):
        return None
    fig, (ax1, ax2, ax3) = _figure(14, 4, ncols=3)
    sq = [r["simqueue"]["jobs_per_wall_second"] for r in sim["runs"]]
    sp = [r["simpy"]["jobs_per_wall_second"] for r in sim["runs"]]
    _bars(ax1, ["simqueue\n(WAL, modeled fsync)", "SimPy"], [sq, sp], ["#1f77b4", "#ff7f0e"])
    ax1.set_ylabel("completed jobs per wall-second")
    ax1.set_title(f"reference model, {sim['duration']:.0f} simulated s")
    variants = sim.get("variants") or {}
    if variants:
        names = [textwrap.fill(n.replace(" (default)", ""), 16) for n in variants]
        vals = [[v["jobs_per_wall_second"]] for v in variants.values()]
        _bars(ax2, names, vals, ["#1f77b4", "#6baed6", "#9ecae1"])
        ax2.set_title(f"simqueue durability variants, {sim['duration'] / 10:.0f} simulated s")
    plain = sim.get("plain") or {}
    if plain.get("runs"):
        names = ["simqueue\n(WAL)", "Ciw", "SimPy"]
        vals = [[r["jobs_per_wall_second"] for r in plain["runs"][k]] for k in ("simqueue", "ciw")]
        vals.append([r["jobs_per_wall_second"] for r in plain["runs"]["simpy"]])
        _bars(ax3, names, vals, ["#1f77b4", "#2ca02c", "#ff7f0e"])
        ax3.set_title(f"plain M/M/8, {plain['duration']:.0f} simulated s")
    return _save(fig, img_dir, "perf-simulation.png")


def _bars(ax: Any, names: list[str], values: list[list[float]], colors: list[str]) -> None:
    meds = [statistics.median(v) for v in values]
    lo = [m - min(v) for m, v in zip(meds, values, strict=True)]
    hi = [max(v) - m for m, v in zip(meds, values, strict=True)]
    xs = range(len(names))
    ax.bar(xs, meds, color=colors[: len(names)], yerr=[lo, hi], capsize=4)
    ax.set_xticks(list(xs), names, fontsize="small")
    for x, m, h in zip(xs, meds, hi, strict=True):
        ax.annotate(
            f"{m:,.0f}",
            (x, m + h),  # above the error bar, not across it
            ha="center",
            va="bottom",
            fontsize="small",
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_ylim(0, max(m + h for m, h in zip(meds, hi, strict=True)) * 1.12)  # room for labels
    ax.grid(axis="y", alpha=0.3)


def fig_scaling(sc: dict[str, Any], img_dir: str) -> str | None:
    rows = sc.get("rows") or []
    if not rows:
        return None
    fig, (ax1, ax2, ax3) = _figure(14, 4, ncols=3)
    jobs = [r["jobs"] for r in rows]
    ax1.loglog(jobs, [r["wall_s"] for r in rows], "o-", label="wall time (s)")
    ax1.loglog(jobs, [r["peak_rss_MiB"] / 1024 for r in rows], "s-", label="peak RSS (GiB)")
    # linear references through the largest point
    k_w = rows[-1]["wall_s"] / jobs[-1]
    k_m = rows[-1]["peak_rss_MiB"] / 1024 / jobs[-1]
    ax1.loglog(jobs, [k_w * j for j in jobs], ":", color="grey", label="linear")
    ax1.loglog(jobs, [k_m * j for j in jobs], ":", color="grey")
    ax1.set_xlabel("jobs")
    ax1.set_title("wall time and peak RSS")
    ax1.legend(fontsize="small")
    ax1.grid(alpha=0.3, which="both")
    ax2.semilogx(jobs, [r["us_per_job"] for r in rows], "o-", color="#1f77b4")
    ax2.set_ylabel("µs of wall time per job", color="#1f77b4")
    ax2.set_ylim(bottom=0, top=max(r["us_per_job"] for r in rows) * 1.3)
    ax2b = ax2.twinx()
    ax2b.semilogx(jobs, [r["bytes_per_job"] for r in rows], "s-", color="#ff7f0e")
    ax2b.set_ylabel("peak-RSS bytes per job", color="#ff7f0e")
    ax2b.set_ylim(bottom=0, top=max(r["bytes_per_job"] for r in rows) * 1.3)
    ax2.set_xlabel("jobs")
    ax2.set_title("per job: flat = linear growth")
    ax2.grid(alpha=0.3)
    bd = sc.get("breakdown") or []
    if bd:
        largest = max(r["jobs"] for r in bd)
        parts = [r for r in bd if r["jobs"] == largest]
        parts.sort(key=lambda r: -r["bytes_per_job"])
        names = [p["part"].split(" (")[0] for p in parts]
        ax3.barh(range(len(parts)), [p["bytes_per_job"] for p in parts], color="#1f77b4")
        ax3.set_yticks(range(len(parts)), names, fontsize="small")
        ax3.invert_yaxis()
        ax3.set_xlabel("bytes per job (live objects, sys.getsizeof)")
        ax3.set_title(f"what the memory is at {largest:,} jobs")
        ax3.grid(axis="x", alpha=0.3)
    return _save(fig, img_dir, "perf-scaling.png")


def fig_recovery(core: dict[str, Any], img_dir: str) -> str | None:
    rows = core.get("recovery") or []
    if not rows:
        return None
    fig, (ax1, ax2) = _figure(11, 4, ncols=2)
    recs = [r["records"] for r in rows]
    ax1.loglog(recs, [r["open_s"] for r in rows], "o-", label="recovery (DurableQueue.open)")
    if all("decode_s" in r for r in rows):
        ax1.loglog(recs, [r["decode_s"] for r in rows], "s--", label="decode floor (scan only)")
    if all("read_s" in r for r in rows):
        ax1.loglog(recs, [r["read_s"] for r in rows], "^:", label="read floor (page cache)")
    ax1.axhline(1.0, color="#b00", lw=1, ls="--", label="target: 1 s at 1M records")
    ax1.axvline(ONE_MILLION, color="#b00", lw=0.6, alpha=0.5)
    ax1.set_xlabel("WAL records replayed")
    ax1.set_ylabel("seconds")
    ax1.set_title("recovery without a snapshot")
    ax1.legend(fontsize="small")
    ax1.grid(alpha=0.3, which="both")
    snaps = core.get("recovery_snapshot") or []
    if snaps:
        for n_snap, marker in ((1, "o-"), (2, "s-")):
            pts = [s for s in snaps if s.get("snapshots") == n_snap]
            if pts:
                ax2.loglog(
                    [s["snapshot_MB"] for s in pts],
                    [s["open_s"] for s in pts],
                    marker,
                    label=f"{n_snap} snapshot(s)" + (" (WAL pruned)" if n_snap == 2 else ""),
                )
        ax2.set_xlabel("snapshot size on disk (MB)")
        ax2.set_ylabel("seconds")
        ax2.set_title("recovery from a snapshot")
        ax2.legend(fontsize="small")
        ax2.grid(alpha=0.3, which="both")
    return _save(fig, img_dir, "perf-recovery.png")


def fig_queue(q: dict[str, Any], img_dir: str) -> str | None:
    rows = q.get("rows") or []
    if not rows:
        return None
    fig, (ax,) = _figure(10, 4.8)
    colors = {
        "simqueue": "#1f77b4",
        "sqlite3": "#ff7f0e",
        "persist": "#d62728",
        "bare": "#7f7f7f",
    }
    ys = range(len(rows))
    meds = [r["per_s"] for r in rows]
    lo = [r["per_s"] - r["per_s_min"] for r in rows]
    hi = [r["per_s_max"] - r["per_s"] for r in rows]
    col = [next(c for k, c in colors.items() if r["system"].startswith(k)) for r in rows]
    ax.barh(list(ys), meds, xerr=[lo, hi], color=col, capsize=3)
    labels = [
        f"{r['system']}  [{r['pairing']}]" + (" (fsyncs/s)" if r["pairing"] == "disk" else "")
        for r in rows
    ]
    ax.set_yticks(list(ys), labels, fontsize="small")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ceiling = (q.get("headline") or {}).get("always_ceiling_jobs_per_s")
    if ceiling:
        ax.axvline(ceiling, color="#444", ls=":", lw=1, label='ceiling for "always"')
        ax.legend(fontsize="small", loc="lower right")
    for y, m, top in zip(ys, meds, [r["per_s_max"] for r in rows], strict=True):
        ax.annotate(
            f"{m:,.0f}",
            (top, y),
            va="center",
            fontsize="x-small",
            xytext=(4, 0),
            textcoords="offset points",
        )
    ax.set_xlabel("jobs per second (enqueue + dispatch + complete), log scale")
    ax.set_title("durable library throughput, real fsync, same disk, median of rounds")
    ax.grid(axis="x", alpha=0.3, which="both")
    return _save(fig, img_dir, "perf-queue.png")


def fig_server(srv: dict[str, Any], img_dir: str) -> str | None:
    cells = srv.get("cells") or []
    if not cells:
        return None
    fig, (ax_rate, ax_p99) = _figure(10, 3.8, ncols=2)
    colors = {
        "simqueue always": "#1f77b4",
        "simqueue batch": "#17becf",
        "huey": "#2ca02c",
        "persist-queue": "#d62728",
        "floor": "#7f7f7f",
    }
    for system, color in colors.items():
        mine = sorted((c for c in cells if c["system"] == system), key=lambda c: c["clients"])
        xs = [c["clients"] for c in mine]
        ax_rate.plot(xs, [c["jobs_per_s"] for c in mine], "o-", color=color, label=system)
        ax_p99.plot(xs, [c["ack_p99_ms"] for c in mine], "o-", color=color, label=system)
    for ax, label in ((ax_rate, "jobs per second"), (ax_p99, "ack p99, ms")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("concurrent clients, one job per request")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_rate.legend(fontsize="small")
    ax_rate.set_title("durable acknowledgements per second")
    ax_p99.set_title("ack latency p99")
    return _save(fig, img_dir, "perf-server.png")


def fig_dashboard(dash: dict[str, Any], img_dir: str) -> str | None:
    rows = dash.get("changes") or []
    if not rows:
        return None
    fig, (ax,) = _figure(10, 4)
    xs = range(len(rows))
    sim = [r["simulate_s"] for r in rows]
    draw = [r["draw_s"] for r in rows]
    ax.bar(list(xs), sim, label="simulate (60 simulated s)", color="#1f77b4")
    ax.bar(list(xs), draw, bottom=sim, label="draw + PNG", color="#ff7f0e")
    ax.plot(list(xs), [r["wall_s"] for r in rows], "k.", label="wall time of the change")
    ax.axhline(dash.get("target_s", 0.5), color="#b00", ls="--", lw=1, label="target 0.5 s")
    ax.set_xticks(list(xs), [r["change"] for r in rows], rotation=35, ha="right", fontsize="small")
    ax.set_ylabel("seconds")
    ax.set_title("slider change -> finished redraw")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, img_dir, "perf-dashboard.png")
