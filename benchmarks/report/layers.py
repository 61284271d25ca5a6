"""Which part of simqueue a profiled file belongs to, in profiles recorded before and after the
package was split into layers.

A profile's ``by_file`` rows (:func:`benchmarks.profiling.profile_call`) name files relative to
the repository (``simqueue/core/queue.py``) and group built-ins by kind (``built-in: _struct``).
Time is attributed by package prefix, so a module split further stays where it was counted.
Results recorded with the flat package name its modules (``simqueue/store.py``):
:data:`FLAT_MODULES` says where each of them lives in the layers, so old and new results give
the same attribution.
"""

from __future__ import annotations

from typing import Any

WAL = "simqueue.core.wal"
CORE = "simqueue.core"
SIM = "simqueue.sim"

# (path prefix, label), the most specific first: the WAL is a package inside the core.
LAYERS: tuple[tuple[str, str], ...] = (
    ("simqueue/core/wal/", WAL),
    ("simqueue/core/", CORE),
    ("simqueue/sim/", SIM),
    ("simqueue/service/", "simqueue.service"),
    ("simqueue/lab/", "simqueue.lab"),
    ("simqueue/cli/", "simqueue.cli"),
    ("simqueue/testing/", "simqueue.testing"),
)

# Built-ins counted with the WAL: record framing (struct, CRC-32) and the C record codec.
WAL_BUILTINS = ("built-in: _struct", "built-in: zlib", "built-in: _codec")

# Flat module -> its place in the layers.
FLAT_MODULES = {
    "simqueue/wal.py": "simqueue/core/wal/__init__.py",
    "simqueue/accel.py": "simqueue/core/wal/accel.py",
    "simqueue/store.py": "simqueue/core/queue.py",
    "simqueue/fs.py": "simqueue/core/storage/__init__.py",
    "simqueue/snapshot.py": "simqueue/core/snapshot.py",
    "simqueue/jobs.py": "simqueue/core/jobs.py",
    "simqueue/clock.py": "simqueue/core/clock.py",
    "simqueue/errors.py": "simqueue/core/errors.py",
    "simqueue/engine.py": "simqueue/sim/engine.py",
    "simqueue/kernel.py": "simqueue/sim/kernel.py",
    "simqueue/simulation.py": "simqueue/sim/simulation.py",
    "simqueue/workers.py": "simqueue/sim/workers.py",
    "simqueue/distributions.py": "simqueue/sim/distributions.py",
    "simqueue/config.py": "simqueue/sim/config.py",
    "simqueue/trace.py": "simqueue/sim/trace.py",
    "simqueue/invariants.py": "simqueue/sim/invariants.py",
    "simqueue/theory.py": "simqueue/sim/theory.py",
    "simqueue/server.py": "simqueue/service/server.py",
    "simqueue/metrics.py": "simqueue/service/metrics.py",
    "simqueue/widgets.py": "simqueue/lab/widgets.py",
    "simqueue/plots.py": "simqueue/lab/plots.py",
    "simqueue/frames.py": "simqueue/lab/frames.py",
    "simqueue/export.py": "simqueue/lab/export.py",
    "simqueue/sweeps.py": "simqueue/lab/sweeps.py",
    "simqueue/cli.py": "simqueue/cli/main.py",
    "simqueue/settings.py": "simqueue/cli/settings.py",
    "simqueue/demo.py": "simqueue/cli/demo.py",
    "simqueue/faults.py": "simqueue/testing/faults.py",
    "simqueue/killtest.py": "simqueue/testing/killtest.py",
    "simqueue/crashsim.py": "simqueue/testing/crashsim.py",
}


def names_flat_modules(text: str) -> bool:
    """Whether ``text`` (a profile listing, a ``by_file`` key) names a module of the flat
    package, such as ``simqueue/store.py``."""
    return any(flat in text for flat in FLAT_MODULES)


def layer_of(file: str) -> str | None:
    """The part of simqueue ``file`` (a ``by_file`` key) belongs to; None outside simqueue."""
    if file.startswith(WAL_BUILTINS):
        return WAL
    path = FLAT_MODULES.get(file, file)
    for prefix, label in LAYERS:
        if path.startswith(prefix):
            return label
    return None


def layer_share(profile: dict[str, Any] | None, label: str) -> float:
    """Share of a profile's own time spent in the files of part ``label`` (0 without a profile)."""
    if not profile or not profile.get("by_file"):
        return 0.0
    return sum(float(r["share"]) for r in profile["by_file"] if layer_of(r["file"]) == label)
