"""The graded exercises (:mod:`simqueue.testing.grading`): the reference solutions pass the crash
campaign; the notebooks' starting stubs and known-wrong answers fail it with the counterexample
their mistake deserves, a counterexample the engine's own function survives; the hooks reach the
real engine only inside a grading run; and the crash-point explorer's records agree with the
campaign.

The reference solutions live here, not in the notebooks: a learner writes their own.
"""

from __future__ import annotations

import math
import os
import threading

import pytest

from simqueue.core import recovery, replay, snapshot, wal
from simqueue.core.retry import RetryRule
from simqueue.core.storage import FileSystem
from simqueue.core.table import JobTable
from simqueue.core.wal import WALWriter
from simqueue.testing import crashsim as cs
from simqueue.testing.grading import (
    EXERCISES,
    GRADING_BUDGET,
    Record,
    Report,
    exercise,
    grade,
    invariant_of,
    job_in,
)
from simqueue.testing.grading.explorer import CrashExplorer
from simqueue.testing.grading.explorer_view import ExplorerBoard, losses_figure


# -- reference solutions ----------------------------------------------------------------------
def replay_reference(table: JobTable, rec: Record) -> None:
    if rec.type == wal.ENQUEUE:
        timeout = None if math.isnan(rec.extra) else rec.extra
        table._on_enqueue(rec.job_id, rec.payload, timeout, rec.time, rec.seq)
        return
    job = table._jobs[rec.job_id]
    if rec.type == wal.DISPATCH:
        table._on_dispatch(job, rec.time, rec.attempt, rec.worker, rec.extra)
    elif rec.type == wal.ACK:
        table._on_ack(job, rec.time)
    elif rec.type == wal.RETRY:
        table._on_retry(job, rec.time, rec.seq, rec.extra, wal.REASON_NAMES[rec.reason])
    elif rec.type == wal.DEAD:
        table._on_dead(job, rec.time, wal.REASON_NAMES[rec.reason])


def restart_reference(rule: RetryRule, table: JobTable, writer: WALWriter, now: float) -> int:
    ended = sorted(table._in_flight.values(), key=lambda job: (job.deadline, job.id))
    code = wal.REASON_CODES["interrupted"]
    for job in ended:
        if job.attempt >= rule.max_retry + 1:
            writer.append(wal.DEAD, job.id_bytes, now, job.attempt, -1, 0.0, code)
            table._on_dead(job, now, "interrupted")
        else:
            ready_at = now + rule.backoff * 2 ** (job.attempt - 1)
            seq = writer.append(wal.RETRY, job.id_bytes, now, job.attempt, -1, ready_at, code)
            table._on_retry(job, now, seq, ready_at, "interrupted")
    return len(ended)


def _write_temp_and_rename(fs: FileSystem, snap_dir: str, name: str, data: bytes) -> str:
    path = os.path.join(snap_dir, name)
    tmp = path + snapshot.TMP_SUFFIX
    handle = fs.create(tmp)
    try:
        fs.write(handle, data)
        fs.fsync(handle)
    finally:
        fs.close(handle)
    fs.rename(tmp, path)
    return path


def snapshot_reference(fs: FileSystem, snap_dir: str, name: str, data: bytes) -> str:
    path = _write_temp_and_rename(fs, snap_dir, name, data)
    fs.fsync_dir(snap_dir)
    return path


# -- known-wrong answers ----------------------------------------------------------------------
def replay_ignoring_dead(table: JobTable, rec: Record) -> None:
    if rec.type != wal.DEAD:
        replay_reference(table, rec)


def restart_without_logging(rule: RetryRule, table: JobTable, writer: WALWriter, now: float) -> int:
    ended = sorted(table._in_flight.values(), key=lambda job: (job.deadline, job.id))
    for job in ended:
        table._on_retry(job, now, writer.next_seq, now, "interrupted")
    return len(ended)


def restart_retrying_forever(
    rule: RetryRule, table: JobTable, writer: WALWriter, now: float
) -> int:
    return restart_reference(RetryRule(10**6, rule.backoff), table, writer, now)


def snapshot_without_directory_fsync(fs: FileSystem, snap_dir: str, name: str, data: bytes) -> str:
    return _write_temp_and_rename(fs, snap_dir, name, data)


REFERENCES = {
    "replay": replay_reference,
    "restart": restart_reference,
    "snapshot": snapshot_reference,
}


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_reference_solution_passes_every_crash_state(name):
    report = grade(name, REFERENCES[name])
    assert report.passed, report.describe()
    assert report.states > 100
    assert report.workloads == list(EXERCISES[name].workloads)
    assert report.describe().startswith(f"{name}: passed {report.states} crash states")


def _refuted_only_by_the_solution(report: Report, name: str, scratch: str) -> None:
    """The counterexample is about the solution: the engine's own function, plugged in the same
    way, survives every outcome at the same crash point of the same recording. (The snapshot
    writer's recording differs with the writer; its reference passing every state says it.)"""
    cx = report.counterexample
    assert cx is not None, report.describe()
    ex = EXERCISES[name]
    if ex.while_recording:
        return
    trace = cs.record(cx.workload, scratch, GRADING_BUDGET.scale)
    with ex.plug(_engine_function(name)):
        engine = cs.run_crash_points(trace, [cx.crash_point], GRADING_BUDGET)
    assert engine.states > 0 and not engine.violations


def _engine_function(name: str):
    """The engine's own implementation, in the exercise's signature."""
    if name == "replay":
        return lambda table, rec: replay.apply_record(table, *rec)
    return RetryRule.interrupt_in_flight


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_starting_stub_fails_with_a_readable_counterexample(name, tmp_path):
    report = grade(name, EXERCISES[name].stub)
    assert not report.passed
    cx = report.counterexample
    assert cx is not None and report.failing > 0, report.describe()
    assert 0 <= cx.crash_point <= cx.operations
    assert cx.family in cs.FAMILIES and cx.problems
    assert cx.invariant != "an invariant of docs/semantics.md", cx.problems
    text = report.describe()
    for part in (f"crash point  {cx.crash_point} of", cx.family, cx.invariant, cx.problems[0]):
        assert part in text
    assert "/dev/shm" not in text and "/tmp" not in text  # the scratch directory is not news
    _refuted_only_by_the_solution(report, name, str(tmp_path))


def test_a_replay_that_skips_dead_records_is_caught(tmp_path):
    report = grade("replay", replay_ignoring_dead)
    cx = report.counterexample
    assert cx is not None, report.describe()
    assert cx.workload == "steady"
    _refuted_only_by_the_solution(report, "replay", str(tmp_path))


def test_a_restart_policy_that_does_not_log_its_decisions_is_caught_by_the_second_recovery(
    tmp_path,
):
    report = grade("restart", restart_without_logging)
    cx = report.counterexample
    assert cx is not None, report.describe()
    assert cx.workload == "recovery"
    invariants = {invariant_of(p) for p in cx.problems}
    assert "a recovery that crashed ends where an uninterrupted one does" in invariants
    _refuted_only_by_the_solution(report, "restart", str(tmp_path))


def test_a_restart_policy_that_retries_forever_is_caught_for_the_job_on_its_last_attempt():
    report = grade("restart", restart_retrying_forever)
    cx = report.counterexample
    assert cx is not None, report.describe()
    # j001 of the recovery workload was in flight on its last attempt (max_retry=1).
    assert (cx.workload, cx.job) == ("recovery", "j001")
    assert cx.invariant == "the state is the recovered log applied in order"
    assert "('dead', 2, 'interrupted')" in cx.problems[0]


def test_a_snapshot_writer_without_the_directory_fsync_fails_when_the_rename_is_lost():
    report = grade("snapshot", snapshot_without_directory_fsync)
    cx = report.counterexample
    assert cx is not None, report.describe()
    assert cx.family in ("drop", "dir-prefix", "dir-reorder"), cx
    assert cx.invariant == "recovery opens every state a power cut can leave"
    assert "records 1.." in cx.problems[0] and "missing" in cx.problems[0]


def test_a_solution_that_raises_while_the_workload_runs_is_reported_not_raised():
    def broken(fs: FileSystem, snap_dir: str, name: str, data: bytes) -> str:
        raise NotImplementedError("not written yet")

    report = grade("snapshot", broken)
    assert not report.passed and report.error is not None
    assert "NotImplementedError" in report.describe()


def test_the_hooks_reach_the_engine_only_inside_the_grading_context():
    seen: dict[str, object] = {}
    with EXERCISES["replay"].plug(replay_reference):
        seen["here"] = replay.RECORD_HANDLER.get()
        worker = threading.Thread(target=lambda: seen.update(thread=replay.RECORD_HANDLER.get()))
        worker.start()
        worker.join()
    assert seen["here"] is not None and seen["thread"] is None
    grade("restart", restart_without_logging, workloads=("recovery",))
    for var in (replay.RECORD_HANDLER, recovery.RESTART_POLICY, snapshot.SNAPSHOT_WRITER):
        assert var.get() is None


def test_bad_exercise_names_and_non_functions_are_one_line_errors():
    with pytest.raises(ValueError, match=r"exercise: unknown name 'nope' \(known: replay"):
        exercise("nope")
    with pytest.raises(TypeError, match="solution: expected a function, got int"):
        grade("replay", 3)
    with pytest.raises(ValueError, match=r"workloads: unknown 'nope' \(known: steady"):
        grade("replay", replay_reference, workloads=("nope",))


def test_invariants_and_jobs_are_read_from_the_checks_sentences():
    problem = "job afterj001 had a durable ACK (seq 9) but is pending: it would run again"
    assert invariant_of(problem) == "a durably acknowledged job never runs again"
    assert job_in(problem, ["j001", "afterj001"]) == "afterj001"
    assert job_in("acknowledged records lost: recovered through seq 3", ["j001"]) is None


# -- the crash-point explorer -----------------------------------------------------------------
@pytest.fixture(scope="module")
def explorers():
    out = {p: CrashExplorer("steady", fsync=p) for p in ("always", "batch", "never")}
    yield out
    for e in out.values():
        e.close()


def test_the_explorer_shows_every_outcome_of_a_crash_point_recovered_and_checked(explorers):
    ex = explorers["always"]
    k = ex.operations // 2
    _, outs = ex.disk_at(k)
    states = [ex.state(k, i) for i in range(len(outs))]
    assert {s.family for s in states} == {o.family for o in outs}
    for s in states:
        assert s.status in ("ok", "salvaged"), s.describe()
        assert s.recovered_seq >= s.promised_seq and not s.jobs_lost
        assert f"crash point {k} of {ex.operations}" in s.describe()
        assert all(f.durable <= f.written for f in s.files)


def test_no_outcome_loses_an_acknowledged_job_under_always_but_some_do_under_never(explorers):
    assert explorers["always"].losses().worst == 0
    never = explorers["never"].losses()
    drop = never.lost[never.families.index("drop")]
    assert never.worst > 0 and max(v for v in drop if not math.isnan(v)) > 0
    assert all(math.isnan(v) or v == 0 for v in never.lost[never.families.index("process")])


def test_the_explorer_refuses_crash_points_and_outcomes_that_do_not_exist(explorers):
    ex = explorers["always"]
    with pytest.raises(ValueError, match="crash point: -1 is not in 0.."):
        ex.disk_at(-1)
    with pytest.raises(ValueError, match="outcome: 99 is not in 0.."):
        ex.state(0, 99)


def test_notebook_8s_checks_hold_wherever_the_slider_and_selector_are(explorers):
    """Every crash point x every outcome of the notebook's explorer (fsync="batch") meets what
    its check cell asserts about the state on show."""
    ex = explorers["batch"]
    seen = set()
    for k in range(ex.operations + 1):
        for i, out in enumerate(ex.disk_at(k)[1]):
            key = (cs.state_digest(out.files), ex.acknowledged_at(k), k < ex.trace.open_ends_at)
            if key in seen:  # the same bytes held to the same promise: recovered once
                continue
            seen.add(key)
            s = ex.state(k, i)
            assert s.status in ("ok", "salvaged"), s.describe()
            assert s.recovered_seq >= s.acknowledged_seq and not s.jobs_lost, s.describe()
            assert all(f.surviving is None or f.surviving >= f.durable for f in s.files)


def test_the_board_follows_its_slider_and_selector(explorers):
    ex = explorers["batch"]
    board = ExplorerBoard(ex, crash_point=3)
    assert board.current is not None and board.current.crash_point == 3
    k = max(range(ex.operations + 1), key=lambda p: len(ex.disk_at(p)[1]))
    board.slider.value = k
    assert (board.current.crash_point, board.outcome.value) == (k, 0)
    board.outcome.value = 2
    assert board.current == ex.state(k, 2)
    assert f"crash point {k} of" in board.text.value
    assert board.select(0, 99).crash_point == 0  # an outcome past the last shows the last
    assert board.outcome.value == len(ex.disk_at(0)[1]) - 1


def test_the_heatmap_has_one_panel_per_policy(explorers):
    grids = [explorers[p].losses() for p in ("always", "never")]
    fig = losses_figure(grids)
    panels = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(":")[0] for ax in panels] == [
        "fsync=always",
        "fsync=never",
    ]
