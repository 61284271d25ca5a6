"""``import simqueue`` keeps the names the README and the notebooks use, wherever the modules
behind them live."""

from __future__ import annotations

import simqueue

#: The public names of the package root, pinned: removing or renaming one breaks users' code.
PUBLIC = {
    "Config",
    "Constant",
    "CorruptSnapshotError",
    "CorruptWALError",
    "DataDirLockedError",
    "DiskProfile",
    "DuplicateJobError",
    "DurableQueue",
    "EmptySchedule",
    "Exponential",
    "IllegalTransitionError",
    "InvariantViolation",
    "Job",
    "JobInfo",
    "JobState",
    "Poisson",
    "QueueStoppedError",
    "RecoveryReport",
    "SimQueueError",
    "Simulation",
    "StorageError",
    "Summary",
    "TraceEvent",
    "Uniform",
    "UnknownJobError",
    "VirtualClock",
    "WallClock",
    "__version__",
    "export",
}


def test_the_package_root_exports_exactly_the_pinned_public_names() -> None:
    assert set(simqueue.__all__) == PUBLIC


def test_every_public_name_resolves_to_an_object() -> None:
    missing = [name for name in PUBLIC if getattr(simqueue, name, None) is None]
    assert not missing


def test_the_root_export_is_the_function_not_its_module() -> None:
    assert callable(simqueue.export) and simqueue.export.__name__ == "export"


def test_the_layers_are_importable_subpackages() -> None:
    import simqueue.cli
    import simqueue.core
    import simqueue.lab
    import simqueue.service
    import simqueue.sim
    import simqueue.testing

    for pkg in (simqueue.core, simqueue.sim, simqueue.service, simqueue.lab, simqueue.cli):
        assert pkg.__doc__, f"{pkg.__name__} says what it owns"
    assert simqueue.testing.__doc__
