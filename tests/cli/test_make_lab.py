"""`make lab` is the quick start's main command: it installs the notebooks' extra and starts
JupyterLab on this machine only, on the notebooks folder, and prints the URL with its token."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL = re.compile(r"http://127\.0\.0\.1:\d+/lab\?token=[0-9a-f]+")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _lab_command(*make_args: str) -> list[str]:
    """The command `make lab` would run last (make -n prints it without running anything)."""
    run = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "--no-print-directory", "lab", *make_args],
        capture_output=True,
        text=True,
        check=True,
    )
    return shlex.split(run.stdout.strip().splitlines()[-1])


def test_make_lab_installs_the_lab_extra_first(tmp_path) -> None:
    """On a fresh clone (no venv yet) the target creates one and installs `.[lab]`."""
    run = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "lab", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "pip install --quiet -e '.[lab]'" in run.stdout


def test_make_lab_serves_the_notebooks_on_localhost_only() -> None:
    cmd = _lab_command()
    assert cmd[0].endswith("/bin/jupyter") and cmd[1] == "lab"
    assert "--ip=127.0.0.1" in cmd
    assert "--ServerApp.root_dir=notebooks" in cmd
    assert (ROOT / "notebooks").is_dir()


def test_make_lab_allows_root_only_as_root() -> None:
    is_root = os.geteuid() == 0
    assert ("--allow-root" in _lab_command()) is is_root


def test_the_lab_extra_has_what_the_notebooks_need() -> None:
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", req)[0] for req in extra["lab"]}
    assert {"jupyterlab", "ipywidgets"} <= names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str, deadline: float) -> int:
    """The HTTP status of ``url``, retried while the server still refuses connections (it prints
    its URL just before its event loop starts accepting them)."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return int(resp.status)
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jupyterlab") is None, reason="needs .[lab]")
def test_make_lab_prints_a_url_with_its_token_that_answers(tmp_path) -> None:
    """The server really starts (from this interpreter's venv) and its printed URL opens the lab;
    the server is stopped at the end."""
    cmd = _lab_command(f"VENV={Path(sys.executable).parent.parent}", f"LAB_PORT={_free_port()}")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "BROWSER": "true"}
    proc = subprocess.Popen(
        [*cmd, "--no-browser"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 120  # a bound on a hang, not a speed check
        assert proc.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
            found = URL.search(line)
            url = found.group(0) if found else None
        assert url, "JupyterLab printed no URL with a token"
        assert _status(url, deadline) == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
