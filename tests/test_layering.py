"""Dependencies point inward: the engine uses only the standard library and never reads the
machine's clock outside ``clock.py``; the outer layer may use pandas, matplotlib and friends."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "simqueue"

#: The engine, innermost first (see the architecture in README.md / docs/semantics.md).
ENGINE = [
    "errors",
    "accel",
    "clock",
    "jobs",
    "fs",
    "wal",
    "snapshot",
    "store",
    "kernel",
    "distributions",
    "config",
    "workers",
    "trace",
    "engine",
    "invariants",
    "simulation",
    "theory",
    "faults",
    "crashsim",
]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("module", ENGINE)
def test_engine_module_imports_only_the_standard_library(module: str) -> None:
    outside = {
        name
        for name in _imports(module)
        if name not in sys.stdlib_module_names and name != "simqueue"
    }
    assert not outside, f"simqueue/{module}.py imports {sorted(outside)}"


# crashsim is a campaign driver, not part of the engine's behaviour: it times its own runs.
@pytest.mark.parametrize("module", [m for m in ENGINE if m not in ("clock", "crashsim")])
def test_engine_reads_time_only_through_the_clock_module(module: str) -> None:
    assert "time" not in _imports(module), (
        f"simqueue/{module}.py imports time: inject a Clock instead"
    )


def test_the_c_accelerator_needs_only_python_and_the_c_library() -> None:
    source = (PACKAGE / "_codec.c").read_text(encoding="utf-8")
    includes = {line.split()[1] for line in source.splitlines() if line.startswith("#include")}
    assert includes <= {"<Python.h>", "<stdint.h>", "<string.h>"}, sorted(includes)


def test_importing_the_engine_loads_no_outer_layer_package() -> None:
    code = (
        "import sys, simqueue, simqueue.simulation, simqueue.store\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'ipywidgets', 'prometheus_client', 'yaml')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("module", ENGINE)
def test_engine_draws_randomness_only_from_explicit_streams(module: str) -> None:
    """``random.Random(seed)`` instances only: the module-level functions share one hidden
    global stream, and a simulation would stop being reproducible from its seed."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "random"
    }
    assert used <= {"Random"}, f"simqueue/{module}.py uses random.{sorted(used - {'Random'})}"
