"""The job state machine, as the store enforces it: transitions, attempts, retries, backoff,
stale results, FIFO by readiness, timeouts."""

from __future__ import annotations

import pytest
from conftest import crash

from simqueue import IllegalTransitionError, Job, JobState, UnknownJobError
from simqueue.core.jobs import COMPLETED, DEAD, IN_FLIGHT, PENDING, TRANSITIONS, next_state

LEGAL = [
    (None, "enqueue", PENDING),
    (PENDING, "dispatch", IN_FLIGHT),
    (IN_FLIGHT, "ack", COMPLETED),
    (IN_FLIGHT, "retry", PENDING),
    (IN_FLIGHT, "dead", DEAD),
]
EVENTS = ("enqueue", "dispatch", "ack", "retry", "dead")
STATES = (None, PENDING, IN_FLIGHT, COMPLETED, DEAD)
ILLEGAL = [(s, e) for s in STATES for e in EVENTS if (s, e) not in {(a, b) for a, b, _ in LEGAL}]


@pytest.mark.parametrize(("state", "event", "after"), LEGAL)
def test_legal_transition_gives_next_state(state, event, after) -> None:
    assert next_state("j", state, event) is after


@pytest.mark.parametrize(("state", "event"), ILLEGAL)
def test_illegal_transition_raises_naming_job(state, event) -> None:
    with pytest.raises(IllegalTransitionError, match="'j'"):
        next_state("j", state, event)


def test_transition_table_has_exactly_the_documented_edges() -> None:
    assert {(s, e): a for s, e, a in LEGAL} == TRANSITIONS


def test_completed_job_cannot_be_completed_again_or_failed(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    job = q.dispatch(0)
    assert q.complete("a", job.attempt) is True
    # the attempt is no longer current: stale, not a second completion
    assert q.complete("a", job.attempt) is False
    assert q.fail("a", job.attempt) is None
    assert q.state_of("a") is COMPLETED
    assert q.stale_results == 2


def test_result_for_attempt_never_dispatched_is_illegal(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    with pytest.raises(IllegalTransitionError):
        q.complete("a", 1)  # still pending, attempt 1 was never handed out
    q.dispatch(0)
    with pytest.raises(IllegalTransitionError):
        q.fail("a", 2)
    with pytest.raises(IllegalTransitionError):
        q.complete("a", 0)


def test_unknown_job_raises(make_queue) -> None:
    q = make_queue()
    with pytest.raises(UnknownJobError):
        q.complete("nope", 1)
    with pytest.raises(UnknownJobError):
        q.state_of("nope")


@pytest.mark.parametrize("max_retry", [0, 1, 3])
def test_max_retry_gives_r_plus_one_attempts_then_dead(make_queue, max_retry) -> None:
    q = make_queue(max_retry=max_retry)
    q.enqueue(Job("a"))
    attempts = []
    while (job := q.dispatch(0)) is not None:
        attempts.append(job.attempt)
        state = q.fail("a", job.attempt)
        assert state is (DEAD if job.attempt == max_retry + 1 else PENDING)
    assert attempts == list(range(1, max_retry + 2))
    assert q.state_of("a") is DEAD
    assert q.job("a").attempt == max_retry + 1
    assert q.job("a").reason == "failed"


def test_attempt_increments_once_per_dispatch_never_on_failure(make_queue) -> None:
    q = make_queue(max_retry=5)
    q.enqueue(Job("a"))
    for k in range(1, 4):
        assert q.job("a").attempt == k - 1
        job = q.dispatch(0)
        assert job.attempt == k
        assert q.job("a").attempt == k
        q.fail("a", k)
        assert q.job("a").attempt == k  # failing does not count an attempt
        assert q.state_of("a") is PENDING


@pytest.mark.parametrize("result", ["complete", "fail"])
def test_stale_result_is_ignored_and_counted(make_queue, clock, result) -> None:
    q = make_queue(task_timeout=5.0)
    q.enqueue(Job("a"))
    q.dispatch(0)
    clock.advance_by(5.0)
    assert q.expire() == ["a"]
    second = q.dispatch(1)
    assert second.attempt == 2
    outcome = q.complete("a", 1) if result == "complete" else q.fail("a", 1)
    assert outcome in (False, None)
    assert q.stale_results == 1
    assert q.state_of("a") is IN_FLIGHT and q.job("a").attempt == 2
    assert q.complete("a", 2) is True
    assert q.state_of("a") is COMPLETED


@pytest.mark.parametrize("backoff", [0.5, 2.0])
def test_retry_k_is_ready_after_backoff_times_2_to_k_minus_1(make_queue, clock, backoff) -> None:
    q = make_queue(max_retry=4, backoff=backoff)
    q.enqueue(Job("a"))
    for k in range(1, 5):
        job = q.dispatch(0)
        assert job is not None and job.attempt == k
        failed_at = clock.now()
        q.fail("a", k)
        ready_at = failed_at + backoff * 2 ** (k - 1)
        assert q.job("a").ready_at == pytest.approx(ready_at)
        assert q.next_ready_at() == pytest.approx(ready_at)
        clock.advance_to(ready_at - backoff / 4)
        assert q.dispatch(0) is None  # still backing off
        assert q.pending_ids() == ["a"]
        clock.advance_to(ready_at)


def test_zero_backoff_retry_is_ready_immediately_behind_earlier_jobs(make_queue) -> None:
    q = make_queue(backoff=0.0)
    q.enqueue_many([Job("a"), Job("b")])
    q.dispatch(0)
    q.fail("a", 1)
    assert q.pending_ids() == ["b", "a"]
    assert q.dispatch(0).id == "b"
    assert q.dispatch(0).id == "a"


def test_dispatch_is_fifo_by_readiness(make_queue, clock) -> None:
    q = make_queue(backoff=10.0, max_retry=5)
    q.enqueue_many([Job("a"), Job("b")])
    q.dispatch(0)  # a, attempt 1
    q.fail("a", 1)  # a ready at now + 10
    clock.advance_by(1.0)
    q.enqueue(Job("c"))  # ready at now (+1)
    clock.advance_by(1.0)
    assert q.pending_ids() == ["b", "c", "a"]
    clock.advance_by(20.0)
    q.enqueue(Job("d"))  # ready after a became ready
    assert q.pending_ids() == ["b", "c", "a", "d"]
    assert [q.dispatch(0).id for _ in range(4)] == ["b", "c", "a", "d"]
    assert q.dispatch(0) is None


def test_backed_off_job_that_became_ready_first_goes_first(make_queue, clock) -> None:
    q = make_queue(backoff=1.0, max_retry=5)
    q.enqueue(Job("a"))
    q.dispatch(0)
    q.fail("a", 1)  # ready at 101
    clock.advance_by(5.0)
    q.enqueue(Job("b"))  # ready at 105, after a
    assert q.pending_ids() == ["a", "b"]
    assert q.dispatch(0).id == "a"


def test_fifo_by_readiness_survives_recovery(make_queue, clock, crash_kind) -> None:
    q = make_queue(backoff=3.0, max_retry=5)
    q.enqueue_many([Job(f"j{i}") for i in range(6)])
    for _ in range(3):
        job = q.dispatch(0)
        q.fail(job.id, job.attempt)
        clock.advance_by(1.0)
    q.enqueue(Job("late"))  # ready at the same time as j0's retry, but logged after it
    order = q.pending_ids()
    assert order == ["j3", "j4", "j5", "j0", "late", "j1", "j2"]
    crash(q, crash_kind, seed=1)
    q2 = make_queue(backoff=3.0, max_retry=5)
    assert q2.pending_ids() == order
    clock.advance_by(100.0)
    assert [q2.dispatch(0).id for _ in order] == order


def test_per_job_timeout_overrides_task_timeout(make_queue, clock) -> None:
    q = make_queue(task_timeout=10.0)
    q.enqueue_many([Job("short", timeout=2.0), Job("default")])
    t0 = clock.now()
    short, default = q.dispatch(0), q.dispatch(1)
    assert short.deadline == t0 + 2.0
    assert default.deadline == t0 + 10.0
    assert q.next_deadline() == t0 + 2.0
    clock.advance_to(t0 + 1.99)
    assert q.expire() == []
    clock.advance_to(t0 + 2.0)
    assert q.expire() == ["short"]
    assert q.job("short").reason == "timeout"
    clock.advance_to(t0 + 9.0)
    assert q.expire() == []
    clock.advance_to(t0 + 10.0)
    assert q.expire() == ["default"]
    assert q.timeouts == 2


def test_expire_ignores_attempts_that_already_ended(make_queue, clock) -> None:
    q = make_queue(task_timeout=1.0)
    q.enqueue_many([Job("done"), Job("failed"), Job("late")])
    for w in range(3):
        q.dispatch(w)
    q.complete("done", 1)
    q.fail("failed", 1)
    clock.advance_by(1.0)
    assert q.expire() == ["late"]
    assert q.state_of("done") is COMPLETED
    assert q.job("failed").attempt == 1  # its retry was not touched by the old deadline


def test_expire_on_last_attempt_makes_job_dead(make_queue, clock) -> None:
    q = make_queue(task_timeout=1.0, max_retry=1)
    q.enqueue(Job("a"))
    for _ in range(2):
        q.dispatch(0)
        clock.advance_by(1.0)
        assert q.expire() == ["a"]
    assert q.state_of("a") is DEAD
    assert q.job("a").reason == "timeout"
    assert q.dispatch(0) is None


def test_job_fields_are_validated_before_anything_is_logged(make_queue) -> None:
    q = make_queue()
    seq = q.last_seq
    for bad in (lambda: Job(""), lambda: Job("x", payload=[1]), lambda: Job("x", timeout=0)):
        with pytest.raises(ValueError):
            q.enqueue(bad())
    with pytest.raises(ValueError):
        q.enqueue(Job("x", payload={"f": float("nan")}))
    assert q.last_seq == seq and len(q) == 0


def test_enqueue_many_is_all_or_nothing(make_queue) -> None:
    from simqueue import DuplicateJobError

    q = make_queue()
    q.enqueue(Job("a"))
    with pytest.raises(DuplicateJobError):
        q.enqueue_many([Job("b"), Job("a")])
    with pytest.raises(DuplicateJobError):
        q.enqueue_many([Job("c"), Job("c")])
    assert sorted(j.id for j in q.jobs_info()) == ["a"]


def test_payload_and_timeout_round_trip_through_dispatch(make_queue) -> None:
    q = make_queue()
    q.enqueue(Job("a", payload={"n": 1, "s": "x\ny"}, timeout=7.5))
    job = q.dispatch(3)
    assert job.payload == {"n": 1, "s": "x\ny"} and job.timeout == 7.5
    info = q.job("a")
    assert info.state is JobState.IN_FLIGHT and info.worker == 3


def test_expire_times_out_equal_deadlines_in_dispatch_order(make_queue, clock) -> None:
    """Regression (found by the stateful test): ids sorted as strings put 'j10' before 'j8'."""
    q = make_queue()
    q.enqueue_many([Job(f"j{i}") for i in (8, 9, 10, 11)])
    for worker in range(4):
        q.dispatch(worker)
    clock.advance_by(q.task_timeout)
    assert q.expire() == ["j8", "j9", "j10", "j11"]
