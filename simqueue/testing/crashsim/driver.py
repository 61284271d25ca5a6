"""The driver workloads are written against: one method per queue call, a :class:`Mark` after
each, and the fail-stop checks of error injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from simqueue.core.clock import VirtualClock
from simqueue.core.errors import QueueStoppedError, StorageError
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue
from simqueue.testing.crashsim.model import State, observe
from simqueue.testing.crashsim.recording import Mark, RecordingFileSystem

T = TypeVar("T")
#: A dispatched job as workloads hold it: (id, attempt).
Taken = tuple[str, int]


class Driver:
    """Runs a workload's steps against a queue, writing a :class:`Mark` after each call.

    ``strict`` (recording): any error propagates. Otherwise (error injection) the first
    :class:`StorageError` stops the run: the queue must say it stopped, and every kind of call
    must then raise :class:`QueueStoppedError`; anything else is written to ``violations``."""

    def __init__(
        self,
        fs: RecordingFileSystem,
        data_dir: str,
        params: dict[str, Any],
        clock: VirtualClock,
        *,
        strict: bool = True,
        acked: int = 0,
        written: int | None = None,
        scale: int = 1,
        tag: str = "",
    ) -> None:
        self.fs = fs
        self.data_dir = data_dir
        self.params = params
        self.clock = clock
        self.strict = strict
        start_written = acked if written is None else written
        self.marks = [Mark(0, "start", acked, start_written, clock.now())]
        self.error: StorageError | None = None
        self.error_step = ""
        self.violations: list[str] = []
        self.open_ends_at = 0
        self.prefix = "j"  # job ids: tag + prefix + counter
        self.tag = tag  # tells apart the jobs of successive runs on one directory (sequences)
        self.recovered: State | None = None  # what the open (recovery) gave
        self.scale = scale  # workloads run ``scale`` times as many rounds
        self._q: DurableQueue | None = None
        self._n = 0

    @property
    def queue(self) -> DurableQueue:
        """The open queue; a workload step before :meth:`open` succeeded is a workload bug."""
        if self._q is None:
            raise RuntimeError("a workload step ran before open() returned a queue")
        return self._q

    def _call(self, step: str, fn: Callable[[], T]) -> T | None:
        if self.error is not None:
            return None
        try:
            out = fn()
        except StorageError as exc:
            if self.strict:
                raise
            self._stopped(step, exc)
            return None
        q = self._q
        if q is not None:
            self.marks.append(
                Mark(len(self.fs.trace), step, q.durable_seq, q.written_seq, self.clock.now())
            )
        return out

    def _stopped(self, step: str, exc: StorageError) -> None:
        self.error, self.error_step = exc, step
        q = self._q
        if q is None:
            return
        if not q.stopped:
            self.violations.append(f"{step} raised StorageError but the queue did not stop")
        for name, probe in _probes(q):
            try:
                probe()
            except QueueStoppedError:
                continue
            except Exception as other:
                self.violations.append(f"{name} after the storage error raised {other!r}")
            else:
                self.violations.append(f"{name} succeeded after the queue stopped")

    # -- the steps workloads are made of ------------------------------------------------------
    def open(self) -> None:
        def do() -> DurableQueue:
            self._q = DurableQueue.open(self.data_dir, fs=self.fs, clock=self.clock, **self.params)
            self.recovered = observe(self._q)
            return self._q

        self._call("open", do)
        self.open_ends_at = len(self.fs.trace)

    def enqueue(self, n: int, pad: int = 0, timeout: float | None = None) -> None:
        jobs = []
        for _ in range(n):
            self._n += 1
            payload = {"n": self._n, "pad": "x" * pad} if pad else None
            job_id = f"{self.tag}{self.prefix}{self._n:03d}"
            jobs.append(Job(job_id, payload=payload, timeout=timeout))
        self._call(f"enqueue {len(jobs)}", lambda: self.queue.enqueue_many(jobs))

    def dispatch(self, worker: int = 0) -> Taken | None:
        job = self._call("dispatch", lambda: self.queue.dispatch(worker))
        return (job.id, job.attempt) if job is not None else None

    def complete(self, job: Taken | None) -> None:
        if job is not None:
            self._call(f"complete {job[0]}", lambda: self.queue.complete(*job))

    def fail(self, job: Taken | None) -> None:
        if job is not None:
            self._call(f"fail {job[0]}", lambda: self.queue.fail(*job))

    def expire(self) -> None:
        self._call("expire", lambda: self.queue.expire())

    def snapshot(self) -> None:
        self._call("snapshot", lambda: self.queue.snapshot())

    def sync(self) -> None:
        self._call("sync", lambda: self.queue.sync())

    def flush(self) -> None:
        self._call("flush", lambda: self.queue.flush())

    def tick(self) -> None:
        self._call("tick", lambda: self.queue.tick())

    def close(self) -> None:
        self._call("close", lambda: self.queue.close())

    def advance(self, dt: float) -> None:
        self.clock.advance_by(dt)

    def abandon(self) -> None:
        if self._q is not None:
            self._q.abandon()


def _probes(q: DurableQueue) -> list[tuple[str, Callable[[], Any]]]:
    """One call of every kind: each must raise QueueStoppedError once the queue stopped."""
    return [
        ("enqueue", lambda: q.enqueue(Job("probe-after-error"))),
        ("dispatch", lambda: q.dispatch(0)),
        ("complete", lambda: q.complete("probe", 1)),
        ("fail", lambda: q.fail("probe", 1)),
        ("expire", q.expire),
        ("snapshot", q.snapshot),
        ("sync", q.sync),
        ("flush", q.flush),
        ("tick", q.tick),
    ]
