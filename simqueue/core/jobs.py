"""Jobs and their state machine.

::

    PENDING --dispatch--> IN_FLIGHT --ack--------> COMPLETED   (final)
       ^                      |
       +------retry-----------+---dead---------> DEAD        (final)

``attempt`` counts dispatches. With ``max_retry = R`` a job gets at most ``R + 1`` attempts; a
failure, timeout or interruption of the last one makes it DEAD. The table below is the whole
machine: recovery checks every replayed record against it
(:func:`simqueue.core.replay.apply_record`); the live operations only ever choose a transition it
allows (dispatch takes a PENDING job, results are fenced to the current IN_FLIGHT attempt);
``tests/core/test_stateful.py`` checks that the two agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simqueue.core.checks import is_finite_number
from simqueue.core.errors import IllegalTransitionError


class JobState(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"
    DEAD = "dead"

    def __str__(self) -> str:
        return self.value


PENDING = JobState.PENDING
IN_FLIGHT = JobState.IN_FLIGHT
COMPLETED = JobState.COMPLETED
DEAD = JobState.DEAD

#: (state, event) -> next state. Anything missing is illegal.
TRANSITIONS: dict[tuple[JobState | None, str], JobState] = {
    (None, "enqueue"): PENDING,
    (PENDING, "dispatch"): IN_FLIGHT,
    (IN_FLIGHT, "ack"): COMPLETED,
    (IN_FLIGHT, "retry"): PENDING,
    (IN_FLIGHT, "dead"): DEAD,
}

FINAL_STATES = frozenset({COMPLETED, DEAD})


def next_state(job_id: str, state: JobState | None, event: str) -> JobState:
    """The state after ``event``, or :class:`IllegalTransitionError` naming the job."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransitionError(
            f"job {job_id!r}: cannot {event} from state {state.value if state else 'new'}"
        ) from None


@dataclass(frozen=True, slots=True)
class Job:
    """A unit of work: an id (the idempotency key), a JSON-object payload and an optional
    per-job timeout in seconds. ``attempt`` and ``token`` (the attempt's fencing token, unique
    across crashes: :mod:`simqueue.core.fencing`) are filled in by ``dispatch``."""

    id: str
    payload: dict[str, Any] | None = None
    timeout: float | None = None
    attempt: int = 0
    deadline: float | None = field(default=None, compare=False)
    token: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        validate_job_fields(self.id, self.payload, self.timeout)

    @classmethod
    def _stored(
        cls,
        job_id: str,
        payload: dict[str, Any] | None,
        timeout: float | None,
        attempt: int,
        deadline: float,
        token: int | None = None,
    ) -> Job:
        """A job read back from the queue: it was validated when it was enqueued, so skip the
        checks (they are a noticeable share of a dispatch)."""
        job = object.__new__(cls)
        object.__setattr__(job, "id", job_id)
        object.__setattr__(job, "payload", payload)
        object.__setattr__(job, "timeout", timeout)
        object.__setattr__(job, "attempt", attempt)
        object.__setattr__(job, "deadline", deadline)
        object.__setattr__(job, "token", token)
        return job


MAX_ID_BYTES = 1024


def validate_job_fields(job_id: Any, payload: Any, timeout: Any) -> None:
    """Reject what cannot be stored, with a message naming the field and the job."""
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"job id must be a non-empty string, got {job_id!r}")
    if len(job_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise ValueError(f"job id {job_id[:40]!r}... is longer than {MAX_ID_BYTES} bytes")
    if payload is not None and not isinstance(payload, dict):
        raise ValueError(
            f"job {job_id!r}: payload must be a JSON object (dict) or None, "
            f"got {type(payload).__name__}"
        )
    if timeout is not None and (not is_finite_number(timeout) or timeout <= 0):
        raise ValueError(f"job {job_id!r}: timeout must be a positive number, got {timeout!r}")


def encode_payload(job_id: str, payload: dict[str, Any] | None) -> bytes:
    """Payloads are stored as compact JSON bytes and decoded only when someone asks, so replay
    never parses them."""
    if payload is None:
        return b""
    try:
        return _ENCODE(payload).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"job {job_id!r}: payload is not JSON-serialisable: {exc}") from None


def decode_payload(raw: bytes) -> dict[str, Any] | None:
    return _DECODE(raw.decode()) if raw else None


# One encoder and decoder for every payload: json.dumps with options builds a new encoder on
# every call, which costs more than encoding a small payload.
_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_DECODE = json.JSONDecoder().decode


class JobRecord:
    """The store's mutable record of one job. Internal: readers get :class:`JobInfo`."""

    __slots__ = (
        "id",
        "id_bytes",
        "state",
        "attempt",
        "payload_raw",
        "timeout",
        "enqueued_at",
        "first_dispatch_at",
        "finished_at",
        "worker",
        "deadline",
        "ready_at",
        "ready_seq",
        "reason",
    )

    def __init__(
        self,
        job_id: str,
        payload_raw: bytes,
        timeout: float | None,
        enqueued_at: float,
        seq: int,
        id_bytes: bytes | None = None,
    ) -> None:
        self.id = job_id
        # Encoded once (or handed over by a caller that has the bytes already): every record
        # about the job carries it.
        self.id_bytes = job_id.encode() if id_bytes is None else id_bytes
        self.state = PENDING
        self.attempt = 0
        self.payload_raw = payload_raw
        self.timeout = timeout
        self.enqueued_at = enqueued_at
        self.first_dispatch_at: float | None = None
        self.finished_at: float | None = None
        self.worker = -1
        self.deadline = 0.0
        self.ready_at = enqueued_at
        self.ready_seq = seq
        self.reason = ""

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            state=self.state,
            attempt=self.attempt,
            payload=decode_payload(self.payload_raw),
            timeout=self.timeout,
            enqueued_at=self.enqueued_at,
            first_dispatch_at=self.first_dispatch_at,
            finished_at=self.finished_at,
            worker=self.worker if self.state is IN_FLIGHT else None,
            deadline=self.deadline if self.state is IN_FLIGHT else None,
            ready_at=self.ready_at if self.state is PENDING else None,
            reason=self.reason or None,
        )


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A read-only view of one job, safe to hand to notebooks, the CLI and the HTTP API."""

    id: str
    state: JobState
    attempt: int
    payload: dict[str, Any] | None
    timeout: float | None
    enqueued_at: float
    first_dispatch_at: float | None
    finished_at: float | None
    worker: int | None
    deadline: float | None
    ready_at: float | None
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state.value,
            "attempt": self.attempt,
            "payload": self.payload,
            "timeout": self.timeout,
            "enqueued_at": self.enqueued_at,
            "first_dispatch_at": self.first_dispatch_at,
            "finished_at": self.finished_at,
            "worker": self.worker,
            "deadline": self.deadline,
            "ready_at": self.ready_at,
            "reason": self.reason,
        }
