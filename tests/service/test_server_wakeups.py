"""Who wakes whom on the server's commit path: a follower of the group commit is woken only by
the leader whose fsync covers it (or that hands it the next fsync), so none returns before an
fsync covering its record has returned, and a failed fsync wakes every follower with an error;
an idle worker sleeps on a lock of its own, woken by an enqueue after the server's lock is
released (``simqueue/core/commit.py``, ``simqueue/service/shared.py``).

Every fsync that matters is held on an event, so what joins which fsync is decided by the test;
a join with a timeout only keeps a broken wake-up from hanging the run.
"""

from __future__ import annotations

import threading

import pytest

from simqueue import DurableQueue, Job
from simqueue.core.errors import QueueStoppedError, StorageError
from simqueue.core.storage import FileSystem
from simqueue.service import writes
from simqueue.service.metrics import Metrics
from simqueue.service.shared import SharedQueue, wake

FOLLOWERS = 5


class HeldFileSystem(FileSystem):
    """Real files; each WAL fsync waits for its turn in ``gates`` (fsync 1 for ``gates[0]``,
    ...) once ``counting`` is set, and raises an I/O error if ``fail`` is set when it goes on."""

    def __init__(self) -> None:
        super().__init__(real_fsync=True)
        self.counting = False
        self.gates = [threading.Event() for _ in range(3)]
        self.started = [threading.Event() for _ in range(3)]
        self.fsyncs = 0
        self.fail = False

    def before(self, op: str, path: str) -> None:
        super().before(op, path)
        if not (self.counting and op == "fsync" and "/wal/" in path):
            return
        n = self.fsyncs
        self.fsyncs += 1
        if n < len(self.gates):
            self.started[n].set()
            assert self.gates[n].wait(60), "a held fsync was never released"
        if self.fail:
            raise OSError(5, "injected EIO")


def _spawn(fn, *args) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def _wait_for(predicate, what: str) -> None:
    for _ in range(30_000):
        if predicate():
            return
        threading.Event().wait(0.001)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def held(tmp_path):
    fs = HeldFileSystem()
    q = DurableQueue.open(str(tmp_path / "q"), fsync="always", fs=fs)
    fs.counting = True
    yield q, fs
    for gate in fs.gates:
        gate.set()
    q.abandon()


def _enqueuer(q: DurableQueue, done: list[int], errors: list[Exception]):
    def run(job_id: str) -> None:
        try:
            done.append(q.enqueue(Job(job_id)))
        except (StorageError, QueueStoppedError) as exc:
            errors.append(exc)

    return run


def test_followers_the_running_fsync_does_not_cover_stay_asleep_until_theirs_returns(
    held,
) -> None:
    q, fs = held
    done: list[int] = []
    errors: list[Exception] = []
    run = _enqueuer(q, done, errors)
    first = _spawn(run, "first")
    assert fs.started[0].wait(30)  # the leader's fsync covers seq 1 only
    followers = [_spawn(run, f"j{i}") for i in range(FOLLOWERS)]
    _wait_for(lambda: q.last_seq == FOLLOWERS + 1, "the followers to append")
    fs.gates[0].set()
    first.join(30)
    assert done == [1]
    assert fs.started[1].wait(30)  # one follower leads the next fsync; the others sleep on
    assert done == [1] and q.durable_seq == 1
    fs.gates[1].set()
    for t in followers:
        t.join(30)
    assert sorted(done) == list(range(1, FOLLOWERS + 2)) and not errors
    assert fs.fsyncs == 2 and q.durable_seq == FOLLOWERS + 1


def test_a_failed_fsync_wakes_every_follower_with_an_error(held) -> None:
    q, fs = held
    done: list[int] = []
    errors: list[Exception] = []
    run = _enqueuer(q, done, errors)
    first = _spawn(run, "first")
    assert fs.started[0].wait(30)
    followers = [_spawn(run, f"j{i}") for i in range(FOLLOWERS)]
    _wait_for(lambda: q.last_seq == FOLLOWERS + 1, "the followers to append")
    fs.fail = True
    fs.gates[0].set()
    for t in [first, *followers]:
        t.join(30)
    assert not any(t.is_alive() for t in [first, *followers])
    assert done == [] and len(errors) == FOLLOWERS + 1
    assert q.stopped and q.durable_seq == 0


def test_a_follower_woken_to_lead_that_finds_its_record_durable_wakes_the_others(
    tmp_path,
) -> None:
    # The race, played by hand under the committer's gate: a leader hands the next fsync to
    # the first follower it did not cover, and before that follower looks, another sync (a
    # snapshot's) makes every record durable. The follower must not just return.
    q = DurableQueue.open(str(tmp_path / "q"), fsync="always")
    c = q._committer
    try:
        done: list[int] = []
        run = _enqueuer(q, done, [])
        with c._gate:
            c._leading = True  # a leader is running: arrivals sleep
        followers = [_spawn(run, f"j{i}") for i in range(2)]
        _wait_for(lambda: len(c._waiters) == 2, "the followers to sleep")
        with c._gate:
            c._leading = False
            c._waiters.pop(0)[1].release()  # the hand-over to the first follower
            with c.sync_lock, c.mutex:
                q.writer.sync()  # both records durable behind the followers' backs
        for t in followers:
            t.join(30)
        assert not any(t.is_alive() for t in followers)
        assert sorted(done) == [1, 2] and c._waiters == []
    finally:
        q.close()


@pytest.fixture
def shared(tmp_path):
    q = DurableQueue.open(str(tmp_path / "q"), fsync="batch")
    s = SharedQueue(q, Metrics())
    s.dispatching = True
    yield s
    q.close()


def _park(shared: SharedQueue, timeout: float, woke: list[bool]) -> None:
    with shared.lock:
        shared.park(timeout)
        woke.append(True)


def test_an_enqueue_wakes_an_idle_worker_after_releasing_the_lock(shared) -> None:
    woke: list[bool] = []
    worker = _spawn(_park, shared, 300.0, woke)
    _wait_for(lambda: len(shared.idle) == 1, "the worker to park")
    with shared.lock:
        seq, idle = shared.enqueue([Job("a")])
        assert len(idle) == 1 and shared.idle == []
    wake(idle)
    worker.join(30)
    assert woke == [True] and seq == shared.q.last_seq


def test_an_enqueue_wakes_one_idle_worker_and_none_while_that_one_is_on_its_way(shared) -> None:
    woke: list[bool] = []
    workers = [_spawn(_park, shared, 300.0, woke) for _ in range(3)]
    _wait_for(lambda: len(shared.idle) == 3, "the workers to park")
    with shared.lock:
        _, first = shared.enqueue([Job("a"), Job("b")])
        _, second = shared.enqueue([Job("c")])
        assert len(first) == 1 and second == [] and shared.waking == 1
    wake(first)
    _wait_for(lambda: len(woke) == 1, "one worker to wake")
    with shared.lock:
        assert shared.waking == 0 and len(shared.idle) == 2
        _, third = shared.enqueue([Job("d")])  # nobody on its way now: one more wakes
        assert len(third) == 1
        shared.wake_all()
    wake(third)
    for t in workers:
        t.join(30)
    assert woke == [True] * 3 and shared.idle == [] and shared.waking == 0


class HeldWork:
    """Attempts that each wait for ``release``, counting how many run at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self._count = threading.Lock()

    def prepare(self, job: Job):
        def attempt() -> str:
            with self._count:
                self.running += 1
            assert self.release.wait(60), "the held attempts were never released"
            return "ok"

        return attempt


def test_a_burst_of_jobs_gets_a_worker_each_as_woken_workers_wake_the_next(shared) -> None:
    from simqueue.service.loops import worker_loop

    work, stop = HeldWork(), threading.Event()
    workers = [_spawn(worker_loop, shared, w, work, stop) for w in range(4)]
    _wait_for(lambda: len(shared.idle) == 4, "the workers to park")
    with shared.lock:
        _, idle = shared.enqueue([Job(f"j{i}") for i in range(3)])
        assert len(idle) == 1  # one wakes; it wakes the next once it has dispatched
    wake(idle)
    _wait_for(lambda: work.running == 3, "three attempts running at once")
    with shared.lock:
        assert shared.busy == 3 and len(shared.idle) == 1 and shared.waking == 0
        shared.dispatching = False
        shared.wake_all()
    work.release.set()
    for t in workers:
        t.join(30)
    assert not any(t.is_alive() for t in workers)
    assert shared.q.counts()["completed"] == 3


def test_a_park_that_times_out_leaves_the_idle_list(shared) -> None:
    with shared.lock:
        shared.park(0.001)
        assert shared.idle == []
        _, idle = shared.enqueue([Job("a")])
    assert idle == []


def test_expiring_a_job_a_window_of_zero_forgets_at_once_counts_it_dead(tmp_path) -> None:
    from simqueue.core.clock import VirtualClock

    clock = VirtualClock()
    q = DurableQueue.open(
        str(tmp_path / "q"),
        clock=clock,
        fsync="batch",
        retain_finished=0,
        max_retry=0,
        task_timeout=1.0,
    )
    try:
        s = SharedQueue(q, Metrics())
        s.dispatching = True
        with s.lock:
            s.enqueue([Job("a")])
            assert q.dispatch(0) is not None
            clock.advance_by(2.0)
            s.expire()  # DEAD, then forgotten by the window at once
        assert "a" not in q
        assert s.metrics.dead._value.get() == 1
    finally:
        q.close()


def test_a_post_wakes_its_idle_worker_as_the_http_loop_commits_not_as_it_appends(tmp_path) -> None:
    """Woken at the append, a worker on the loop's CPU would take the CPU from the loop only to
    wait for the GIL it holds (``simqueue/service/writes.py``)."""
    q = DurableQueue.open(str(tmp_path / "q"), fsync="always")
    try:
        s = SharedQueue(q, Metrics())
        s.dispatching = True
        sleeper = threading.Lock()
        sleeper.acquire()
        s.idle.append(sleeper)  # an idle worker, asleep on its lock
        failures: list[BaseException] = []
        deferred = writes.submit(s, s.metrics, failures.append, [Job("a")])
        assert sleeper.locked()  # appended, not yet woken
        assert writes.try_commit(s, failures.append, deferred.seq)
        assert not sleeper.locked()  # woken as the loop commits
        assert deferred.finish()["accepted"] == 1 and failures == []
    finally:
        q.close()
