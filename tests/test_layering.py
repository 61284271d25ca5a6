"""Rules of the engine that import contracts cannot state.

``lint-imports`` (run by ``make test``, contracts in ``pyproject.toml``) checks that dependencies
point inward and that no package has an import cycle. These tests check the rest: the engine
(``simqueue.core`` and ``simqueue.sim``) imports the standard library only (an allow-list; the
import contract is a deny-list of the packages simqueue knows), reads the machine's clock only
through ``simqueue/core/clock.py``, draws randomness only from explicit seeded streams, and its C
accelerator needs nothing but Python and the C library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simqueue"

#: Every module of the engine, as paths relative to the package.
ENGINE = sorted(
    str(p.relative_to(PACKAGE))
    for layer in ("core", "sim")
    for p in (PACKAGE / layer).rglob("*.py")
)

#: Engine modules allowed to read the machine's clock: the clock itself.
CLOCK_MODULES = {"core/clock.py"}


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_engine_has_modules_to_check() -> None:
    assert "core/queue.py" in ENGINE and "sim/engine.py" in ENGINE


@pytest.mark.parametrize("module", ENGINE)
def test_engine_module_imports_only_the_standard_library(module: str) -> None:
    outside = {
        name
        for name in _imports(module)
        if name not in sys.stdlib_module_names and name != "simqueue"
    }
    assert not outside, f"simqueue/{module} imports {sorted(outside)}"


@pytest.mark.parametrize("module", [m for m in ENGINE if m not in CLOCK_MODULES])
def test_engine_reads_time_only_through_the_clock_module(module: str) -> None:
    assert "time" not in _imports(module), f"simqueue/{module} imports time: inject a Clock instead"


@pytest.mark.parametrize("module", ENGINE)
def test_engine_draws_randomness_only_from_explicit_streams(module: str) -> None:
    """``random.Random(seed)`` instances only: the module-level functions share one hidden
    global stream, and a simulation would stop being reproducible from its seed."""
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert used <= {"Random"}, f"simqueue/{module} uses random.{sorted(used - {'Random'})}"


@pytest.mark.parametrize("source", ["core/wal/_codec.c", "sim/_tracepack.c"])
def test_the_c_accelerators_need_only_python_and_the_c_library(source: str) -> None:
    text = (PACKAGE / source).read_text(encoding="utf-8")
    includes = {line.split()[1] for line in text.splitlines() if line.startswith("#include")}
    assert includes <= {"<Python.h>", "<stdint.h>", "<string.h>"}, sorted(includes)


def test_importing_the_engine_loads_no_outer_layer_package() -> None:
    code = (
        "import sys, simqueue, simqueue.sim.simulation, simqueue.core.queue\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'prometheus_client', 'yaml')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
