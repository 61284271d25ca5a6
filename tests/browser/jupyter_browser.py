"""JupyterLab in headless Chromium, driven through Playwright: what the browser tests (and the
in-browser dashboard benchmark) share.

:func:`lab_server` starts JupyterLab on 127.0.0.1 (a free port, a random token, ``--allow-root``
so it also runs as root) over a temporary copy of the notebooks, so nothing the browser runs or
autosaves touches the repository. Its configuration, data and runtime directories are private
too: the kernel is this interpreter (as in ``tests/lab/test_notebooks.py``), and JupyterLab's
news announcements, which would fetch from the internet, are switched off. The app is exposed in
the page (``window.jupyterapp``), so the tests run cells with JupyterLab's own commands.

:func:`find_chromium` looks for the system browser (Debian's ``chromium``); Playwright is told to
use it (``executable_path``) and never downloads one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Browser console messages that are not errors of the page under test.
BENIGN_CONSOLE = ("favicon",)

_NOTEBOOK_STATE = """() => {
  const app = window.jupyterapp;
  const nb = app && app.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext) return {ready: false};
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of cells) {
    for (let i = 0; i < c.model.outputs.length; i++) {
      const o = c.model.outputs.get(i);
      if (o.type === 'error') {
        const j = o.toJSON();
        errors.push(j.ename + ': ' + j.evalue);
      }
    }
  }
  return {
    ready: true,
    kernel: kernel ? kernel.status : 'none',
    pending: cells.filter(c => c.model.executionCount === null).length,
    cells: cells.length,
    errors: errors,
  };
}"""


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab: where it listens, its token, the folder it serves."""

    port: int
    token: str
    root: Path
    log: Path

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}&reset"


def _private_dirs(base: Path) -> dict[str, str]:
    """Environment for a JupyterLab that reads no user configuration and uses this Python."""
    config, data, runtime, ipython = (base / n for n in ("config", "data", "runtime", "ipython"))
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    kernel = data / "kernels" / "python3"
    kernel.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (simqueue)", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec))
    for d in (runtime, ipython, base / "exports"):
        d.mkdir(parents=True, exist_ok=True)
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(data),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(ipython),
        "SIMQUEUE_EXPORT_DIR": str(base / "exports"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }


def _wait_ready(server: LabServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{server.port}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {server.log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer in {timeout:.0f} s: {server.log}")


@contextlib.contextmanager
def lab_server(base: Path, notebooks: list[str], timeout: float = 120.0) -> Iterator[LabServer]:
    """JupyterLab over a copy of ``notebooks`` in ``base/work``, stopped on exit."""
    work = base / "work"
    work.mkdir(parents=True)
    for name in notebooks:
        shutil.copy(NOTEBOOKS / name, work / name)
    env = {**os.environ, **_private_dirs(base)}
    env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as for a user
    server = LabServer(free_port(), secrets.token_hex(16), work, base / "jupyterlab.log")
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={server.port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={server.token}",
        f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(server.log, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(server, proc, timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def notebook_state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(_NOTEBOOK_STATE))


def open_notebook(page: Any, server: LabServer, name: str, timeout: float = 120.0) -> None:
    """Open ``name`` and wait until its kernel is idle."""
    page.goto(server.url(name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = notebook_state(page)
        if state.get("ready") and state["kernel"] == "idle":
            return
        page.wait_for_timeout(250)
    raise TimeoutError(f"{name}: the kernel never became idle ({notebook_state(page)})")


def run_all(page: Any, timeout: float) -> dict[str, Any]:
    """Run every cell (JupyterLab's own command) and wait until all have run and the kernel is
    idle; raises at the first error output."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        state = notebook_state(page)
        if state["errors"]:
            raise AssertionError(f"a cell failed in the browser: {state['errors']}")
        if state["pending"] == 0 and state["kernel"] == "idle":
            return state
    raise TimeoutError(f"cells still running after {timeout:.0f} s: {state}")


def wait_idle(page: Any, timeout: float = 60.0) -> None:
    """Wait until the kernel has finished what a widget event started."""
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(100)
    while time.monotonic() < deadline:
        if notebook_state(page)["kernel"] == "idle":
            return
        page.wait_for_timeout(100)
    raise TimeoutError("the kernel stayed busy")


def widget_problems(page: Any) -> list[str]:
    """Outputs where a widget did not render: still "Loading widget...", an error displaying
    it, or its text form (``Dashboard(children=...``) shown instead of the widget."""
    texts: list[str] = page.evaluate(
        "() => [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)"
    )
    bad = []
    for t in texts:
        head = t.strip()[:80]
        unrendered = "Loading widget" in t or "Error displaying widget" in t
        if unrendered or head.startswith(("Dashboard(", "StepView(", "VBox(", "HBox(")):
            bad.append(head)
    return bad
