"""``simqueue demo``: a real server process, a real kill -9, a measured recovery, a plot."""

from __future__ import annotations

import json
import os

from simqueue.cli.demo import DEFAULT_JOBS, generate_jobs
from simqueue.cli.main import ExitCode, main


def test_demo_kills_restarts_and_loses_nothing(tmp_path, capsys) -> None:
    out = tmp_path / "exports"
    code = main(["demo", "--count", "400", "--workers", "4", "--out", str(out), "--timeout", "90"])
    text = capsys.readouterr().out
    assert code == ExitCode.OK, text
    steps = [line for line in text.splitlines() if line.startswith("[")]
    assert [s[:5] for s in steps] == [f"[{i}/7]" for i in range(1, 8)]
    assert "kill -9" in steps[3] and "recovery measured by the server" in steps[4]
    assert "400/400 acknowledged jobs present, 0 lost, 0 unfinished" in steps[6]
    assert "WAL verify: clean" in steps[6]
    assert "OK: nothing acknowledged was lost" in text
    png = out / "demo_recovery.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["ok"] and summary["jobs"] == 400
    assert summary["recovery_seconds"] == summary["recovery"]["wall_seconds"] > 0
    assert summary["check"]["missing"] == 0 and summary["server_exit_code"] == 0
    c = summary["final_counts"]
    assert c["completed"] + c["dead"] == 400
    assert (out / "demo_timeline.csv").read_text().startswith("time,phase,pending")


def test_demo_refuses_a_bad_job_file(tmp_path, capsys) -> None:
    bad = tmp_path / "jobs.json"
    bad.write_text('[{"id": "a"}, {"id": "a"}]')
    code = main(["demo", "--jobs", str(bad), "--out", str(tmp_path / "x")])
    assert code == ExitCode.BAD_INPUT
    assert "duplicate id" in capsys.readouterr().err


def test_demo_refuses_a_used_data_dir(tmp_path, capsys) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "something").write_text("x")
    code = main(["demo", "--data-dir", str(tmp_path / "d"), "--out", str(tmp_path / "x")])
    assert code == ExitCode.BAD_INPUT
    assert "not empty" in capsys.readouterr().err


def test_shipped_demo_jobs_match_the_generator() -> None:
    with open(DEFAULT_JOBS, encoding="utf-8") as fh:
        assert json.load(fh) == generate_jobs(2000)
    assert os.path.basename(DEFAULT_JOBS) == "jobs_demo.json"


def test_the_finished_rate_is_windowed_and_per_phase() -> None:
    from simqueue.cli.demo.timeline import Sample, finished_rate

    points = [Sample(t / 10, "before", 0, 0, 10 * t, 0) for t in range(6)]  # 100 jobs/s
    rates = finished_rate(points)
    assert [t for t, _ in rates] == [0.2, 0.3, 0.4, 0.5]  # windows shorter than 0.2 s give none
    assert all(abs(r - 100) < 1e-6 for _, r in rates)


def _timeline():
    """A made-up demo: 100 jobs on 4 workers, killed at 1 s, back at 1.5 s, done at 3 s."""
    from simqueue.cli.demo.timeline import Marks, Sample, Timeline

    tl = Timeline(t0=0.0)
    for i in range(31):
        t = i / 10
        if 1.0 < t < 1.5:
            continue
        done = min(100, int(t * 40))
        flight = 0 if done == 100 else 4
        tl.samples.append(
            Sample(t, "before" if t <= 1.0 else "after", 100 - done - flight, flight, done, 0)
        )
    tl.marks = Marks(enqueued=0.0, killed=1.0, ready=1.5, done=3.0)
    return tl


def test_the_demo_plot_draws_both_targets_and_in_flight_on_its_own_axes() -> None:
    from plotcheck import reads_well

    from simqueue.cli.demo.outputs import TARGET_RECOVERY, plot

    fig = plot(_timeline(), {"jobs": 100, "workers": 4, "recovery_seconds": 0.012})
    counts, flight, rate = fig.axes
    assert {line.get_label() for line in flight.get_lines()} >= {"in flight"}
    assert "in flight" not in {line.get_label() for line in counts.get_lines()}
    assert flight.get_ylim()[1] < 10  # the scale of 4 workers, not of 100 jobs
    assert any(list(line.get_ydata()) == [200, 200] for line in rate.get_lines())
    deadline = [line for line in counts.get_lines() if "recovery target" in line.get_label()]
    assert len(deadline) == 1 and deadline[0].get_xdata()[0] == 1.0 + TARGET_RECOVERY
    assert counts.get_xlim()[1] > 1.0 + TARGET_RECOVERY  # the target line is inside the axes
    reads_well(fig)


def test_the_demo_plot_reads_zero_in_flight_and_zero_finished_while_the_server_is_down() -> None:
    from simqueue.cli.demo.outputs import plot

    fig = plot(_timeline(), {"jobs": 100, "workers": 4, "recovery_seconds": 0.012})
    counts, flight, rate = fig.axes
    for ax in (flight, rate):
        spans = [
            (list(line.get_xdata()), list(line.get_ydata()))
            for line in ax.get_lines()
            if list(line.get_ydata()) == [0, 0]
        ]
        assert ([1.0, 1.5], [0, 0]) in spans, ax.get_ylabel()
    assert not any(  # the counts are unknown while down, not zero
        list(line.get_xdata()) == [1.0, 1.5] for line in counts.get_lines()
    )
