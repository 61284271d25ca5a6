"""The step view, headless: press its buttons from Python and check the engine moved, the
strip and tables were redrawn, rewinds re-run the same events, and bad input changes nothing."""

from __future__ import annotations

import pytest

from simqueue import Config, Poisson
from simqueue.lab.widgets import StepView, step_view
from simqueue.sim.trace import CRASH, RECOVER


def _view(**kw) -> StepView:
    cfg = dict(seed=5, workers=2, arrival=Poisson(25), failure_rate=0.2, flush_interval=0.05)
    cfg.update(kw)
    return step_view(Config(**cfg))


def _kinds(view: StepView) -> list[tuple]:
    return [(t[1], t[2], t[3]) for t in view.sim.trace[: view.replay.read]]


def test_step_buttons_advance_the_engine_and_redraw_the_strip():
    view = _view()
    before = view.strip.value
    view.c.step.click()
    assert view.position == 1
    view.c.step10.click()
    assert view.position == 11
    assert view.strip.value != before and "sq-wal-cell" in view.strip.value
    assert view.c.event.value == 11 and view.c.event.max == 11
    c = view.replay.wal.cursors()
    assert f"durable <b>{c.durable}</b>" in view.strip.value
    assert "<tr><td>job-" in view.jobs.value
    assert "DISPATCH" in view.events.value


def test_run_to_t_runs_every_event_up_to_t():
    view = _view()
    view.c.t.value = 2.0
    view.c.run.click()
    assert view.sim.now == 2.0 and view.position > 20
    assert all(t[0] <= 2.0 for t in view.sim.trace)


def test_crash_and_recover_mark_the_strip():
    view = _view(fsync="batch")
    view.run_to(1.5)
    while view.sim.queue.last_seq == view.sim.queue.written_seq:  # a record in the buffer
        view.step()
    view.c.kind.value, view.c.tear.value = "power", "zero"
    view.c.crash.click()
    assert view.sim.crashed and "down (crashed)" in view.status.value
    assert "sq-lost" in view.strip.value
    assert "gone with the process" in view.jobs.value
    view.c.recover.click()
    assert not view.sim.crashed
    assert "sq-replayed" in view.strip.value and "sq-lost" in view.strip.value
    assert [t[1] for t in view.sim.trace].count(RECOVER) == 1


def test_a_power_cut_under_never_loses_acknowledged_jobs_and_says_so():
    view = _view(fsync="never")
    view.run_to(1.5)
    view.crash("power", "garble")
    assert "sq-lost" in view.strip.value or "sq-garbled" in view.strip.value
    view.recover()
    assert "acknowledged job(s) lost" in view.status.value


def test_selecting_a_record_shows_its_fields_and_bytes():
    view = _view()
    view.step(30)
    view.c.record.value = 0
    first = view.replay.wal.strip(40)[0]
    assert f"seq {first.seq} {first.type_name}" in view.detail.value
    assert f"{first.header()['crc']:08x}" in view.detail.value and "ok" in view.detail.value
    assert not view._follow
    view.step()
    assert f"seq {first.seq} " in view.detail.value  # the selection stays put


@pytest.mark.parametrize(
    ("act", "field"),
    [
        (lambda v: v.run_to(-1.0), "t:"),
        (lambda v: v.run_to(0.0), "t:"),
        (lambda v: v.run_to(1e9), "t:"),
        (lambda v: v.rewind(10**6), "event:"),
        (lambda v: v.rewind(-3), "event:"),
        (lambda v: v.recover(), "recover:"),
        (lambda v: v.step(0), "steps:"),
        (lambda v: v.crash("meteor"), "crash kind:"),
        (lambda v: v.crash("power", "shred"), "tear:"),
        (lambda v: v.fork(-1), "seed:"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(act, field):
    view = _view()
    view.run_to(0.5)
    trace, actions = list(view.sim.trace), list(view.timeline.actions)
    assert not act(view)
    assert view.message.startswith(field) and "\n" not in view.message
    assert field in view.status.value
    assert view.sim.trace == trace and view.timeline.actions == actions


def test_crash_while_crashed_and_step_while_down_are_refused():
    view = _view()
    view.step(10)
    assert view.crash("process")
    trace = list(view.sim.trace)
    assert not view.crash("power") and view.message.startswith("crash:")
    assert not view.step() and view.message.startswith("step:")
    assert view.sim.trace == trace


def test_rewind_re_runs_the_same_events_and_forward_again():
    view = _view(fsync="never")
    view.step(40)
    view.crash("power", "garble")
    crashed_at = view.position
    view.recover()
    view.run_to(view.sim.now + 1.0)
    end, full = view.position, _kinds(view)
    view.c.event.value = 25  # the slider rewinds
    assert view.position == 25 and _kinds(view) == full[:25]
    view.rewind(crashed_at)  # just after the crash
    assert view.sim.crashed and view.sim.trace[-1][1] == CRASH
    view.rewind(end)
    assert view.position == end and _kinds(view) == full


def test_an_action_after_a_rewind_replaces_the_future():
    view = _view()
    view.step(30)
    view.rewind(10)
    view.crash("process")
    assert view.timeline.end == 11
    assert not view.rewind(30)


def test_a_fork_shares_the_past_and_draws_another_future():
    view = _view()
    view.step(30)
    a = view.fork(99)
    b = view.fork(99)
    same_seed = view.fork(view.timeline.config.seed)
    for v in (a, b, same_seed):
        assert _kinds(v) == _kinds(view)
        v.step(60)
    view.step(60)
    assert _kinds(a) == _kinds(b)  # a fork is reproducible too
    assert _kinds(a) != _kinds(view)


def test_every_step_reports_its_redraw_time():
    view = _view()
    view.step()
    assert view.last_redraw_seconds > 0
