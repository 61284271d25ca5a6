"""A worker's wait under ``fsync="always"`` (its ACK and DISPATCH durable before the next attempt
runs): in the HTTP loop's next commit while the loop is busy, else in a commit of its own.

Left to the queue's group commit alone, a worker leads an fsync of its own whenever none is
running. With the HTTP loop committing once a turn, the workers' fsyncs and the loop's then take
turns, and each job pays for the fsyncs and the wake-ups of both: 0.36-0.39 fsyncs a job at 16
clients with no-op jobs, and 1.5 at one client (``python -m benchmarks.bench_server``). So a
worker whose record is not durable yet sleeps until a commit covers it for as long as the loop
is busy: while answers wait for the loop's next commit, or for :data:`FOLLOW_WINDOW` after it
last answered some (the clients it answered are sending their next requests, whose commit will
cover the worker's record too). Then about 0.1 fsyncs a job are left at 16 clients, and 1.0 at
one. Once the loop is idle, or after :data:`FOLLOW_LIMIT`, the worker leads or joins a commit
itself (:meth:`DurableQueue.wait_acknowledged`), as it would without the loop. Whoever leads
it, the attempt never runs before an fsync covering its DISPATCH has returned. It is the idea
of PostgreSQL's ``commit_delay``: a commit waits for company only while there is some.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from simqueue.core.queue import DurableQueue

#: How long after the HTTP loop last answered requests a worker still expects its next commit.
FOLLOW_WINDOW = 0.003
#: The longest a worker sleeps for another thread's commit before it leads one (seconds).
FOLLOW_LIMIT = 0.005


def _never_answered() -> float:
    return -float("inf")


class CommitWatch:
    """The ends of the queue's commits, for the workers that wait on them.

    :meth:`ended` is the queue's commit listener (it runs in the thread that led the commit,
    after the records are durable). :attr:`last_answer` is the HTTP loop's
    (:meth:`~simqueue.service.http_loop.ApiServer.last_answer`): when it last answered requests
    after their commit, or inf while some wait for its next one."""

    def __init__(self, q: DurableQueue) -> None:
        self.q = q
        self.last_answer: Callable[[], float] = _never_answered
        self._ended = threading.Condition(threading.Lock())

    def ended(self) -> None:
        """A commit ended: wake the workers waiting for one."""
        with self._ended:
            self._ended.notify_all()

    def wait_durable(self, seq: int) -> None:
        """Without the server's lock: return once record ``seq`` is durable, following the HTTP
        loop's commits while it is busy (for at most :data:`FOLLOW_LIMIT`), then leading or
        joining a commit (raises what :meth:`DurableQueue.wait_acknowledged` raises)."""
        q = self.q
        if q.durable_seq < seq:
            give_up = time.monotonic() + FOLLOW_LIMIT
            with self._ended:
                while q.durable_seq < seq:
                    left = min(give_up, self.last_answer() + FOLLOW_WINDOW) - time.monotonic()
                    if left <= 0:
                        break
                    self._ended.wait(left)
        q.wait_acknowledged(seq)


__all__ = ["FOLLOW_LIMIT", "FOLLOW_WINDOW", "CommitWatch"]
