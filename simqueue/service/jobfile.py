"""The job-file format, shared by ``simqueue enqueue`` files and ``POST /jobs`` bodies.

A job list is JSON: ``[{"id": ..., "payload": {...}, "timeout_ms": ...}]``. Parsing is strict and
every refusal is a :class:`JobFileError` whose message is one line naming the source, the job's
position and id, and what is wrong, so a user can fix the file without reading code.
"""

from __future__ import annotations

import json
import math
from typing import Any

from simqueue.core.checks import is_finite_number
from simqueue.core.jobs import Job

JOB_FIELDS = ("id", "payload", "timeout_ms")
_JOB_SHAPE = '[{"id": ..., "payload": {...}, "timeout_ms": ...}]'


class JobFileError(ValueError):
    """A job list that cannot be enqueued. The message is one line naming where and what."""


def parse_jobs_text(text: str | bytes, source: str) -> list[Job]:
    """Jobs from the job-file format, ``[{"id", "payload", "timeout_ms"}]``."""
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
    seen: dict[str, int] = {}
    return [_parse_job(item, n, source, seen) for n, item in enumerate(data, 1)]


def _parse_job(item: Any, n: int, source: str, seen: dict[str, int]) -> Job:
    """Job number ``n`` of the list; ``seen`` maps the ids before it to their positions."""
    where = f"{source}: job #{n}"
    if not isinstance(item, dict):
        raise JobFileError(f"{where}: must be a JSON object; got a {_json_type(item)}")
    job_id = _job_id(item, where)
    where = f"{source}: job #{n} (id {_brief(job_id)})"
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
        raise JobFileError(f"{where}: payload must be a JSON object; got a {_json_type(payload)}")
    timeout_ms = item.get("timeout_ms")
    if timeout_ms is not None and not (is_finite_number(timeout_ms) and timeout_ms > 0):
        raise JobFileError(
            f"{where}: timeout_ms must be a positive number; got {_brief(timeout_ms)}"
        )
    try:
        return Job(job_id, payload, None if timeout_ms is None else timeout_ms / 1000)
    except ValueError as exc:
        raise JobFileError(f"{where}: {exc}") from None


def _job_id(item: dict[str, Any], where: str) -> str:
    """The job's id: a non-empty string that UTF-8 can encode (the WAL stores it so)."""
    if "id" not in item:
        raise JobFileError(f"{where}: has no id")
    job_id = item["id"]
    if not isinstance(job_id, str) or not job_id:
        raise JobFileError(f"{where}: id must be a non-empty string; got {_brief(job_id)}")
    try:
        job_id.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800": JSON allows it, UTF-8 not
        raise JobFileError(
            f"{where} (id {_brief(job_id)}): id is not valid Unicode (a lone surrogate)"
        ) from None
    return job_id


def jobs_to_json(jobs: list[Job]) -> bytes:
    """The wire/file format of :func:`parse_jobs_text`."""
    out = []
    for j in jobs:
        item: dict[str, Any] = {"id": j.id, "payload": j.payload}
        if j.timeout is not None:
            item["timeout_ms"] = j.timeout * 1000
        out.append(item)
    return json.dumps(out, separators=(",", ":")).encode()


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


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    for t, name in names.items():
        if isinstance(value, t):
            return name
    return "number" if isinstance(value, int | float) else type(value).__name__


__all__ = ["JOB_FIELDS", "JobFileError", "jobs_to_json", "parse_jobs", "parse_jobs_text"]
