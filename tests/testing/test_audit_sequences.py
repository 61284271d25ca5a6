"""Crash sequences and long seeded runs (:mod:`simqueue.testing.crashsim.sequences`,
:mod:`simqueue.testing.crashsim.seeded`), bounded to fit inside ``make test``.

A single crash per workload cannot see a recovery that leaves something undurable behind: the
loss comes at the next power cut (issue 18, defect 1: a kill -9 inside a segment roll, then a
recovery that reuses the new segment without fsyncing ``wal/``, then a power cut). Here every
sequence crashes three times (process crashes and power cuts, inside recovery, inside segment
rolls and anywhere), each step swept at every crash point after both crash kinds; the seeded
runs add random work, injected I/O errors and damaged snapshots. ``make crashtest`` runs both at
scale (``--sequences``, ``--seeded``).
"""

from __future__ import annotations

import os

import pytest

from simqueue.testing import crashsim as cs

QUICK = cs.Budget.quick(workers=1)
SEQUENCE_SEEDS = list(range(12))  # every workload three times (the seed picks the workload)
DEPTH = 3
SEEDED_SEEDS = list(range(6))
SEEDED_CRASHES = 20


def describe(violations: list[cs.Violation]) -> str:
    return "\n".join(v.describe()[:1200] for v in violations[:6])


@pytest.fixture(scope="module")
def sequences() -> cs.SequenceResult:
    return cs.sequence_campaign(SEQUENCE_SEEDS, DEPTH, QUICK)


@pytest.fixture(scope="module")
def seeded() -> cs.SeededResult:
    return cs.seeded_campaign(SEEDED_SEEDS, SEEDED_CRASHES, QUICK)


def test_crash_sequences_three_deep_lose_no_acknowledged_job(sequences) -> None:
    assert not sequences.violations, describe(sequences.violations)
    assert sequences.steps == len(SEQUENCE_SEEDS) * DEPTH  # every sequence went all the way
    assert sequences.states > 100 * len(SEQUENCE_SEEDS)


def test_the_sequences_crash_both_ways_inside_recovery_and_inside_segment_rolls(
    sequences,
) -> None:
    kinds = set(sequences.crashes)
    for kind in ("process crash", "power crash"):
        for where in ("in recovery", "in a segment roll"):
            assert f"{kind} {where}" in kinds, sorted(kinds)


def test_a_seed_reproduces_its_sequence() -> None:
    first, again = (cs.run_sequence(4, DEPTH, QUICK) for _ in range(2))
    assert (first.states, first.crashes, first.steps) == (again.states, again.crashes, again.steps)
    other = cs.run_sequence(8, DEPTH, QUICK)
    assert (other.states, other.crashes) != (first.states, first.crashes)


def test_a_kill_right_after_creating_the_data_directory_then_a_power_cut_loses_nothing() -> None:
    """Seed 69 of the at-scale campaign: a kill -9 right after ``mkdir q``, before its parent
    is fsynced; the next open must make ``q``'s own entry durable before acknowledging."""
    result = cs.run_sequence(69, DEPTH, QUICK)
    assert not result.violations, describe(result.violations)
    assert result.steps == DEPTH


def test_a_kill_inside_a_segment_roll_then_a_power_cut_loses_no_acknowledged_job(
    tmp_path,
) -> None:
    """Defect 1: killed after a new segment's header is fsynced, before ``wal/`` is; the
    recovery appends into that segment; then the power goes, at any point of what follows."""
    wl = cs.WORKLOADS["segment-roll"]
    scratch = str(tmp_path)
    first = cs.record_step(
        cs.fresh_start(wl, scratch, 1), wl.name, wl.params, wl.steps, scratch, tag="a-"
    )
    rolls = [k for k in cs.roll_points(first.trace) if first.trace.ops[k - 1].kind == "fsync"]
    assert len(rolls) >= 3
    k = rolls[1]  # a roll after the first segment
    checker = cs.StepChecker(first, os.path.join(scratch, "state"))
    killed = checker.crash_kinds(k)[1]
    assert killed.family == "process"
    got = checker.check(k, killed)
    assert got.status == "ok", got.problems
    start = cs.descend(first.trace, checker.disk, k, killed, got)
    assert not start.settled  # the new segment's directory entry is not durable yet
    second = cs.record_step(start, wl.name, wl.params, wl.steps, scratch, tag="b-")
    found = cs.check_step(second, 0, QUICK, 1, os.path.join(scratch, "state"))
    problems = [
        f"crash point {j}, {out.family}: {'; '.join(v.problems)}" for j, out, v in found.found
    ]
    assert not problems, "\n".join(problems[:5])
    assert found.states >= len(second.trace.ops) // 2


def test_seeded_runs_with_crashes_io_errors_and_damaged_snapshots_lose_nothing(seeded) -> None:
    assert not seeded.violations, f"failing seeds {seeded.failing}\n" + describe(seeded.violations)
    assert seeded.crashes == len(SEEDED_SEEDS) * SEEDED_CRASHES
    assert seeded.faults_fired > 0
    assert seeded.damaged > 0


def test_a_seed_reproduces_its_seeded_run() -> None:
    first, again = (cs.run_seeded(3, 10, QUICK) for _ in range(2))
    figures = ("crashes", "states", "faults_fired", "damaged", "refused")
    assert [getattr(first, f) for f in figures] == [getattr(again, f) for f in figures]


def test_the_command_line_runs_sequences_and_seeded_runs(tmp_path, capsys) -> None:
    out = tmp_path / "seq.json"
    code = cs.main(
        [
            "--sequences",
            "1",
            "--depth",
            "3",
            "--seeded",
            "1",
            "--crashes",
            "3",
            "--workers",
            "1",
            "--first-seed",
            "7",
            "--json",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "crash sequences: 1 sequences, 3 steps" in printed
    assert "seeded runs: 1 runs, 3 crashes" in printed
    assert out.exists()


def test_the_sequences_catch_a_recovery_that_leaves_a_new_segment_undurable(
    monkeypatch, tmp_path
) -> None:
    """Plants defect 1 back: during recovery, ``wal/`` is fsynced only right after a segment
    that recovery itself created was fsynced, or after a removal (what recovery did before the
    fix); a reused segment's directory entry stays as the crash left it."""
    from simqueue.core import durable

    real = durable.recover

    def planted(table, data_dir, options, fs, clock):
        if not isinstance(fs, cs.RecordingFileSystem):
            return real(table, data_dir, options, fs, clock)
        first = len(fs.trace)
        fsync_dir = fs.fsync_dir

        def as_before(path: str) -> None:
            ops = fs.trace[first:]
            made = {op.path for op in ops if op.kind == "create"}
            last = ops[-1] if ops else None
            keep = last is not None and (
                last.kind == "remove" or (last.kind == "fsync" and last.path in made)
            )
            if keep or not path.endswith("wal"):
                fsync_dir(path)

        fs.fsync_dir = as_before
        try:
            return real(table, data_dir, options, fs, clock)
        finally:
            del fs.fsync_dir

    monkeypatch.setattr(durable, "recover", planted)
    found = cs.sequence_campaign([3, 5], DEPTH, QUICK)
    lost = [v for v in found.violations if any("acknowledged" in p for p in v.problems)]
    assert lost, "the sequences did not notice acknowledged jobs lost after a second crash"
    for name in ("segment-roll", "recovery"):  # one crash per workload cannot see it
        single = cs.crash_campaign(cs.record(name, str(tmp_path / name)), QUICK)
        assert not single.violations, describe(single.violations)
