"""``POST /jobs`` on the server's queue: the jobs appended under the lock, the answer deferred
until the HTTP loop's commit covers them, and the loop's non-blocking commit.

The idle workers the new jobs need are woken as the loop is about to commit, not as each job is
appended: woken at once, a worker on the loop's CPU took the CPU from the loop only to wait for
the GIL the loop held (about two involuntary context switches per job at 16 clients).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from simqueue.core.errors import DuplicateJobError, QueueStoppedError, SimQueueError
from simqueue.core.jobs import Job
from simqueue.service.http_api import ApiError, Deferred
from simqueue.service.metrics import Metrics
from simqueue.service.shared import NotAccepting, SharedQueue

#: The server's fail-stop: a storage error stops it (what is durable stays so).
Fail = Callable[[BaseException], None]


@contextlib.contextmanager
def _refused_as_503(fail: Fail) -> Iterator[None]:
    """A queue that takes no more jobs answers 503; a storage error also stops the server."""
    try:
        yield
    except NotAccepting as exc:
        raise ApiError(503, str(exc)) from None
    except DuplicateJobError:
        raise
    except SimQueueError as exc:
        fail(exc)
        raise ApiError(503, f"the queue cannot accept work: {exc}") from None


def submit(shared: SharedQueue, metrics: Metrics, fail: Fail, jobs: list[Job]) -> Deferred:
    """Append all of ``jobs`` or none; the answer is built once they are acknowledged (durable
    under the fsync policy). Raises :class:`ApiError` (409 duplicate id, 503 stopping or
    stopped)."""
    try:
        with _refused_as_503(fail), shared.lock:
            seq, idle = shared.enqueue(jobs)
        shared.to_wake.extend(idle)
    except DuplicateJobError as exc:
        raise ApiError(409, str(exc), job_id=exc.job_id) from None
    return Deferred(seq, functools.partial(_acknowledged, shared, metrics, fail, seq, len(jobs)))


def _acknowledged(
    shared: SharedQueue, metrics: Metrics, fail: Fail, seq: int, count: int
) -> dict[str, Any]:
    """``POST /jobs``'s answer once record ``seq`` is acknowledged (the group commit)."""
    shared.wake_pending()
    with _refused_as_503(fail):
        durable = shared.acknowledge(seq)
    metrics.enqueued.inc(count)
    return {"accepted": count, "last_seq": seq, "durable_seq": durable}


def try_commit(shared: SharedQueue, fail: Fail, seq: int) -> bool:
    """Whether record ``seq`` is acknowledged, after leading the group commit if none runs;
    False at once while another thread's runs (its end wakes the HTTP loop). A queue that
    stopped counts as done: the deferred answer says what went wrong."""
    shared.wake_pending()
    try:
        return shared.q.try_acknowledge(seq)
    except QueueStoppedError:
        return True
    except SimQueueError as exc:
        fail(exc)
        return True


__all__ = ["submit", "try_commit"]
