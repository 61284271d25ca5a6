"""The answers of ``GET /status`` and ``GET /jobs/<id>``, read under the queue's lock.

What they report is durable before they answer: each is a
:class:`~simqueue.service.http_api.Deferred` on the last record written before the read, so the
HTTP loop answers it once the fsync covering that record returned (under ``fsync="batch"``
too: the read starts or joins the group commit), and a job shown ``completed`` is completed
after ``kill -9`` too. Each answer says so in ``durable``; it is
false under ``fsync="never"`` (nothing is synced until a snapshot) and when the queue stopped
before the sync.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Protocol

from simqueue.core.errors import UnknownJobError
from simqueue.service.http_api import ApiError, Deferred
from simqueue.service.shared import SharedQueue
from simqueue.service.work import Handler, handler_name
from simqueue.sim.config import Config


class _Running(Protocol):
    @property
    def shared(self) -> SharedQueue: ...


class Server(Protocol):
    """What the answers read of the server (:class:`simqueue.service.server.Server`)."""

    data_dir: str
    config: Config
    host: str
    port: int
    max_body_bytes: int
    handler: Handler | None
    token: str | None
    started_at: float
    ready_seconds: float
    fatal: BaseException | None

    @property
    def url(self) -> str: ...

    @property
    def running(self) -> _Running: ...


def status_answer(srv: Server) -> Deferred:
    """Counts, sequence numbers, config and the last recovery report, as plain JSON values."""
    shared = srv.running.shared

    def read() -> tuple[dict[str, Any], bool]:
        return shared.status(srv.config.workers), not shared.dispatching

    value, seq = shared.read_at(read)
    return Deferred(seq, functools.partial(_status, srv, value, seq))


def _status(srv: Server, value: tuple[dict[str, Any], bool], seq: int) -> dict[str, Any]:
    shared = srv.running.shared
    queue, stopping = value
    durable = shared.durable_through(seq)
    if durable:  # the wait made every record the read saw durable: say so, not the value before
        queue["seq"]["durable"] = max(queue["seq"]["durable"], queue["seq"]["last"])
    out: dict[str, Any] = {
        "url": srv.url,
        "pid": os.getpid(),
        "data_dir": os.path.abspath(srv.data_dir),
        "uptime_seconds": time.time() - srv.started_at,
        "ready_seconds": srv.ready_seconds,
        "stopping": stopping,
        "durable": durable,
        **queue,
        "config": dict(srv.config.to_dict(), durability="real"),
        "server": {
            "host": srv.host,
            "port": srv.port,
            "max_body_bytes": srv.max_body_bytes,
            "handler": handler_name(srv.handler),
            "token": srv.token is not None,
        },
        "recovery": None,
        "fatal": None if srv.fatal is None else str(srv.fatal),
    }
    report = shared.q.recovery
    if report is not None:
        out["recovery"] = dict(report.as_dict(), description=report.describe())
    return out


def job_answer(srv: Server, job_id: str) -> Deferred:
    """One job's record as JSON values, plus ``durable``; 404 if the queue does not know it."""
    shared = srv.running.shared
    try:
        rec, seq = shared.read_at(functools.partial(shared.q.job, job_id))
    except UnknownJobError as exc:
        raise ApiError(404, str(exc), job_id=job_id) from None
    answer = rec.as_dict()
    return Deferred(seq, lambda: {**answer, "durable": shared.durable_through(seq)})


__all__ = ["job_answer", "status_answer"]
