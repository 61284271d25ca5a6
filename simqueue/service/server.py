"""The wall-clock server: the durable queue, worker threads and an HTTP API on 127.0.0.1.

:class:`Server` opens (recovers) the data directory, shares the queue between its threads through
a :class:`~simqueue.service.shared.SharedQueue`, runs the workers and loops of
:mod:`simqueue.service.loops` and serves :mod:`simqueue.service.http_api`. ``POST /jobs`` answers
once its jobs' records are durable, so an answered request survives ``kill -9`` and power loss.
Any thread's unexpected error stops the server (fail-stop); what is durable stays so.

Stopping (SIGINT/SIGTERM, or :meth:`Server.stop`): the API stops accepting, running attempts get
``grace`` seconds to finish and report, then a final snapshot is written and the directory
released. Attempts still running after that stay IN_FLIGHT in the log; the next start counts them
as interrupted (a failed attempt), exactly as after ``kill -9``.

What the server reports goes to :mod:`logging` (loggers under ``simqueue.service``): a fatal
error and a bug answered with 500 at ERROR; stopping and a failed handler at WARNING; one line per
request at INFO (``access_log``); start, recovery and snapshots at DEBUG.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from simqueue.core.clock import WallClock
from simqueue.core.errors import SimQueueError
from simqueue.core.jobs import Job
from simqueue.core.queue import DurableQueue
from simqueue.service import writes
from simqueue.service.http_api import ApiError, Deferred, access_logger
from simqueue.service.http_loop import ApiServer
from simqueue.service.jobfile import JobFileError, jobs_to_json, parse_jobs, parse_jobs_text
from simqueue.service.loops import commit_loop, drain, snapshot_loop, timeout_loop, worker_loop
from simqueue.service.metrics import Metrics
from simqueue.service.network import (
    DEFAULT_MAX_BODY,
    DEFAULT_RETAIN_FINISHED,
    SERVER_FILE,
    non_loopback_warning,
    remove_server_file,
    write_server_file,
)
from simqueue.service.reads import job_answer, status_answer
from simqueue.service.shared import SharedQueue
from simqueue.service.work import (
    Handler,
    HandlerWork,
    OneCpu,
    SimulatedWork,
    Work,
    load_handler,
)
from simqueue.sim.config import Config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Running:
    """What exists from a successful :meth:`Server.start` on: the open queue and the listener."""

    shared: SharedQueue
    httpd: ApiServer


class Server:
    """The durable queue on the wall clock, with worker threads and an HTTP API. Its threads
    run on one CPU (``one_cpu=False``: wherever the OS puts them), a handler's attempts on any
    (:class:`~simqueue.service.work.OneCpu` says why).

    >>> srv = Server("/tmp/q", Config(workers=4), port=0)   # doctest: +SKIP
    >>> srv.start(); srv.url                                # doctest: +SKIP
    'http://127.0.0.1:43117'
    >>> srv.stop()                                          # doctest: +SKIP
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        config: Config | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        handler: Handler | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        grace: float = 10.0,
        access_log: bool = False,
        token: str | None = None,
        one_cpu: bool = True,
    ) -> None:
        self.data_dir = os.fspath(data_dir)
        self.config = config or Config()
        self.host = host
        self.requested_port = port
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.grace = grace
        self.access_log = access_log
        self.token = token  # POST /jobs needs it (Authorization: Bearer), if set
        self.metrics = Metrics()
        self.port = 0
        self.started_at = 0.0
        self.ready_seconds = 0.0
        self.fatal: BaseException | None = None
        self.final: dict[str, Any] = {}

        self._stop_requested = threading.Event()  # set by signals / stop()
        self._halt = threading.Event()  # timers stop
        self._abort = threading.Event()  # simulated work abandons (forced stop)
        # The server's threads on one CPU, a handler's attempts on any (work.OneCpu says why).
        self._cpus = OneCpu() if one_cpu else None
        self._work: Work = (
            HandlerWork(handler, self._cpus)
            if handler is not None
            else SimulatedWork(self.config, self._abort)
        )
        self._running: _Running | None = None
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []

    # ------------------------------------------------------------------ state
    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> _Running:
        """The open queue and listener; a RuntimeError before :meth:`start` succeeded."""
        if self._running is None:
            raise RuntimeError("the server is not started: call start() first")
        return self._running

    @property
    def q(self) -> DurableQueue:
        """The open queue (closed once the server stopped)."""
        return self.running.shared.q

    @property
    def httpd(self) -> ApiServer:
        return self.running.httpd

    # ------------------------------------------------------------------ starting
    def start(self) -> None:
        """Recover the data directory, start the loops, then listen. Raises
        :class:`~simqueue.DataDirLockedError` if another server owns the directory,
        :class:`OSError` if the address cannot be bound."""
        t0 = time.perf_counter()
        self.started_at = time.time()
        run = self._open()
        self._running = run
        self.port = run.httpd.server_address[1]
        shared = run.shared
        self.metrics.set_state_source(functools.partial(_locked_gauges, shared))
        shared.dispatching = True
        shared.committing = True
        self._start_threads(run)
        self.ready_seconds = time.perf_counter() - t0
        if self.access_log:  # asked for explicitly: shown whatever the verbosity
            access_logger.setLevel(logging.INFO)
        write_server_file(self.data_dir, self.url, self.host, self.port, self.started_at)
        report = shared.q.recovery
        logger.debug(
            "listening on %s after %.3f s; %s",
            self.url,
            self.ready_seconds,
            report.describe() if report else "fresh data directory",
        )

    def _open(self) -> _Running:
        """Recovery (open the queue) and the listening socket; nothing stays open on failure."""
        # A server's queue is always durable for real, whatever the config says about
        # simulations.
        options = {**self.config.queue_options(), "durability": "real"}
        if options["retain_finished"] is None:
            options["retain_finished"] = DEFAULT_RETAIN_FINISHED
        q = DurableQueue.open(self.data_dir, clock=WallClock(), **options)
        try:
            report = q.recovery
            self.metrics.recovery_time.set(report.wall_seconds if report else 0.0)
            shared = SharedQueue(q, self.metrics)
            httpd = ApiServer((self.host, self.requested_port), self)
            commits = shared.commits
            commits.last_answer = httpd.last_answer  # workers under "always" follow its commits

            def committed() -> None:
                httpd.wake()
                commits.ended()

            q.on_commit(committed)
            return _Running(shared, httpd)
        except BaseException:
            q.close()
            raise

    def _start_threads(self, run: _Running) -> None:
        shared, c = run.shared, self.config
        for w in range(c.workers):
            # guarded like the loops: an unexpected error stops the server, it does not
            # silently cost a worker (a poison job would otherwise take them all, one by one)
            body = functools.partial(worker_loop, shared, w, self._work, self._stop_requested)
            self._workers.append(self._thread(f"worker-{w}", body))
        loops: list[tuple[str, Callable[[], None]]] = [
            ("committer", functools.partial(commit_loop, shared)),
            ("timeouts", functools.partial(timeout_loop, shared, self._halt)),
        ]
        if c.snapshot_interval is not None:
            body = functools.partial(snapshot_loop, shared, self._halt, c.snapshot_interval)
            loops.append(("snapshots", body))
        loops.append(("http", functools.partial(run.httpd.serve_forever, poll_interval=0.1)))
        self._threads.extend(self._thread(name, body) for name, body in loops)
        for t in self._workers + self._threads:
            t.start()

    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """A daemon thread whose unexpected error stops the server rather than the thread."""

        def run() -> None:
            if self._cpus is not None:
                self._cpus.pin()
            try:
                target()
            except BaseException as exc:  # a storage error, or a bug: stop rather than limp on
                self._fail(exc)

        return threading.Thread(target=run, name=name, daemon=True)

    def _fail(self, exc: BaseException) -> None:
        """Fail-stop: a storage error (or a bug) stops the server; what is durable stays so."""
        if self.fatal is None:
            self.fatal = exc
            logger.error("fatal: %s; stopping (restart to recover what is durable)", exc)
            if not isinstance(exc, SimQueueError):
                logger.debug("the error that stopped the server", exc_info=exc)
        self._stop_requested.set()
        shared = self.running.shared
        with shared.lock:
            shared.wake_all()

    # ------------------------------------------------------------------ stopping
    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to stop (what SIGINT/SIGTERM do). Safe from any thread."""
        self._stop_requested.set()

    def serve_forever(self, *, install_signals: bool = True) -> int:
        """Block until SIGINT/SIGTERM (or :meth:`request_stop`), then stop gracefully.
        A second signal cuts the grace period short. Returns an exit code (0, or 1 after a
        storage error)."""
        with self._signals_handled(install_signals):
            while not self._stop_requested.wait(0.5):
                pass
            if self.fatal is None:
                busy = self._running.shared.busy if self._running is not None else 0
                # WARNING, so the default verbosity shows it: it says what a second signal does
                logger.warning(
                    "stopping: no new jobs; %d running job(s) get up to %g s to finish "
                    "(signal again to cut that short)",
                    busy,
                    self.grace,
                )
            self.stop()
        return 1 if self.fatal is not None else 0

    @contextlib.contextmanager
    def _signals_handled(self, install: bool) -> Iterator[None]:
        """SIGINT/SIGTERM request a stop while inside (main thread only); restored after."""
        previous: dict[signal.Signals, Any] = {}
        if install and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_requested.is_set():
            self._abort.set()  # the second signal: no more grace
        self._stop_requested.set()

    def stop(self, grace: float | None = None) -> dict[str, Any]:
        """Stop accepting, let running attempts finish (up to ``grace`` seconds), write a final
        snapshot, release the directory. Returns the final counts. Safe to call twice; a server
        that never started returns ``{}``."""
        run = self._running
        if self._stopped or run is None:
            return {}
        self._stopped = True
        self._stop_requested.set()
        shared = run.shared
        # no new requests; those being committed are answered, every connection closed
        run.httpd.shutdown()
        run.httpd.server_close()
        with shared.lock:
            shared.dispatching = False
            shared.wake_all()
        drain(self._workers, self.grace if grace is None else grace, self._abort)
        self._halt.set()
        with shared.lock:
            shared.committing = False
            shared.commit.notify_all()
        for t in self._threads:
            t.join(5.0)
        self.final = self._close(shared)
        remove_server_file(self.data_dir)
        return self.final

    def _close(self, shared: SharedQueue) -> dict[str, Any]:
        """The final snapshot (unless a fatal error stopped the server) and counts; the queue
        is closed whatever happens."""
        final: dict[str, Any] = {}
        with shared.lock:
            try:
                if self.fatal is None:
                    final["snapshot"] = shared.q.snapshot()
                    self.metrics.snapshots.inc()
                    logger.debug("final snapshot written: %s", final["snapshot"])
                final["counts"] = shared.q.counts()
                final["still_running"] = sum(t.is_alive() for t in self._workers)
            finally:
                with contextlib.suppress(SimQueueError):
                    shared.q.close()
        return final

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the API's operations
    def submit(self, jobs: list[Job]) -> Deferred:
        """``POST /jobs``: :func:`simqueue.service.writes.submit`."""
        return writes.submit(self.running.shared, self.metrics, self._fail, jobs)

    def try_commit(self, seq: int) -> bool:
        """:func:`simqueue.service.writes.try_commit`, for the HTTP loop."""
        return writes.try_commit(self.running.shared, self._fail, seq)

    def status(self) -> dict[str, Any]:
        """Counts, sequence numbers, config and the last recovery report, as plain JSON values,
        once what they say is durable (``durable`` says whether it is)."""
        return self.status_deferred().finish()

    def job(self, job_id: str) -> dict[str, Any]:
        """One job's record as JSON values, once durable (``durable``: false under
        ``fsync="never"``); 404 (:class:`ApiError`) if the queue does not know the id."""
        return self.job_deferred(job_id).finish()

    def status_deferred(self) -> Deferred:
        """:meth:`status` read now, answered once durable (what ``GET /status`` serves)."""
        return status_answer(self)

    def job_deferred(self, job_id: str) -> Deferred:
        """:meth:`job` read now, answered once durable (what ``GET /jobs/<id>`` serves)."""
        return job_answer(self, job_id)


def _locked_gauges(shared: SharedQueue) -> dict[str, Any]:
    with shared.lock:
        return shared.gauges()


# Names the other layers import from this module (cli, testing): the server's public surface.
__all__ = [
    "SERVER_FILE",
    "ApiError",
    "Handler",
    "JobFileError",
    "Server",
    "jobs_to_json",
    "load_handler",
    "non_loopback_warning",
    "parse_jobs",
    "parse_jobs_text",
]
