"""Plot functions on small simulations: targets drawn, axes labelled, outages shaded, data
attached, and no state shared between figures (nothing goes through pyplot)."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from plotcheck import bad_plurals, outside_points, reads_well  # noqa: E402

from simqueue import Config, Poisson, Simulation, Uniform
from simqueue.lab import (
    frames,
    plots,
    sweeps,  # noqa: E402
)


@pytest.fixture(scope="module")
def crashed_sim():
    """8 s at 100 jobs/s with fsync="never": a power cut at 3.3 s and a process crash at 5.5 s,
    both recovered. Read-only for the tests below."""
    sim = Simulation(Config(seed=1, arrival=Poisson(100), workers=32, fsync="never"))
    sim.run_until(3.3)
    sim.crash("power", tear="prefix")
    sim.recover()
    sim.run_until(5.5)
    sim.crash("process")
    sim.recover()
    sim.run_until(8.0)
    sim.check_invariants()
    yield sim
    sim.close()


@pytest.fixture(scope="module")
def misbehaving_sim():
    """Twelve jobs on three workers that fail, hang and overrun their timeout."""
    cfg = Config(
        seed=7,
        workers=3,
        service_time=Uniform(0.1, 1.2),
        failure_rate=0.2,
        hang_rate=0.1,
        task_timeout=1.0,
        max_retry=2,
        backoff=0.25,
        snapshot_interval=None,
    )
    sim = Simulation(cfg)
    sim.enqueue([f"job-{i}" for i in range(1, 13)])
    sim.run_until_idle()
    yield sim
    sim.close()


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """Plot functions never open pyplot figures (global state another test could see)."""
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def labelled(fig: Figure) -> None:
    assert fig.axes
    for ax in fig.axes:
        assert ax.get_xlabel() or ax.get_shared_x_axes().get_siblings(ax) != [ax]
        assert ax.get_ylabel()
    assert any(ax.get_title() for ax in fig.axes)


def hlines_at(ax, y: float) -> list:
    """Horizontal lines drawn across the axes at ``y`` (axhline: constant y in data coords)."""
    out = []
    for line in ax.get_lines():
        ys = list(line.get_ydata())
        if len(ys) == 2 and ys[0] == ys[1] == y and list(line.get_xdata()) == [0, 1]:
            out.append(line)
    return out


def shaded_spans(ax) -> list[tuple[float, float]]:
    """(x0, x1) of every axvspan in ``ax`` (matplotlib >= 3.9 draws them as Rectangles)."""
    red = matplotlib.colors.to_rgb(plots.OUTAGE_COLOUR)
    return [
        (patch.get_x(), patch.get_x() + patch.get_width())
        for patch in ax.patches
        if isinstance(patch, Rectangle) and patch.get_facecolor()[:3] == pytest.approx(red)
    ]


def crash_windows(sim) -> list[tuple[float, float]]:
    crashes = [t[0] for t in sim.trace if t[1] == "CRASH"]
    recovers = [t[0] for t in sim.trace if t[1] == "RECOVER"]
    return list(zip(crashes, recovers, strict=True))


# --------------------------------------------------------------------------- throughput
def test_throughput_has_target_line_and_crash_bands(crashed_sim):
    fig = plots.throughput(crashed_sim, prediction=100.0)
    assert isinstance(fig, Figure)
    labelled(fig)
    ax = fig.axes[0]
    target = hlines_at(ax, plots.TARGET_THROUGHPUT)
    assert len(target) == 1 and "200" in target[0].get_label()
    assert hlines_at(ax, 100.0), "the prediction line is drawn"
    windows = crash_windows(crashed_sim)
    assert len(windows) == 2
    spans = shaded_spans(ax)
    assert [a for a, _ in spans] == pytest.approx([a for a, _ in windows])
    assert [b for _, b in spans] == pytest.approx([b for _, b in windows])
    data = fig.simqueue_data
    inside = (data.time > windows[0][0]) & (data.time < windows[0][1])
    assert inside.any() and not data.up[inside].any() and data.up[~inside].sum() > 0
    # the band is the downtime the recovery report gives
    for (start, end), report in zip(windows, crashed_sim.recoveries, strict=True):
        assert end - start == pytest.approx(report.downtime, abs=1e-6)
    assert fig.simqueue_meta["config"] is crashed_sim.config
    assert fig.simqueue_meta["simulated_until"] == crashed_sim.now
    assert [c["kind"] for c in fig.simqueue_meta["crashes"]] == ["power", "process"]
    assert {"time", "throughput"} <= set(fig.simqueue_data.columns)


def test_throughput_from_a_frame_shades_the_rows_that_are_down():
    frame = pd.DataFrame(
        {
            "time": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            "throughput": [0.0, 90.0, 95.0, None, 0.0, 80.0],
            "up": [True, True, True, False, False, True],
        }
    )
    fig = plots.throughput(frame)
    assert shaded_spans(fig.axes[0]) == [(2.0, 5.0)]
    assert hlines_at(fig.axes[0], 200.0)


def test_metrics_frame_marks_the_outage_down(crashed_sim):
    frame = frames.metrics_frame(crashed_sim, 0.1)
    fig = plots.throughput(frame)
    assert len(shaded_spans(fig.axes[0])) == 2


def test_samples_inside_an_outage_are_blanked(crashed_sim):
    fig = plots.job_states(crashed_sim)
    data = fig.simqueue_data
    (start, end), _ = crash_windows(crashed_sim)
    inside = (data.time > start) & (data.time < end)
    assert inside.any() and data.loc[inside, "pending"].isna().all()
    assert data.loc[~inside, "pending"].notna().sum() > 0


def test_figures_share_nothing(crashed_sim):
    first = plots.throughput(crashed_sim)
    second = plots.throughput(crashed_sim)
    assert first is not second and first.axes[0] is not second.axes[0]
    assert len(first.axes[0].get_lines()) == len(second.axes[0].get_lines())
    assert len(first.axes) == len(second.axes) == 1


def test_figures_render_as_png_for_notebooks(crashed_sim):
    png = plots.throughput(crashed_sim)._repr_png_()
    assert png.startswith(b"\x89PNG")


# --------------------------------------------------------------------------- recovery
def test_recovery_times_bars_and_target(crashed_sim):
    fig = plots.recovery_times(crashed_sim)
    labelled(fig)
    ax = fig.axes[0]
    assert hlines_at(ax, plots.TARGET_RECOVERY_SECONDS)
    reports = crashed_sim.recoveries
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height() > 0]
    measured = [p for p in ax.containers[1]]
    assert len(measured) == len(reports) and len(bars) >= len(reports)
    for bar, report in zip(measured, reports, strict=True):
        assert bar.get_height() == pytest.approx(report.wall_seconds)
        assert bar.get_y() + bar.get_height() == pytest.approx(report.downtime)


def test_recovery_vs_records_with_fit():
    rows = [
        {"records_replayed": n, "wall_seconds": 0.002 + n * 2e-6, "snapshot_interval": None}
        for n in (1000, 4000, 16000)
    ]
    fit = sweeps.fit_recovery(rows)
    fig = plots.recovery_vs_records(pd.DataFrame(rows), fit=fit)
    labelled(fig)
    ax = fig.axes[0]
    assert hlines_at(ax, 3.0)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    fitted = [line for line in ax.get_lines() if line.get_label().startswith("fit")]
    assert len(fitted) == 1
    assert max(fitted[0].get_xdata()) > fit.max_records(3.0)  # drawn past the target
    assert fig.simqueue_meta["fit"]["max_records"] == pytest.approx((3.0 - 0.002) / 2e-6)


def test_recovery_vs_snapshot_interval():
    rows = [
        {"snapshot_interval": iv, "records_replayed": iv * 600, "wall_seconds": iv * 600 * 2e-6}
        for iv in (2, 5, 10)
    ]
    fit = sweeps.fit_recovery(rows)
    fig = plots.recovery_vs_snapshot_interval(rows, fit=fit, records_per_second=600)
    labelled(fig)
    assert hlines_at(fig.axes[0], 3.0)
    assert fig.simqueue_meta["max_snapshot_interval"] == pytest.approx(3.0 / (600 * 2e-6))


# --------------------------------------------------------------------------- worker timeline
def test_attempts_frame_agrees_with_the_trace(misbehaving_sim):
    frame = plots.attempts_frame(misbehaving_sim)
    s = misbehaving_sim.summary()
    counts = frame.outcome.value_counts()
    assert len(frame) == s.attempts
    assert counts.get("completed", 0) == s.completed
    assert counts.get("failed", 0) == s.failures
    timeouts = counts.get("timeout (hung)", 0) + counts.get("timeout (late result ignored)", 0)
    assert timeouts == s.timeouts
    assert counts.get("timeout (late result ignored)", 0) == s.stale_results > 0
    assert (frame.end >= frame.start).all()


def test_attempts_interrupted_by_a_crash(crashed_sim):
    frame = plots.attempts_frame(crashed_sim)
    interrupted = frame[frame.outcome == "interrupted by crash"]
    crash_times = {t[0] for t in crashed_sim.trace if t[1] == "CRASH"}
    assert len(interrupted) > 0 and set(interrupted.end) <= crash_times


def test_worker_timeline_one_bar_per_attempt(misbehaving_sim):
    fig = plots.worker_timeline(misbehaving_sim)
    labelled(fig)
    ax = fig.axes[0]
    bars = sum(len(c.get_paths()) for c in ax.collections if (c.get_gid() or "").startswith("att"))
    assert bars == misbehaving_sim.summary().attempts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"completed", "failed", "timeout (hung)", "late result ignored"} <= set(legend)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worker 0", "worker 1", "worker 2"]


def test_worker_timeline_window_and_workers(crashed_sim):
    fig = plots.worker_timeline(crashed_sim, start=3.0, end=4.0, workers=range(4))
    data = fig.simqueue_data
    assert set(data.worker) <= {0, 1, 2, 3}
    assert (data.end >= 3.0).all() and (data.start <= 4.0).all()
    assert fig.axes[0].get_xlim() == (3.0, 4.0)


# --------------------------------------------------------------------------- states and WAL
def test_job_states(crashed_sim):
    fig = plots.job_states(crashed_sim)
    labelled(fig)
    labels = {line.get_label() for ax in fig.axes for line in ax.get_lines()}
    assert {"pending", "in flight", "completed", "dead"} <= labels
    assert len(shaded_spans(fig.axes[0])) == 2


def test_jobs_in_flight_have_a_panel_on_their_own_scale(crashed_sim):
    """At most one job per worker is in flight: beside hundreds pending it would run along
    zero; and a count of zero (dead) is drawn above the axis, not on it."""
    fig = plots.job_states(crashed_sim)
    (panel,) = [ax for ax in fig.axes if "in flight" in {ln.get_label() for ln in ax.get_lines()}]
    assert [ln.get_label() for ln in panel.get_lines()] == ["in flight"]
    assert panel.get_ylim()[1] <= crashed_sim.config.workers * 1.2
    assert all(ax.get_ylim()[0] < 0 for ax in fig.axes)


def test_the_durable_point_stays_visible_over_the_last_seq(crashed_sim):
    ax = plots.wal_size(crashed_sim).axes[1]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    last, durable = lines["last seq"], lines["durable up to seq"]
    assert durable.get_linestyle() == "--" and last.get_linewidth() > durable.get_linewidth()


def test_wal_size_marks_snapshots_and_the_durable_point():
    sim = Simulation(Config(seed=2, arrival=Poisson(100), workers=32, snapshot_interval=2.0))
    try:
        sim.run_until(7.0)
        fig = plots.wal_size(sim)
        labelled(fig)
        snaps = [t[0] for t in sim.trace if t[1] == "SNAPSHOT"]
        assert len(snaps) == 3
        marks = [
            line.get_xdata()[0]
            for line in fig.axes[0].get_lines()
            if line.get_linestyle() == "-." and list(line.get_ydata()) == [0, 1]
        ]
        assert marks == pytest.approx(snaps)
        labels = {line.get_label() for line in fig.axes[1].get_lines()}
        assert {"last seq", "durable up to seq"} <= labels
        assert fig.simqueue_meta["snapshots"] == snaps
    finally:
        sim.close()


# --------------------------------------------------------------------------- sweeps
def test_sweep_plot_with_theory_and_target():
    frame = pd.DataFrame(
        {
            "workers": [8, 16],
            "throughput": [28.0, 57.0],
            "predicted_throughput": [28.8, 57.6],
        }
    )
    fig = plots.sweep(frame, x="workers", y="throughput")
    labelled(fig)
    ax = fig.axes[0]
    assert hlines_at(ax, 200.0)
    assert {"M/M/c prediction", "simulated throughput"} <= {
        line.get_label() for line in ax.get_lines()
    }
    assert ax.get_ylabel() == "throughput (jobs/s)"


# --------------------------------------------------------------------------- legibility
def _all_figures(crashed_sim, misbehaving_sim):
    rows = [
        {"records_replayed": n, "wall_seconds": 0.002 + n * 2e-6, "snapshot_interval": n / 600}
        for n in (1000, 4000, 16000)
    ]
    fit = sweeps.fit_recovery(rows)
    sweep_rows = pd.DataFrame(
        {"workers": [8, 64, 128], "throughput": [28.0, 199.0, 200.0], "predicted_throughput": 0}
    ).assign(predicted_throughput=[28.8, 200.0, 200.0])
    return {
        "throughput": plots.throughput(crashed_sim, prediction=100.0),
        "job_states": plots.job_states(crashed_sim),
        "wal_size": plots.wal_size(crashed_sim),
        "worker_timeline": plots.worker_timeline(misbehaving_sim),
        "worker_timeline_window": plots.worker_timeline(crashed_sim, start=3.0, end=3.5),
        "recovery_times": plots.recovery_times(crashed_sim),
        "recovery_vs_records": plots.recovery_vs_records(pd.DataFrame(rows), fit=fit),
        "recovery_vs_snapshot_interval": plots.recovery_vs_snapshot_interval(
            rows, fit=fit, records_per_second=600
        ),
        "sweep": plots.sweep(sweep_rows, x="workers", y="throughput"),
    }


def test_every_figure_reads_well_at_notebook_size(crashed_sim, misbehaving_sim):
    """Every curve and marker inside its axes, no text below 7.5 pt (legends 9 pt), counts
    pluralised, and sized for a laptop: at most 10 inches wide at 100 dpi."""
    for name, fig in _all_figures(crashed_sim, misbehaving_sim).items():
        assert fig.dpi == plots.figure.DPI == 100, name
        assert fig.get_figwidth() <= 10, name
        reads_well(fig)


def test_the_check_finds_a_clipped_point_and_a_wrong_plural():
    """The legibility checks can fail: a point on the axes' edge, "1 workers"."""
    fig, ax = plots.figure.new_figure((6, 3))
    ax.plot([0, 1, 2], [0, 1, 2], "o")
    ax.set_xlim(0, 2)
    ax.set_title("Capacity of 1 workers")
    assert len(outside_points(fig)) >= 2 and bad_plurals(fig) == ["Capacity of 1 workers"]


def test_the_throughput_target_is_inside_the_axes_with_room_above(crashed_sim):
    ax = plots.throughput(crashed_sim).axes[0]
    assert ax.get_ylim()[1] >= plots.TARGET_THROUGHPUT * 1.1


def test_recovery_bars_are_labelled_with_the_measured_time(crashed_sim):
    fig = plots.recovery_times(crashed_sim)
    notes = [t.get_text() for t in fig.axes[0].texts]
    assert len(notes) == len(crashed_sim.recoveries)
    assert all(re.fullmatch(r"recovery \d+(\.\d)? ms", n) for n in notes), notes


def test_a_fit_limit_of_one_record_is_singular():
    assert plots.figure.plural(1, "record") == "1 record"
    assert plots.figure.plural(3_377_477, "record") == "3,377,477 records"


def test_job_labels_sit_on_the_visible_part_of_a_bar(crashed_sim):
    """A bar cut by the window's left edge is labelled inside the window, not half off it."""
    fig = plots.worker_timeline(crashed_sim, start=3.0, end=3.5)
    ax = fig.axes[0]
    xs = [t.get_position()[0] for t in ax.texts]
    assert xs and all(3.0 < x < 3.5 for x in xs)
