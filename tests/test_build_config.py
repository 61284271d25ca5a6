"""The build configuration setuptools reads on every install warns about nothing (a user should
not wonder whether the install went wrong), and still declares the WAL codec's C extension, as
optional: without a compiler the install goes on in pure Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Reads setup.py and pyproject.toml as an install does, with every setuptools warning an error,
#: and prints the extension modules it declares.
READ_CONFIG = """
import runpy, sys, warnings
from setuptools.warnings import SetuptoolsWarning
import setuptools

warnings.simplefilter("error", SetuptoolsWarning)
declared = []
real_setup = setuptools.setup
def setup(**kwargs):
    dist = real_setup(**kwargs)
    declared.extend((e.name, e.sources, e.optional) for e in dist.ext_modules or [])
    return dist
setuptools.setup = setup
sys.argv = ["setup.py", "--name"]
runpy.run_path("setup.py", run_name="__main__")
print(declared)
"""


def test_reading_the_build_configuration_raises_no_setuptools_warning() -> None:
    run = subprocess.run(
        [sys.executable, "-c", READ_CONFIG], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "simqueue"
    assert lines[-1] == (
        "[('simqueue.core.wal._codec', ['simqueue/core/wal/_codec.c'], True), "
        "('simqueue.sim._tracepack', ['simqueue/sim/_tracepack.c'], True)]"
    )
