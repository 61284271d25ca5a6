"""simqueue.lab.export: PNG + SVG of the figure, CSV of its data, JSON with seed, config, version;
enough to reproduce the plot."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import simqueue  # noqa: E402
from simqueue import Config, Poisson, Simulation
from simqueue.lab import frames, plots  # noqa: E402
from simqueue.lab.export import default_folder, export  # noqa: E402

CONFIG = Config(seed=11, arrival=Poisson(80), workers=16, failure_rate=0.2, fsync="always")


@pytest.fixture(scope="module")
def sim():
    """Read-only for every test below."""
    s = Simulation(CONFIG)
    s.run_until(3.0)
    s.crash("process")
    s.recover()
    s.run_until(6.0)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def export_dir(tmp_path, monkeypatch):
    folder = tmp_path / "exported"
    monkeypatch.setenv("SIMQUEUE_EXPORT_DIR", str(folder))
    return folder


def test_a_figure_exports_png_svg_csv_and_json(sim, export_dir):
    fig = plots.throughput(sim)
    paths = export(fig, "throughput")
    assert set(paths) == {"png", "svg", "csv", "json"}
    for kind, path in paths.items():
        assert Path(path) == export_dir / f"throughput.{kind}"
    assert Path(paths["png"]).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert ET.parse(paths["svg"]).getroot().tag.endswith("svg")
    csv = pd.read_csv(paths["csv"])
    assert list(csv.columns) == list(fig.simqueue_data.columns)
    assert len(csv) == len(fig.simqueue_data)
    meta = json.loads(Path(paths["json"]).read_text())
    assert meta["seed"] == 11
    assert meta["simqueue_version"] == simqueue.__version__
    assert meta["config"] == json.loads(json.dumps(CONFIG.to_dict()))
    settable = {f.name for f in dataclasses.fields(Config) if f.init}
    assert set(meta["config"]) == settable  # every config value
    assert meta["plot"] == "throughput"
    assert meta["files"] == {k: Path(v).name for k, v in paths.items()}


def test_the_json_is_enough_to_reproduce_the_data(sim):
    paths = export(plots.throughput(sim), "again")
    meta = json.loads(Path(paths["json"]).read_text())
    config = Config.from_dict(meta["config"])
    assert config == CONFIG
    with Simulation(config) as rerun:
        for crash in meta["crashes"]:
            rerun.run_until(crash["time"])
            rerun.crash(crash["kind"], tear=crash["tear"])
            rerun.recover()
        rerun.run_until(meta["simulated_until"])
        again = plots.throughput(rerun).simqueue_data
        measured = sum(r.wall_seconds for r in rerun.recoveries)
    original = pd.read_csv(paths["csv"])
    # A recovery's measured wall time advances the simulated clock, so two runs whose
    # recoveries took different times (a loaded machine) see their jobs shifted by that
    # difference: at 80 jobs/s a few jobs can cross the end of the run; the work is the same.
    shift = abs(measured - sum(r.wall_seconds for r in sim.recoveries))
    slack = 3 + math.ceil(2 * CONFIG.arrival.rate * shift)
    assert again["completed"].max() == pytest.approx(original["completed"].max(), abs=slack)
    assert len(again) == pytest.approx(len(original), abs=2)


def test_outside_a_checkout_the_default_folder_is_exports_in_the_working_directory(
    sim, tmp_path, monkeypatch
):
    monkeypatch.delenv("SIMQUEUE_EXPORT_DIR")
    monkeypatch.chdir(tmp_path)
    paths = export(plots.job_states(sim), "states")
    assert Path(paths["png"]) == (tmp_path / "exports" / "states.png").absolute()


def test_inside_a_checkout_every_folder_exports_to_the_checkouts_exports(
    sim, tmp_path, monkeypatch
):
    """A notebook runs in ``notebooks/``, the demo at the top: both land in one ``exports/``."""
    monkeypatch.delenv("SIMQUEUE_EXPORT_DIR")
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[project]\nname = "simqueue"\n')
    written = []
    for cwd in (checkout / "notebooks", checkout):
        monkeypatch.chdir(cwd)
        assert default_folder() == checkout / "exports"
        written.append(Path(export(plots.job_states(sim), f"states-{cwd.name}")["png"]))
    assert {p.parent for p in written} == {checkout / "exports"}


def test_every_returned_path_is_absolute(sim, tmp_path, monkeypatch):
    """The paths are what a status line prints: they must name the file from anywhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIMQUEUE_EXPORT_DIR", "relative-exports")
    paths = export(plots.job_states(sim), "states")
    assert all(Path(p).is_absolute() for p in paths.values())
    assert Path(paths["png"]) == tmp_path / "relative-exports" / "states.png"
    relative = export(plots.job_states(sim), Path("mine") / "states", folder=None)
    assert all(Path(p).is_absolute() for p in relative.values())


def test_a_stem_with_a_directory_is_used_as_given(sim, tmp_path):
    paths = export(plots.wal_size(sim), tmp_path / "mine" / "wal.png")
    assert Path(paths["json"]) == tmp_path / "mine" / "wal.json"
    assert Path(paths["svg"]).exists()


def test_folder_argument(sim, tmp_path):
    paths = export(plots.recovery_times(sim), "rec", folder=tmp_path / "f")
    assert Path(paths["csv"]).parent == tmp_path / "f"
    csv = pd.read_csv(paths["csv"])
    assert list(csv["records_replayed"]) == [r.records_replayed for r in sim.recoveries]


def test_a_dataframe_exports_csv_and_json_only(sim):
    paths = export(frames.jobs_frame(sim), "jobs", config=sim.config)
    assert set(paths) == {"csv", "json"}
    meta = json.loads(Path(paths["json"]).read_text())
    assert meta["seed"] == 11 and meta["rows"] == len(frames.jobs_frame(sim))


def test_a_simulation_exports_its_throughput(sim):
    paths = export(sim, "sim")
    meta = json.loads(Path(paths["json"]).read_text())
    assert meta["plot"] == "throughput" and meta["seed"] == 11


def test_a_plain_figure_with_explicit_data_and_config():
    fig = Figure()
    fig.subplots().plot([0, 1], [2, 3])
    data = [{"x": 0, "y": 2}, {"x": 1, "y": 3}]
    paths = export(fig, "plain", data=data, config=CONFIG, note="by hand", value=float("nan"))
    meta = json.loads(Path(paths["json"]).read_text())
    assert meta["note"] == "by hand" and meta["value"] is None  # NaN is not JSON
    assert pd.read_csv(paths["csv"]).to_dict("records") == data


def test_without_config_the_json_says_so():
    fig = Figure()
    fig.subplots()
    meta = json.loads(Path(export(fig, "bare")["json"]).read_text())
    assert meta["config"] is None and meta["seed"] is None
    assert meta["simqueue_version"] == simqueue.__version__


def test_refuses_what_it_cannot_export():
    with pytest.raises(TypeError, match="Figure"):
        export(42, "nope")


def test_simqueue_export_is_the_function_whichever_way_it_is_imported(sim, export_dir):
    """The package root's ``export`` is the function; its module is ``simqueue.lab.export``,
    and importing that module leaves the root's name alone."""
    module = importlib.import_module("simqueue.lab.export")
    from simqueue import export as imported

    assert imported is simqueue.export is module.export is export
    paths = simqueue.export(plots.throughput(sim), "via-package")
    assert Path(paths["png"]).exists()
    assert Path(imported(plots.throughput(sim), "via-import")["svg"]).exists()


def test_exports_carry_no_timestamps_but_the_json_one(sim):
    """Exporting the same figure twice gives the same CSV, and the SVG has no date in it, so
    re-exported files diff cleanly."""
    fig = plots.throughput(sim)
    a = export(fig, "one")
    b = export(fig, "two")
    assert Path(a["csv"]).read_bytes() == Path(b["csv"]).read_bytes()
    svg = Path(a["svg"]).read_text()
    assert "<dc:date>" not in svg and f"simqueue {simqueue.__version__}" in svg
