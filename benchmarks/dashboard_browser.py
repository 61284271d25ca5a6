"""The dashboard's slider-to-redraw time where a student meets it: JupyterLab in headless
Chromium, a slider moved with the keyboard, timed from the key press until the new plot image
has loaded in the page (the kernel's run, the PNG's trip over the websocket, the browser's
decoding). ``bench_dashboard --browser`` runs it; JupyterLab and the browser are started the
way the browser tests start them (``tests/browser/jupyter_browser.py``).
"""

from __future__ import annotations

import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_TESTS_BROWSER = Path(__file__).resolve().parents[1] / "tests" / "browser"
NOTEBOOK = "dashboard_only.ipynb"
_IMG = ".sq-dashboard-plot img, img.sq-dashboard-plot"
_LOADED = """([sel, before]) => {
  const img = document.querySelector(sel);
  return img && img.src !== before && img.complete && img.naturalWidth > 0;
}"""


def _write_notebook(folder: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    src = "from simqueue.lab.widgets import dashboard\ndash = dashboard()\ndash"
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb = new_notebook(cells=[new_code_cell(src)], metadata={"kernelspec": kernel})
    nbformat.write(nb, str(folder / NOTEBOOK))


def _driver() -> Any:
    """tests/browser/jupyter_browser.py, the browser tests' JupyterLab and Chromium driver."""
    if str(_TESTS_BROWSER) not in sys.path:
        sys.path.insert(0, str(_TESTS_BROWSER))
    return importlib.import_module("jupyter_browser")


def _press(page: Any, description: str, presses: int, target: float) -> dict[str, Any]:
    jb = _driver()
    before = page.locator(_IMG).first.get_attribute("src") or ""
    label = page.locator(".widget-label", has_text=description)
    handle = page.locator(".widget-slider").filter(has=label).locator(".noUi-handle").first
    handle.focus()
    start = time.perf_counter()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(_LOADED, arg=[_IMG, before], timeout=120_000, polling=10)
    seconds = time.perf_counter() - start
    jb.wait_idle(page)
    print(f"  in the browser: {description} +{presses}: {seconds:.3f} s", flush=True)
    return {"change": f"{description} +{presses}", "wall_s": seconds, "met": seconds <= target}


def measure_in_browser(changes: list[tuple[str, int]], target: float) -> dict[str, Any]:
    """Time each (slider, key presses) change in the browser; a skip reason where no browser
    or no Playwright can be had."""
    jb = _driver()

    chromium = jb.find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    if chromium is None:
        return {"skipped": "no Chromium (apt-get install chromium)"}
    with tempfile.TemporaryDirectory() as tmp, jb.lab_server(Path(tmp), []) as lab:
        _write_notebook(lab.root)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            jb.open_notebook(page, lab, NOTEBOOK)
            jb.run_all(page, 300)
            rows = [_press(page, d, n, target) for d, n in changes]
            browser.close()
    walls = [r["wall_s"] for r in rows]
    return {
        "changes": rows,
        "median_s": statistics.median(walls),
        "max_s": max(walls),
        "within_target": sum(r["met"] for r in rows),
        "target_met": statistics.median(walls) <= target,
    }
