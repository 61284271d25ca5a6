"""The package as it would be published: ``python -m build`` makes the sdist, then the wheel from
that sdist; the wheel, installed into a new virtual environment, runs the README's examples and
``simqueue --version``.

What it costs: about 30 s (the build runs in pip's isolated build environment, which installs
setuptools and wheel from pip's cache; the C accelerator is compiled once). It is marked
``package`` and runs in ``make test``; ``pytest -m 'not package'`` leaves it out.

The new environment gets the wheel with ``--no-deps``; the wheel's dependencies (pandas,
matplotlib, ...) come from this test environment's site-packages through a path file, because
installing them afresh would take minutes. That still proves the wheel works: the only simqueue
on the new environment's path is the wheel's (checked: the editable install of this checkout is
not on it, the examples run outside the checkout), ``pip check`` confirms the wheel's declared
dependencies are all satisfied there, and the console script is the wheel's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

import simqueue

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.S)
#: What the README and notebooks use, which the sdist must carry.
SDIST_HAS = [
    "LICENSE",
    "CHANGELOG.md",
    "README.md",
    "pyproject.toml",
    "notebooks/01_dispatch_and_ack.ipynb",
    "data/jobs_small.json",
    "data/scenarios/power_cut.yaml",
    "configs/default.yaml",
    "configs/sweep.yaml",
    "docs/scale.md",
    "simqueue/py.typed",
    "simqueue/core/wal/_codec.c",
    "simqueue/sim/_tracepack.c",
]

pytestmark = pytest.mark.package


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _source_tree(dst: Path) -> Path:
    """The files a fresh clone of this checkout has (tracked, or new and not ignored)."""
    listed = _run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            (dst / name).write_bytes(src.read_bytes())
    return dst


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to build from")
    src = _source_tree(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)])
    (sdist,) = out.glob("simqueue-*.tar.gz")
    (wheel,) = out.glob("simqueue-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment with the wheel installed (``--no-deps``, see the module docstring)."""
    env = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    (purelib / "test-env-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python")]
    _run([*pip, "install", "--no-deps", "--no-index", "--quiet", str(dist["wheel"])])
    _run([*pip, "check"])
    return env


def test_the_sdist_carries_what_the_readme_and_notebooks_use(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    missing = [n for n in SDIST_HAS if n not in names]
    assert not missing, missing
    assert not [n for n in names if n.endswith((".pyc", ".so"))]


def test_the_wheel_declares_license_urls_typing_and_one_version(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = whl.namelist()
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = whl.read(meta).decode()
    assert f"Version: {simqueue.__version__}\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert "Classifier: Typing :: Typed\n" in metadata
    for label in ("Homepage", "Source", "Issues", "Changelog"):
        assert re.search(rf"^Project-URL: {label}, https://github\.com/simqueue/", metadata, re.M)
    assert re.search(r"^Requires-Dist: tqdm", metadata, re.M)
    assert re.search(r"^Requires-Dist: dask\[distributed\].*extra == \"cluster\"", metadata, re.M)
    assert "simqueue/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_installed_wheel_is_the_simqueue_that_runs(venv: Path, tmp_path: Path) -> None:
    code = (
        "import importlib.metadata as m, simqueue; "
        "print(simqueue.__file__); print(m.version('simqueue'), simqueue.__version__)"
    )
    lines = _run([str(venv / "bin" / "python"), "-c", code], cwd=tmp_path).stdout.split("\n")
    assert lines[0].startswith(str(venv)), lines[0]  # not this checkout's editable install
    assert lines[1] == f"{simqueue.__version__} {simqueue.__version__}"
    version = _run([str(venv / "bin" / "simqueue"), "--version"], cwd=tmp_path).stdout
    assert version.strip() == f"simqueue {simqueue.__version__}"


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_the_readme_examples_run_from_the_installed_wheel(
    venv: Path, tmp_path: Path, index: int
) -> None:
    (tmp_path / "data").mkdir()
    env = {"MPLBACKEND": "Agg", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    _run([str(venv / "bin" / "python"), "-c", EXAMPLES[index]], cwd=tmp_path, env=env)
