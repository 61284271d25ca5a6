"""The README's examples run as written (in a scratch directory), so the docs match the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(tmp_path, index: int) -> None:
    (tmp_path / "data").mkdir()
    run = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr


def test_the_first_example_prints_what_its_comments_say(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = run.stdout.splitlines()
    assert lines[0].startswith("t=5.004s COMPLETE job-992 attempt 1 on worker 45: ACK")
    assert "replayed 3245" in lines[1]
    # The outage includes the measured recovery time (milliseconds, machine-dependent), so the
    # rate is only "about" what the comment says.
    rate, unit = lines[2].split()
    assert unit == "jobs/s" and 180 <= int(rate) <= 186
