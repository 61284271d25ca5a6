"""Every notebook runs top to bottom in a fresh kernel, and is committed without outputs.

The kernel is this interpreter's ipykernel (the venv's ``python -m ipykernel_launcher``), not
whatever a kernelspec named ``python3`` points to on this machine: a user-level or system-level
kernelspec could name another Python without simqueue installed, and ``make test`` on a fresh
clone must not depend on that. Each notebook runs with ``MPLBACKEND=Agg``, a private
``IPYTHONDIR`` (no user startup files) and ``SIMQUEUE_EXPORT_DIR`` in a temporary directory, so
nothing is written into the repository.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpec  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT = 180  # seconds per cell: generous, a loaded CI machine can be slow
EXPECTED = [
    "01_dispatch_and_ack.ipynb",
    "02_timeouts_retries_dead_letter.ipynb",
    "03_crash_and_replay.ipynb",
    "04_snapshots_and_recovery_time.ipynb",
    "05_throughput_dashboard.ipynb",
    "06_step_view.ipynb",
    "07_cost_of_durability.ipynb",
    "08_crash_point_explorer.ipynb",
    "09_corruption_and_salvage.ipynb",
    "10_one_enqueue_through_every_layer.ipynb",
    "11_metrics.ipynb",
]


class ThisInterpreterKernelManager(KernelManager):
    """A KernelManager whose kernel is always ``sys.executable -m ipykernel_launcher``.

    The kernel name stays ``python3`` so nbclient treats it as an ipykernel (it then keeps the
    kernel's IPython history in memory instead of a file)."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name=f"Python {sys.version.split()[0]} ({sys.prefix})",
                language="python",
            )
        return self._kernel_spec


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """The environment the kernel inherits."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("SIMQUEUE_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silence jupyter_core's migration warning
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return tmp_path


def execute(path: Path, cwd: Path) -> tuple[object, float]:
    """Run ``path`` top to bottom in a fresh kernel started in ``cwd``; raise on any error."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        kernel_manager_class=ThisInterpreterKernelManager,
        resources={"metadata": {"path": str(cwd)}},
        allow_errors=False,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def test_every_expected_notebook_is_there_and_no_other():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kernel_env):
    try:
        nb, seconds = execute(path, NOTEBOOK_DIR)
    except CellExecutionError as exc:  # the message holds the failing cell and its traceback
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # every notebook ends its checks by saying so: the asserts really ran
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "hold" in text or "agrees" in text, f"{path.name}: the claim checks printed nothing"
    print(f"{path.name}: {seconds:.1f} s")


@pytest.mark.slow
def test_notebook_runs_from_the_repository_root(kernel_env):
    """Notebooks use the installed package, not paths relative to notebooks/."""
    execute(NOTEBOOKS[0], ROOT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state; clear it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_tells_a_checked_story(path):
    """What you will see, the seed in the first code cell, exercises, asserts."""
    nb = nbformat.read(path, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and "What you will see" in nb.cells[0].source
    assert code[0].lstrip().startswith("SEED = ")
    assert "## Exercises" in prose and "## What this shows" in prose
    assert sum(src.count("assert ") for src in code) >= 3
