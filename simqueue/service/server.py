"""The wall-clock server: the durable queue, worker threads and an HTTP API on 127.0.0.1.

This is the original plan's Controller, run on real time. One :class:`DurableQueue` holds every
job; it is single-threaded, so every touch goes through one lock. Around it:

* **workers** (``config.workers`` threads). Each loops: under the lock, report the result of its
  last attempt (ACK, or RETRY/DEAD) and take the next ready job (DISPATCH logged first); then run
  it outside the lock. These are the plan's *dispatch* and *result* loops, done in one critical
  section per job so a no-op job costs one lock round trip.
* the **timeout loop** times out attempts whose deadline passed (RETRY or DEAD logged). A worker
  that later reports on such an attempt is *stale*: fenced, counted, never applied.
* the **snapshot loop** writes a snapshot every ``snapshot_interval`` seconds.
* the **committer** (group commit, ``fsync="batch"``): sleeps until the oldest unsynced record is
  ``flush_interval`` old, fsyncs once, and wakes every enqueuer whose records that made durable.
  ``POST /jobs`` answers only then, so an answered request survives ``kill -9`` and power loss;
  many requests (and thousands of jobs in one request) share one fsync.
* the **HTTP API** (:class:`http.server.ThreadingHTTPServer`): ``POST /jobs``, ``GET /status``,
  ``GET /jobs/<id>``, ``GET /metrics``. Errors are JSON with a 4xx status; request bodies have a
  size limit; nothing from a request ever becomes a file path.

Work without a handler is simulated as in the original plan: sleep ``payload.sleep_ms`` (else a
draw from ``config.service_time``) and fail with probability ``config.failure_rate`` (or always,
if ``payload.fail`` is true), from RNG streams seeded by ``config.seed``. With a handler
(``module:function``) the function is called with the :class:`~simqueue.Job`; raising is failure.

Stopping (SIGINT/SIGTERM, or :meth:`Server.stop`): the API stops accepting, running attempts get
``grace`` seconds to finish and report, then a final snapshot is written and the directory
released. Attempts still running after that stay IN_FLIGHT in the log; the next start counts them
as interrupted (a failed attempt), exactly as after ``kill -9``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from simqueue.core.clock import WallClock
from simqueue.core.errors import DuplicateJobError, SimQueueError, UnknownJobError
from simqueue.core.jobs import DEAD, Job
from simqueue.core.queue import DurableQueue
from simqueue.service.metrics import CONTENT_TYPE, Metrics
from simqueue.service.network import DEFAULT_MAX_BODY, is_loopback
from simqueue.sim.config import Config

#: Written into the data directory once the server listens: url, host, port, pid.
SERVER_FILE = "server.json"
JOB_FIELDS = ("id", "payload", "timeout_ms")
_JOB_SHAPE = '[{"id": ..., "payload": {...}, "timeout_ms": ...}]'

Handler = Callable[[Job], Any]


# ---------------------------------------------------------------------------------- job files
class JobFileError(ValueError):
    """A job list that cannot be enqueued. The message is one line naming where and what."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    """JSON numbers such as ``1e400`` parse as infinity, which no payload can store."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {_brief(text)} is out of range")
    return value


def _brief(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_jobs_text(text: str | bytes, source: str) -> list[Job]:
    """Jobs from the original demo's format, ``[{"id", "payload", "timeout_ms"}]``."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobFileError(f"{source}: not UTF-8 text (byte offset {exc.start})") from None
    if not text.strip():
        raise JobFileError(f"{source}: is empty; expected a JSON list of jobs {_JOB_SHAPE}")
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise JobFileError(f"{source}: cannot read: JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise JobFileError(
            f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise JobFileError(f"{source}: not valid JSON: {exc}") from None
    return parse_jobs(data, source)


def parse_jobs(data: Any, source: str) -> list[Job]:
    """Check a decoded job list; every problem is reported with the job's position and id."""
    if not isinstance(data, list):
        raise JobFileError(
            f"{source}: expected a JSON list of jobs {_JOB_SHAPE}; got a {_json_type(data)}"
        )
    if not data:
        raise JobFileError(f"{source}: the list of jobs is empty")
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for n, item in enumerate(data, 1):
        where = f"{source}: job #{n}"
        if not isinstance(item, dict):
            raise JobFileError(f"{where}: must be a JSON object; got a {_json_type(item)}")
        if "id" not in item:
            raise JobFileError(f"{where}: has no id")
        job_id = item["id"]
        if not isinstance(job_id, str) or not job_id:
            raise JobFileError(f"{where}: id must be a non-empty string; got {_brief(job_id)}")
        where = f"{source}: job #{n} (id {_brief(job_id)})"
        try:
            job_id.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate such as "\ud800": JSON allows it, UTF-8 not
            raise JobFileError(f"{where}: id is not valid Unicode (a lone surrogate)") from None
        unknown = sorted(set(item) - set(JOB_FIELDS))
        if unknown:
            raise JobFileError(
                f"{where}: unknown field {_brief(unknown[0])} (a job has {', '.join(JOB_FIELDS)})"
            )
        if job_id in seen:
            raise JobFileError(f"{where}: duplicate id (also job #{seen[job_id]})")
        seen[job_id] = n
        payload = item.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise JobFileError(
                f"{where}: payload must be a JSON object; got a {_json_type(payload)}"
            )
        timeout_ms = item.get("timeout_ms")
        if timeout_ms is not None and not _positive_number(timeout_ms):
            raise JobFileError(
                f"{where}: timeout_ms must be a positive number; got {_brief(timeout_ms)}"
            )
        try:
            jobs.append(Job(job_id, payload, None if timeout_ms is None else timeout_ms / 1000))
        except ValueError as exc:
            raise JobFileError(f"{where}: {exc}") from None
    return jobs


def _positive_number(value: Any) -> bool:
    """A finite number > 0 that fits a float (JSON integers have no size limit)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value > 0
    except OverflowError:
        return False


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    for t, name in names.items():
        if isinstance(value, t):
            return name
    return "number" if isinstance(value, int | float) else type(value).__name__


def jobs_to_json(jobs: list[Job]) -> bytes:
    """The wire/file format of :func:`parse_jobs_text`."""
    out = []
    for j in jobs:
        item: dict[str, Any] = {"id": j.id, "payload": j.payload}
        if j.timeout is not None:
            item["timeout_ms"] = j.timeout * 1000
        out.append(item)
    return json.dumps(out, separators=(",", ":")).encode()


def load_handler(spec: str) -> Handler:
    """Import ``module:function`` (the current directory is importable). Raises ValueError."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"handler must look like module:function; got {spec!r}")
    import importlib

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module itself failing to import
        raise ValueError(f"cannot import handler module {module_name!r}: {exc}") from None
    func: Any = module
    for part in func_name.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise ValueError(f"handler module {module_name!r} has no {func_name!r}")
    if not callable(func):
        raise ValueError(f"handler {spec!r} is not callable")
    return func


# ---------------------------------------------------------------------------------- errors
class ApiError(Exception):
    """An HTTP error answer: status code and a one-line message."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class _Released(Exception):
    """Internal: a simulated attempt abandoned because the server is being forced down."""


# ---------------------------------------------------------------------------------- server
class Server:
    """The durable queue on the wall clock, with worker threads and an HTTP API.

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
        log: Callable[[str], None] | None = None,
        access_log: bool = False,
    ) -> None:
        self.data_dir = os.fspath(data_dir)
        self.config = config or Config()
        self.host = host
        self.requested_port = port
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.grace = grace
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.access_log = access_log
        self.metrics = Metrics(self._metrics_state)
        self.q: DurableQueue | None = None
        self.httpd: _HTTPServer | None = None
        self.port = 0
        self.started_at = 0.0
        self.ready_seconds = 0.0
        self.fatal: BaseException | None = None
        self.final: dict[str, Any] = {}

        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # idle workers wait here
        self._durable = threading.Condition(self._lock)  # enqueuers wait for their fsync
        self._commit = threading.Condition(self._lock)  # the committer waits here
        self._stop_requested = threading.Event()  # set by signals / stop()
        self._halt = threading.Event()  # timers stop
        self._abort = threading.Event()  # simulated work abandons (forced stop)
        self._dispatching = False
        self._committing = False
        self._commit_idle = False
        self._seen_ack = 0
        self._busy = 0
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._enqueued_at: dict[str, float] = {}
        seed = self.config.seed
        self._service_rng = random.Random(f"{seed}:server-service")
        self._failure_rng = random.Random(f"{seed}:server-failure")

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Recover the data directory, start the loops, then listen. Raises
        :class:`~simqueue.DataDirLockedError` if another server owns the directory,
        :class:`OSError` if the address cannot be bound."""
        t0 = time.perf_counter()
        self.started_at = time.time()
        c = self.config
        # A server's queue is always durable for real, whatever the config says about
        # simulations.
        options = {**c.queue_options(), "durability": "real"}
        self.q = DurableQueue.open(self.data_dir, clock=WallClock(), **options)
        q = self.q
        try:
            report = q.recovery
            self.metrics.recovery_time.set(report.wall_seconds if report else 0.0)
            for rec in q.iter_jobs():
                if rec.state.value in ("pending", "in_flight"):
                    self._enqueued_at[rec.id] = rec.enqueued_at
            self._seen_ack = self._ack_point()
            self.httpd = _HTTPServer((self.host, self.requested_port), _RequestHandler, self)
        except BaseException:
            q.close()
            raise
        self.port = self.httpd.server_address[1]
        self._dispatching = True
        self._committing = True
        for w in range(c.workers):
            # guarded like the loops: an unexpected error stops the server, it does not
            # silently cost a worker (a poison job would otherwise take them all, one by one)
            work = self._guard(lambda w=w: self._worker_loop(w))
            t = threading.Thread(target=work, name=f"worker-{w}")
            t.daemon = True
            self._workers.append(t)
        loops = [("committer", self._commit_loop), ("timeouts", self._timeout_loop)]
        if c.snapshot_interval is not None:
            loops.append(("snapshots", self._snapshot_loop))
        loops.append(("http", lambda: self.httpd.serve_forever(poll_interval=0.1)))
        for name, target in loops:
            t = threading.Thread(target=self._guard(target), name=name)
            t.daemon = True
            self._threads.append(t)
        for t in self._workers + self._threads:
            t.start()
        self.ready_seconds = time.perf_counter() - t0
        self._write_server_file()

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except SimQueueError as exc:
                self._fail(exc)
            except Exception as exc:  # a bug: say so, and stop rather than limp on
                self._fail(exc)

        return run

    def _fail(self, exc: BaseException) -> None:
        """Fail-stop: a storage error (or a bug) stops the server; what is durable stays so."""
        if self.fatal is None:
            self.fatal = exc
            self.log(f"simqueue: fatal: {exc}; stopping (restart to recover what is durable)")
        self._stop_requested.set()
        with self._lock:
            self._durable.notify_all()
            self._work.notify_all()

    def _write_server_file(self) -> None:
        info = {
            "url": self.url,
            "host": self.host,
            "port": self.port,
            "pid": os.getpid(),
            "started_at": self.started_at,
        }
        path = os.path.join(self.data_dir, SERVER_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
            fh.write("\n")
        os.replace(tmp, path)

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to stop (what SIGINT/SIGTERM do). Safe from any thread."""
        self._stop_requested.set()

    def serve_forever(self, *, install_signals: bool = True) -> int:
        """Block until SIGINT/SIGTERM (or :meth:`request_stop`), then stop gracefully.
        A second signal cuts the grace period short. Returns an exit code (0, or 1 after a
        storage error)."""
        previous = {}
        if install_signals and threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: Any) -> None:
                if self._stop_requested.is_set():
                    self._abort.set()
                self._stop_requested.set()

            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            while not self._stop_requested.wait(0.5):
                pass
            if self.fatal is None:
                self.log(
                    f"simqueue: stopping: no new jobs; {self._busy} running job(s) get up to "
                    f"{self.grace:g} s to finish (signal again to cut that short)"
                )
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.fatal is not None else 0

    def stop(self, grace: float | None = None) -> dict[str, Any]:
        """Stop accepting, let running attempts finish (up to ``grace`` seconds), write a final
        snapshot, release the directory. Returns the final counts. Safe to call twice."""
        if self._stopped or self.q is None:
            return {}
        self._stopped = True
        self._stop_requested.set()
        grace = self.grace if grace is None else grace
        q = self.q
        if self.httpd is not None:
            self.httpd.shutdown()  # no new requests; requests being served finish below
            self.httpd.server_close()
        with self._lock:
            self._dispatching = False
            self._work.notify_all()
        end = time.monotonic() + grace
        while (
            any(t.is_alive() for t in self._workers)
            and time.monotonic() < end
            and not self._abort.is_set()  # a second signal cuts the grace period short
        ):
            for t in self._workers:
                t.join(min(0.05, max(0.0, end - time.monotonic())))
        if any(t.is_alive() for t in self._workers):
            self._abort.set()  # simulated work gives up; a real handler cannot be interrupted
            for t in self._workers:
                t.join(0.5)
        self._halt.set()
        with self._lock:
            self._committing = False
            self._commit.notify_all()
        for t in self._threads:
            t.join(5.0)
        final: dict[str, Any] = {}
        with self._lock:
            try:
                if self.fatal is None:
                    final["snapshot"] = q.snapshot()
                    self.metrics.snapshots.inc()
                final["counts"] = q.counts()
                final["still_running"] = sum(t.is_alive() for t in self._workers)
            finally:
                with contextlib.suppress(SimQueueError):
                    q.close()
                self._durable.notify_all()
        with contextlib.suppress(OSError):
            os.remove(os.path.join(self.data_dir, SERVER_FILE))
        self.final = final
        return final

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ bookkeeping
    def _ack_point(self) -> int:
        q = self.q
        return q.written_seq if q.fsync_policy == "never" else q.durable_seq

    def _after(self) -> None:
        """Under the lock, after anything that appended: wake enqueuers whose records became
        durable, and the committer if a group commit is now pending."""
        ack = self._ack_point()
        if ack != self._seen_ack:
            self._seen_ack = ack
            self._durable.notify_all()
        if self._commit_idle and self.q.sync_due_at is not None:
            self._commit.notify()

    def _metrics_state(self) -> dict[str, Any]:
        with self._lock:
            q = self.q
            if q is None or q.stopped:
                return {"pending": 0, "in_flight": 0, "fsyncs": 0, "durable_seq": 0}
            c = q.counts()
            return {
                "pending": c["pending"],
                "in_flight": c["in_flight"],
                "fsyncs": q.fs.stats.fsyncs,
                "durable_seq": q.durable_seq,
            }

    def _finished(self, job_id: str, completed: bool) -> None:
        t0 = self._enqueued_at.pop(job_id, None)
        if completed:
            self.metrics.completed.inc()
            if t0 is not None:
                self.metrics.latency.observe(max(0.0, time.time() - t0))
        else:
            self.metrics.dead.inc()

    # ------------------------------------------------------------------ the API's operations
    def enqueue(self, jobs: list[Job]) -> dict[str, Any]:
        """Enqueue all of ``jobs`` or none; return once they are acknowledged (durable under the
        fsync policy). Raises :class:`ApiError` (409 duplicate id, 503 stopping/stopped)."""
        with self._lock:
            q = self.q
            if not self._dispatching or q is None or q.stopped:
                raise ApiError(503, "the server is stopping and accepts no new jobs")
            try:
                seq = q.enqueue_many(jobs)
            except DuplicateJobError as exc:
                raise ApiError(409, str(exc), job_id=exc.job_id) from None
            except SimQueueError as exc:
                self._fail_later(exc)
                raise ApiError(503, f"the queue cannot accept work: {exc}") from None
            now = time.time()
            for j in jobs:
                self._enqueued_at[j.id] = now
            self._work.notify(len(jobs))
            self._after()
            while not q.is_acknowledged(seq):
                if self.fatal is not None or q.stopped:
                    raise ApiError(503, "the queue stopped before the jobs became durable")
                self._durable.wait(1.0)
            durable = q.durable_seq
        self.metrics.enqueued.inc(len(jobs))
        return {"accepted": len(jobs), "last_seq": seq, "durable_seq": durable}

    def _fail_later(self, exc: BaseException) -> None:
        threading.Thread(target=self._fail, args=(exc,), daemon=True).start()

    def status(self) -> dict[str, Any]:
        """Counts, sequence numbers, config and the last recovery report, as plain JSON values."""
        with self._lock:
            q = self.q
            report = q.recovery
            out: dict[str, Any] = {
                "url": self.url,
                "pid": os.getpid(),
                "data_dir": os.path.abspath(self.data_dir),
                "uptime_seconds": time.time() - self.started_at,
                "ready_seconds": self.ready_seconds,
                "stopping": not self._dispatching,
                "counts": q.counts(),
                "jobs": len(q),
                "workers": {"total": self.config.workers, "busy": self._busy},
                "seq": {"last": q.last_seq, "durable": q.durable_seq},
                "fsyncs": q.fs.stats.fsyncs,
                "dispatches": q.dispatches,
                "failures": q.failures,
                "timeouts": q.timeouts,
                "interruptions": q.interruptions,
                "stale_results": q.stale_results,
                "snapshots": q.snapshots_taken,
                "config": self.config.to_dict(),
                "server": {
                    "host": self.host,
                    "port": self.port,
                    "max_body_bytes": self.max_body_bytes,
                    "handler": _handler_name(self.handler),
                },
                "recovery": None,
                "fatal": None if self.fatal is None else str(self.fatal),
            }
            if report is not None:
                out["recovery"] = dict(report.as_dict(), description=report.describe())
            out["config"]["durability"] = "real"
        return out

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            try:
                return self.q.job(job_id).as_dict()
            except UnknownJobError as exc:
                raise ApiError(404, str(exc), job_id=job_id) from None

    # ------------------------------------------------------------------ the loops
    def _worker_loop(self, w: int) -> None:
        result: tuple[Job, str] | None = None
        try:
            while True:
                with self._lock:
                    if self.q.stopped:  # closed under a handler that outlived the grace period
                        return
                    if result is not None:
                        self._busy -= 1
                        self._report(*result)
                        result = None
                    job = plan = None
                    while self._dispatching and not self._stop_requested.is_set():
                        job = self.q.dispatch(w)
                        if job is not None:
                            break
                        self._after()
                        ready_at = self.q.next_ready_at()
                        wait = 1.0 if ready_at is None else min(1.0, ready_at - time.time())
                        if wait > 0:
                            self._work.wait(wait)
                    if job is None:
                        self._after()
                        return
                    self._busy += 1
                    self.metrics.dispatched.inc()
                    if self.handler is None:
                        plan = self._plan(job)
                    self._after()
                try:
                    result = (job, self._run(job, plan))
                except _Released:
                    with self._lock:
                        self._busy -= 1
                    return
        except SimQueueError as exc:
            self._fail(exc)

    def _plan(self, job: Job) -> tuple[float, bool, bool]:
        """Under the lock (one RNG stream): how long a simulated attempt takes, whether it fails
        and whether it hangs."""
        c = self.config
        payload = job.payload or {}
        sleep_ms = payload.get("sleep_ms")
        service = None
        if isinstance(sleep_ms, int | float) and not isinstance(sleep_ms, bool):
            try:
                service = sleep_ms / 1000.0
            except OverflowError:  # an integer past float range: longer than any deadline
                service = math.inf if sleep_ms > 0 else None
            if service is not None and not service >= 0:  # negative (or NaN): not a duration
                service = None
        if service is None:
            service = c.service_time.sample(self._service_rng)
        fails = self._failure_rng.random() < c.failure_rate or payload.get("fail") is True
        hangs = c.hang_rate > 0 and self._failure_rng.random() < c.hang_rate
        return service, fails, hangs

    def _run(self, job: Job, plan: tuple[float, bool, bool] | None) -> str:
        """Run one attempt outside the lock: ``"ok"``, ``"failed"`` or ``"timeout"``."""
        if plan is None:
            try:
                self.handler(job)
            except Exception as exc:
                self.log(f"simqueue: job {job.id!r} attempt {job.attempt} failed: {exc!r}")
                return "failed"
            return "ok"
        service, fails, hangs = plan
        remaining = (job.deadline or math.inf) - time.time()
        if hangs or service >= remaining:
            # The attempt would outlive its deadline: give up at the deadline, as a context
            # with a timeout would (the timeout loop may already have expired it: then stale).
            if self._abort.wait(max(0.0, remaining)):
                raise _Released
            return "timeout"
        if service > 0 and self._abort.wait(service):
            raise _Released
        return "failed" if fails else "ok"

    def _report(self, job: Job, outcome: str) -> None:
        """Under the lock: apply one attempt's result (fenced if the attempt is stale)."""
        q = self.q
        if outcome == "ok":
            if q.complete(job.id, job.attempt):
                self._finished(job.id, completed=True)
            else:
                self.metrics.stale.inc()
            return
        state = q.fail(job.id, job.attempt, "timeout" if outcome == "timeout" else "failed")
        if state is None:
            self.metrics.stale.inc()
            return
        (self.metrics.timeouts if outcome == "timeout" else self.metrics.failed).inc()
        if state is DEAD:
            self._finished(job.id, completed=False)
        else:
            self._work.notify()

    def _timeout_loop(self) -> None:
        while not self._halt.is_set():
            with self._lock:
                if self.q.stopped:
                    return
                expired = self.q.expire()
                for job_id in expired:
                    self.metrics.timeouts.inc()
                    if self.q.state_of(job_id) is DEAD:
                        self._finished(job_id, completed=False)
                if expired:
                    self._work.notify(len(expired))
                    self._after()
                nxt = self.q.next_deadline()
            wait = 0.25 if nxt is None else min(0.25, max(0.002, nxt - time.time()))
            self._halt.wait(wait)

    def _snapshot_loop(self) -> None:
        interval = self.config.snapshot_interval
        while not self._halt.wait(interval):
            with self._lock:
                if self.q.stopped:
                    return
                self.q.snapshot()
                self.metrics.snapshots.inc()
                self._after()

    def _commit_loop(self) -> None:
        """Group commit: one fsync per ``flush_interval`` for everything written meanwhile."""
        q = self.q
        with self._lock:
            while self._committing and not q.stopped:
                due = q.sync_due_at
                if due is None:
                    self._commit_idle = True
                    self._commit.wait(1.0)
                    self._commit_idle = False
                    continue
                delay = due - time.time()
                if delay > 0:
                    self._commit.wait(delay)
                    continue
                q.sync()
                self._after()


def _handler_name(handler: Handler | None) -> str | None:
    if handler is None:
        return None
    mod = getattr(handler, "__module__", "?")
    return f"{mod}:{getattr(handler, '__qualname__', repr(handler))}"


# ---------------------------------------------------------------------------------- HTTP
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # stop() waits for requests being answered (their jobs are durable)
    block_on_close = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: socketserver's 5 resets bursts of clients

    def __init__(self, address: tuple[str, int], handler: type, app: Server) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, handler)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "simqueue"
    sys_version = ""
    timeout = 10  # seconds a client may take to send its request
    error_content_type = "application/json"

    # -- plumbing -----------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.access_log:
            self.server.app.log(f"{self.address_string()} {format % args}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors http.server raises itself (bad request line, unsupported method) as JSON."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # garbage request line: still answer with headers
        self._send_json(code, {"error": message or phrase, "status": code})

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: dict | None = None) -> None:
        body = json.dumps(obj, indent=None, separators=(",", ":"), default=str).encode() + b"\n"
        self._send(status, body, "application/json", headers)

    def _route(self, method: str) -> None:
        try:
            path = urlsplit(self.path).path
            app = self.server.app
            if path == "/jobs":
                if method != "POST":
                    raise ApiError(405, f"{method} /jobs is not allowed; use POST", allow="POST")
                self._send_json(200, app.enqueue(self._read_jobs()))
            elif path.startswith("/jobs/"):
                if method != "GET":
                    raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")
                job_id = unquote(path[len("/jobs/") :], errors="strict")
                self._send_json(200, app.job(job_id))
            elif path == "/status":
                self._get_only(method, path)
                self._send_json(200, app.status())
            elif path == "/metrics":
                self._get_only(method, path)
                self._send(200, app.metrics.render(), CONTENT_TYPE)
            elif path == "/":
                self._get_only(method, path)
                self._send_json(
                    200,
                    {
                        "service": "simqueue",
                        "endpoints": [
                            "POST /jobs",
                            "GET /jobs/<id>",
                            "GET /status",
                            "GET /metrics",
                        ],
                    },
                )
            else:
                raise ApiError(404, f"no such endpoint: {method} {path}")
        except ApiError as exc:
            headers = {"Allow": exc.extra.pop("allow")} if "allow" in exc.extra else None
            self._send_json(
                exc.status, {"error": exc.message, "status": exc.status, **exc.extra}, headers
            )
        except UnicodeDecodeError:
            self._send_json(400, {"error": "the request path is not valid UTF-8", "status": 400})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except TimeoutError:
            raise  # a stalled client: http.server drops the connection
        except Exception as exc:  # a bug: answer (JSON, 500) instead of dropping the connection
            self.server.app.log(f"simqueue: error answering {method} {self.path!r}: {exc!r}")
            self.close_connection = True
            self._send_json(500, {"error": f"internal error: {exc!r}", "status": 500})

    def _get_only(self, method: str, path: str) -> None:
        if method not in ("GET", "HEAD"):
            raise ApiError(405, f"{method} {path} is not allowed; use GET", allow="GET")

    def _read_jobs(self) -> list[Job]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ApiError(411, "chunked request bodies are not supported; send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.close_connection = True
            raise ApiError(411, "POST /jobs needs a Content-Length header")
        if len(set(self.headers.get_all("Content-Length"))) > 1:  # which one frames the body?
            self.close_connection = True
            raise ApiError(400, "conflicting Content-Length headers")
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            raise ApiError(400, f"bad Content-Length header: {raw!r}") from None
        limit = self.server.app.max_body_bytes
        if length > limit:
            self._discard(length)
            raise ApiError(
                413,
                f"request body is {length} bytes; this server accepts at most {limit} "
                "(max_body_bytes): send the jobs in smaller batches",
                max_body_bytes=limit,
            )
        try:
            body = self.rfile.read(length)
        except TimeoutError:  # headers, then silence: answer and free this thread
            self.close_connection = True
            raise ApiError(
                408, f"request body not received within {self.timeout:g} s; closing"
            ) from None
        if len(body) < length:
            self.close_connection = True
            raise ApiError(400, f"request body ended after {len(body)} of {length} bytes")
        try:
            return parse_jobs_text(body, "request body")
        except JobFileError as exc:
            raise ApiError(400, str(exc)) from None

    def _discard(self, length: int) -> None:
        """Read (and drop) an oversized body for a moment so the client sees our 413 rather
        than a reset connection; never buffer it, never wait long."""
        self.close_connection = True
        deadline = time.monotonic() + 2.0
        left = length
        with contextlib.suppress(OSError):
            self.connection.settimeout(0.5)
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")


def non_loopback_warning(host: str) -> str | None:
    """The warning ``simqueue run`` prints when the API would be reachable from elsewhere."""
    if is_loopback(host):
        return None
    return (
        f"warning: binding to {host}: the API has no authentication; anyone who can reach this "
        "address can enqueue jobs and read their payloads"
    )


__all__ = [
    "Server",
    "ApiError",
    "JobFileError",
    "parse_jobs",
    "parse_jobs_text",
    "jobs_to_json",
    "load_handler",
    "non_loopback_warning",
    "SERVER_FILE",
]
