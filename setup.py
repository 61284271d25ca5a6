"""The optional C accelerators: the WAL codec (simqueue/core/wal/accel.py says what it does) and
the trace packer (simqueue/sim/tracelog.py).

Everything else about the package is declared in pyproject.toml. The extensions are declared here
because setuptools still calls its pyproject.toml table for extension modules experimental and
warns about it on every build. ``optional=True``: without a C compiler the build goes on and
simqueue runs in pure Python.
"""

import warnings

from setuptools import Extension, setup
from setuptools.warnings import InformationOnly

# An editable install (`pip install -e .`, what `make` runs) would end with setuptools' reminder
# that a folder named like the package in the working directory takes precedence over the
# install. In this checkout that folder is the install (the editable finder points at it), so
# the reminder would only leave a user wondering what went wrong.
warnings.filterwarnings("ignore", message="Editable installation", category=InformationOnly)

setup(
    ext_modules=[
        Extension(
            "simqueue.core.wal._codec",
            sources=["simqueue/core/wal/_codec.c"],
            optional=True,
        ),
        Extension(
            "simqueue.sim._tracepack",
            sources=["simqueue/sim/_tracepack.c"],
            optional=True,
        ),
    ]
)
