"""Fuzzing the job-file parser (:func:`simqueue.service.jobfile.parse_jobs_text`, used by
``simqueue enqueue`` and ``POST /jobs``): whatever the input, it returns jobs or raises
:class:`~simqueue.service.jobfile.JobFileError` with one line, nothing else. And what it accepts
can be stored: every job encodes exactly as :meth:`DurableQueue.enqueue_many` encodes it, and
survives a round trip through the wire format. Bounded (200 examples per property, no deadline).

This found four bugs (docs/reliability.md, "Bugs found"): JSON nested too deeply
(``RecursionError``), numbers past float range (``1e400`` became infinity, which the WAL
refuses), a lone surrogate in an id (``UnicodeEncodeError`` when logged) and a huge integer
``timeout_ms`` (``OverflowError``).
"""

from __future__ import annotations

import json
import math

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from simqueue.core.jobs import MAX_ID_BYTES, encode_payload
from simqueue.service.jobfile import JobFileError, jobs_to_json, parse_jobs_text

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# any JSON-ish value, including what Python's json module writes but no job can store
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**1000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)  # includes lone surrogates
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ids = (
    st.text(min_size=0, max_size=12)
    | st.sampled_from(["a", "b", "job-1", "\ud800", "x" * (MAX_ID_BYTES + 1), "é" * 600])
    | values
)
job_items = st.fixed_dictionaries(
    {},
    optional={
        "id": ids,
        "payload": st.none() | st.dictionaries(st.text(max_size=8), values, max_size=4) | values,
        "timeout_ms": st.none() | st.integers() | st.floats() | values,
        "extra": values,
    },
)
# jobs that are nearly right, so that the checks after the first few are reached too
plausible_jobs = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=12) | st.sampled_from(["\ud800", "a\udfff", "é" * 600])},
    optional={
        "payload": st.none() | st.dictionaries(st.text(max_size=8), values, max_size=4),
        "timeout_ms": st.integers(1, 10**6)
        | st.integers(10**300, 10**1000)
        | st.floats(min_value=1e-300, max_value=1e300),
    },
)
documents = st.lists(job_items | plausible_jobs, max_size=6) | values


def check(text: str | bytes) -> None:
    """The property: jobs that can be stored, or a one-line JobFileError."""
    try:
        jobs = parse_jobs_text(text, "fuzz.json")
    except JobFileError as exc:
        msg = str(exc)
        assert msg.startswith("fuzz.json: ") and "\n" not in msg and len(msg) < 400, msg
        return
    assert jobs and len({j.id for j in jobs}) == len(jobs)
    for job in jobs:
        job.id.encode("utf-8")  # what enqueue_many does with the id ...
        encode_payload(job.id, job.payload)  # ... and the payload (no NaN, no infinity)
        assert job.timeout is None or (math.isfinite(job.timeout) and job.timeout > 0)
    again = parse_jobs_text(jobs_to_json(jobs), "round trip")
    assert [(j.id, j.payload) for j in again] == [(j.id, j.payload) for j in jobs]


@FUZZ
@given(documents, st.booleans())
def test_json_documents(doc, as_bytes) -> None:
    try:
        text = json.dumps(doc)  # NaN and Infinity written as such, surrogates as \\ud800
    except ValueError:  # an integer too long to write (Python's own limit)
        return
    check(text.encode() if as_bytes else text)


@FUZZ
@given(st.binary(max_size=300))
def test_raw_bytes(data) -> None:
    check(data)


@FUZZ
@given(st.text(max_size=200))
def test_raw_text(text) -> None:
    check(text)


@FUZZ
@given(
    st.lists(job_items, min_size=1, max_size=4),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), min_size=1, max_size=4),
)
def test_damaged_documents(doc, edits) -> None:
    """A JSON job list with a few bytes replaced, inserted or cut."""
    try:
        data = bytearray(json.dumps(doc).encode())
    except ValueError:
        return
    for pos, junk in edits:
        pos %= len(data) + 1
        data[pos : pos + len(junk) % 2] = junk
    check(bytes(data))


@FUZZ
@given(st.integers(1, 5000), st.sampled_from(["[", '{"a":', '[{"id":"a","payload":{"x":']))
def test_deep_nesting(depth, opener) -> None:
    check(opener * depth)


number_literals = st.from_regex(
    r"-?(0|[1-9][0-9]{0,400})(\.[0-9]{1,5})?([eE][-+]?[0-9]{1,4})?", fullmatch=True
)


@FUZZ
@given(number_literals, st.sampled_from(["payload", "timeout_ms", "sleep_ms"]))
def test_number_literals(number, where) -> None:
    """JSON numbers as written (json.dumps never writes 1e400, a file may)."""
    job = {
        "payload": '{"id": "a", "payload": {"x": NUM}}',
        "timeout_ms": '{"id": "a", "timeout_ms": NUM}',
        "sleep_ms": '{"id": "a", "payload": {"sleep_ms": NUM}}',
    }[where]
    text = "[" + job.replace("NUM", number) + "]"
    check(text)
