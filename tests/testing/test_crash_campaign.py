"""The crash-consistency campaign (:mod:`simqueue.testing.crashsim`), bounded to fit inside
``make test``.

Every crash point of each workload is tried with a sample of the power-loss outcomes (the full
sample is ``make crashtest``); every injected error is tried on every second write and fsync and
on every other kind of operation. Then planted bugs check that the campaign can fail at all.
"""

from __future__ import annotations

import os

import pytest

from simqueue.core import snapshot as snap
from simqueue.core import wal
from simqueue.testing import crashsim as cs

QUICK = cs.Budget.quick(workers=1)
WORKLOADS = list(cs.WORKLOADS)


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, cs.Trace]:
    return {name: cs.record(name, str(tmp_path_factory.mktemp(name))) for name in WORKLOADS}


@pytest.fixture(scope="module")
def results(traces: dict[str, cs.Trace]) -> dict[str, cs.WorkloadResult]:
    return {name: cs.crash_campaign(trace, QUICK) for name, trace in traces.items()}


def describe(violations: list[cs.Violation]) -> str:
    return "\n".join(v.describe() for v in violations[:10])


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_crash_point_recovers_to_the_durable_prefix_without_loss(results, traces, name):
    res = results[name]
    assert not res.violations, describe(res.violations)
    assert res.crash_points == len(traces[name].ops) + 1  # every one of them
    assert res.states > 2 * res.crash_points
    assert res.recoveries_ok == res.states


def test_the_workloads_exercise_what_they_claim(traces) -> None:
    kinds = {name: set(t.op_counts()) for name, t in traces.items()}
    assert {"rename", "remove", "fsync_dir"} <= kinds["steady"]
    assert {"truncate", "create", "write", "fsync"} <= kinds["recovery"]
    rolls = sum(1 for op in traces["segment-roll"].ops if op.kind == "create" and "wal" in op.path)
    assert rolls >= 4
    assert traces["snapshot-race"].params["fsync"] == "never"
    assert traces["recovery"].reference is not None
    in_flight = [j for j in traces["recovery"].reference[0] if j[3] == "interrupted"]
    assert {j[1] for j in in_flight} == {"pending", "dead"}  # one was on its last attempt


def test_every_outcome_family_is_tried(results) -> None:
    tried = set()
    for res in results.values():
        tried |= {f for f, n in res.by_family.items() if n}
    assert tried == set(cs.FAMILIES)


def test_holes_need_salvage_and_salvage_loses_nothing_acknowledged(results) -> None:
    """A later unsynced sector kept while an earlier one is lost: recovery refuses it by default
    (loud, never silent), ``salvage=True`` cuts there, and the checks (nothing acknowledged lost,
    state = durable prefix, same after a second recovery) still hold."""
    salvaged = sum(r.needs_salvage for r in results.values())
    assert salvaged > 0
    assert all(r.salvaged_ok == r.needs_salvage for r in results.values())
    assert all(r.needs_salvage <= r.by_family.get("reorder", 0) for r in results.values())


@pytest.mark.parametrize("name", WORKLOADS)
def test_injected_errors_stop_the_queue_and_reopen_consistently(traces, name) -> None:
    res = cs.fault_campaign(traces[name], QUICK)
    assert not res.violations, describe(res.violations)
    assert res.fired == res.injections > 0  # every injected fault was on the workload's path
    assert res.stopped_cleanly == res.fired and res.reopened_ok == res.fired
    if name != "recovery":
        for kind in ("write EIO", "write ENOSPC", "fsync EIO", "fsync ENOSPC", "short write"):
            assert res.by_kind.get(kind), kind


def test_regression_covered_segments_are_deleted_one_directory_fsync_at_a_time(traces) -> None:
    """Bug 1 of ``docs/reliability.md`` (segment-roll, crash after the second of two segment
    deletions, ``dir-reorder``): deleting several covered segments under one directory fsync
    lets a power cut keep a later deletion and lose an earlier one, a gap in the log (segment 1
    followed by segment 21) that recovery refuses to open. Each deletion is made durable before
    the next, so only a prefix of the segments can ever be gone."""
    trace = traces["segment-roll"]
    wal_ops = [(op.kind, op.path) for op in trace.ops if op.path.startswith("q/wal")]
    removes = [i for i, (kind, _) in enumerate(wal_ops) if kind == "remove"]
    assert len(removes) >= 2
    for i in removes:
        assert wal_ops[i + 1] == ("fsync_dir", "q/wal")
    points = sorted(
        {i + d for i, op in enumerate(trace.ops) if op.kind == "remove" for d in (1, 2)}
    )
    res = cs.run_crash_points(trace, points, cs.Budget(dir_variants=100))
    assert not res.violations, describe(res.violations)


# --------------------------------------------------------------------- the campaign can fail
def small() -> cs.Budget:
    """Every second crash point, a handful of outcomes each: enough to catch a planted bug."""
    return cs.Budget(every_byte_up_to=0, cuts=2, holes=1, dir_variants=2, stride=2)


def test_planted_bug_fsync_skipped_but_reported_durable_is_caught(monkeypatch, tmp_path) -> None:
    def lying_sync(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self.fs.write(self._handle, data)
        self.written_seq = self.durable_seq = self.next_seq - 1  # "durable", never fsynced

    def lying_handover(self):  # the group commit's path tells the same lie
        handle = self._write_buffer()
        self.durable_seq = self.written_seq
        return handle, self.written_seq

    monkeypatch.setattr(wal.WALWriter, "_write_and_fsync", lying_sync)
    monkeypatch.setattr(wal.WALWriter, "write_for_fsync", lying_handover)
    trace = cs.record("steady", str(tmp_path))
    res = cs.crash_campaign(trace, small())
    assert any("acknowledged" in p for v in res.violations for p in v.problems)


def test_planted_bug_snapshot_without_directory_fsync_is_caught(monkeypatch, tmp_path) -> None:
    """A snapshot renamed without an fsync of its directory, then the WAL it covers deleted: a
    power cut can lose the rename and keep the deletion."""
    write_snapshot = snap.write_snapshot

    def no_dir_fsync(fs, snap_dir, *args, **kwargs):
        fs.fsync_dir = lambda path: None  # shadow the method for this call only
        try:
            return write_snapshot(fs, snap_dir, *args, **kwargs)
        finally:
            del fs.fsync_dir

    monkeypatch.setattr(snap, "write_snapshot", no_dir_fsync)
    trace = cs.record("segment-roll", str(tmp_path))
    res = cs.crash_campaign(trace, small())
    assert res.violations
    assert any(v.family == "drop" for v in res.violations)


def test_planted_bug_fifo_lost_on_restore_is_caught(monkeypatch, tmp_path) -> None:
    read_snapshot = snap.read_snapshot

    def reversed_live(fs, snap_dir, path):
        state = read_snapshot(fs, snap_dir, path)
        state.live.reverse()
        return state

    monkeypatch.setattr(snap, "read_snapshot", reversed_live)
    trace = cs.record("snapshot-race", str(tmp_path))
    res = cs.crash_campaign(trace, small())
    assert any("FIFO" in p or "differs" in p for v in res.violations for p in v.problems)


def test_summary_table_and_cli(tmp_path, capsys) -> None:
    out = tmp_path / "summary.json"
    code = cs.main(["--quick", "--workers", "1", "--workload", "recovery", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "recovery" in printed and "violations: 0" in printed
    assert "lost acknowledged jobs: 0" in printed
    assert os.path.getsize(out) > 0
