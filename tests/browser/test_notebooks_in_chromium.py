"""The dashboard and the step view as a user meets them: JupyterLab in headless Chromium.

Each notebook is opened in a real JupyterLab (see ``jupyter_browser.py``), every cell is run
with JupyterLab's own command, and the widgets are driven the way a user drives them: the
workers and failure-rate sliders with the keyboard, the Step, Crash and Recover buttons with
the mouse. The test checks that the dashboard's plot and the WAL strip change, that no widget
shows as text or "Loading widget...", and that the browser console logged no error.

Screenshots go to ``exports/browser/`` (ignored by git) on every run; with
``SIMQUEUE_UPDATE_SCREENSHOTS=1`` they also replace ``docs/images/dashboard.png`` and
``docs/images/step_view.png``, the README's pictures. How long each slider change took to
redraw in the browser is written to ``exports/browser/timings.json`` and printed: a
measurement, not an assertion (``benchmarks/bench_dashboard.py --browser`` is the benchmark).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import jupyter_browser as jb
import pytest

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")

CHROMIUM = jb.find_chromium()
ARTIFACTS = jb.ROOT / "exports" / "browser"
DOCS_IMAGES = jb.ROOT / "docs" / "images"
RUN_ALL_TIMEOUT = 900  # seconds: notebook 05's sweeps on a loaded machine
NOTEBOOKS = ["05_throughput_dashboard.ipynb", "06_step_view.ipynb"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with jb.lab_server(tmp_path_factory.mktemp("lab"), NOTEBOOKS) as server:
        yield server


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page whose console errors and uncaught exceptions are collected."""
    context = browser.new_context(viewport={"width": 1500, "height": 1600})
    pg = context.new_page()
    pg.console_errors = []
    pg.on(
        "console",
        lambda m: pg.console_errors.append(m.text) if m.type == "error" else None,
    )
    pg.on("pageerror", lambda exc: pg.console_errors.append(f"uncaught: {exc}"))
    yield pg
    context.close()


def _console_errors(page) -> list[str]:
    return [e for e in page.console_errors if not any(b in e for b in jb.BENIGN_CONSOLE)]


def _save(element, name: str, readme: bool = False) -> Path:
    """A screenshot of ``element`` in the artifacts; a README picture too (``readme``) when
    SIMQUEUE_UPDATE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    element.screenshot(path=str(path))
    if readme and os.environ.get("SIMQUEUE_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        (DOCS_IMAGES / name).write_bytes(path.read_bytes())
    return path


def _slider_handle(scope, description: str):
    slider = scope.locator(".widget-slider").filter(
        has=scope.page.locator(".widget-label", has_text=re.compile(f"^{description}$"))
    )
    return slider.locator(".noUi-handle").first


def _plot_src(dashboard) -> str:
    return (
        dashboard.locator(".sq-dashboard-plot img, img.sq-dashboard-plot").first.get_attribute(
            "src"
        )
        or ""
    )


def _move_with_keyboard(page, dashboard, description: str) -> float:
    """Focus a slider's handle, press the right arrow once, and wait for the plot to be
    replaced; the seconds from the key press to the new image."""
    before = _plot_src(dashboard)
    handle = _slider_handle(dashboard, description)
    handle.focus()
    start = time.perf_counter()
    page.keyboard.press("ArrowRight")
    deadline = start + 120
    while _plot_src(dashboard) == before:
        assert time.perf_counter() < deadline, f"moving {description} never redrew the plot"
        page.wait_for_timeout(20)
    seconds = time.perf_counter() - start
    jb.wait_idle(page)
    return seconds


def _record_timing(key: str, value: object) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    path.write_text(json.dumps(data, indent=2))


def test_the_dashboard_runs_and_its_sliders_move_the_plot(lab, page):
    jb.open_notebook(page, lab, NOTEBOOKS[0])
    jb.run_all(page, RUN_ALL_TIMEOUT)
    assert jb.widget_problems(page) == []
    dashboard = page.locator(".sq-dashboard").first
    dashboard.scroll_into_view_if_needed()
    assert dashboard.is_visible()
    shot = dashboard.screenshot()
    workers = _move_with_keyboard(page, dashboard, "workers")
    failure = _move_with_keyboard(page, dashboard, "failure rate")
    assert "run " in dashboard.locator(".widget-html").last.inner_text()
    assert dashboard.screenshot() != shot, "the plot image did not change"
    _save(dashboard, "dashboard.png", readme=True)
    _record_timing("dashboard_slider_to_redraw_s", {"workers": workers, "failure rate": failure})
    print(
        f"in the browser, slider to redraw: workers {workers:.2f} s, failure rate {failure:.2f} s"
    )
    assert jb.widget_problems(page) == []
    assert _console_errors(page) == []


def _strip(view) -> str:
    return view.locator(".sq-wal-strip").first.inner_html()


def _press(page, view, name: str) -> None:
    view.get_by_role("button", name=name, exact=True).first.click()
    jb.wait_idle(page)
    page.wait_for_timeout(300)  # the widget's new HTML reaches the page after the reply


def test_the_step_view_steps_crashes_and_recovers(lab, page):
    jb.open_notebook(page, lab, NOTEBOOKS[1])
    jb.run_all(page, RUN_ALL_TIMEOUT)
    assert jb.widget_problems(page) == []
    view = page.locator(".sq-step-view").first
    view.scroll_into_view_if_needed()
    strips = [_strip(view)]
    for _ in range(20):  # not every event appends a record (a failure report, an ack)
        log = view.locator(".sq-event-log").first.inner_text()
        _press(page, view, "Step")
        assert view.locator(".sq-event-log").first.inner_text() != log, "Step showed no event"
        if _strip(view) != strips[-1]:
            break
    strips.append(_strip(view))
    assert strips[-1] != strips[-2], "20 steps did not move the WAL strip"
    _press(page, view, "Step x10")
    _save(view, "step_view.png", readme=True)
    strips.append(_strip(view))
    _press(page, view, "Crash")
    strips.append(_strip(view))
    assert strips[-1] != strips[-2], "Crash did not change the WAL strip"
    assert "down (crashed)" in view.locator(".sq-status").first.inner_text()
    _press(page, view, "Recover")
    strips.append(_strip(view))
    assert strips[-1] != strips[-2], "Recover did not change the WAL strip"
    assert "running" in view.locator(".sq-status").first.inner_text()
    assert "sq-replayed" in strips[-1] or "sq-snapshot" in strips[-1]
    _press(page, view, "Recover")  # bad input: shown in the widget, nothing changes
    assert "recover: the queue is running" in view.inner_text()
    assert _strip(view) == strips[-1]
    _save(view, "step_view_recovered.png")
    assert jb.widget_problems(page) == []
    assert _console_errors(page) == []
