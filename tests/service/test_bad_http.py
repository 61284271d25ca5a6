"""Bad HTTP: garbage bodies and request lines, wrong methods, odd paths, slow clients (headers,
then silence), half-closed and reset connections. Each gets a JSON error or a closed
connection, never a stuck thread or a changed queue: GET /status is checked after every one."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time

import pytest
from serverutil import call, finished, in_process, jobs, request, wait_until

from simqueue.service.http_loop import ApiServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with in_process(tmp_path_factory.mktemp("http") / "q", max_body_bytes=4096) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(3))[0] == 200
        # Idle before any test compares the log's last seq: a running job appends records.
        wait_until(lambda: finished(srv.url, 3), what="the 3 jobs to finish")
        yield srv


def state(srv) -> tuple:
    status, st = call(srv.url, "GET", "/status")
    assert status == 200 and st["fatal"] is None
    return st["jobs"], st["seq"]["last"]


def exchange(port: int, data: bytes, *, half_close: bool = True, timeout: float = 10) -> bytes:
    """Send ``data``, optionally shut down our write side, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with contextlib.suppress(OSError):  # the server may answer and close before we finish
            s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        chunks = []
        with contextlib.suppress(ConnectionResetError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


def answer(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"Content-Type: application/json" in head, head
    return status, json.loads(body)


GARBAGE_BODIES = {
    "random_bytes": random.Random(7).randbytes(2000),
    "form_encoded": b"id=a&payload=b",
    "xml": b'<?xml version="1.0"?><jobs><job id="a"/></jobs>',
    "yaml": b"- id: a\n  payload: {}\n",
    "python_literal": b"[{'id': 'a'}]",
    "http_in_body": b"GET /status HTTP/1.1\r\n\r\n",
    "json_lines": b'{"id": "a"}\n{"id": "b"}\n',
}


@pytest.mark.parametrize("name", sorted(GARBAGE_BODIES))
def test_garbage_body_is_a_json_400(server, name) -> None:
    before = state(server)
    status, headers, raw = request(server.url, "POST", "/jobs", GARBAGE_BODIES[name])
    assert status == 400 and headers["Content-Type"] == "application/json"
    assert json.loads(raw)["error"].startswith("request body: ")
    assert state(server) == before


REQUESTS = [
    # (what is sent, expected status, a fragment of the JSON error)
    (b"OPTIONS /jobs HTTP/1.1\r\n\r\n", 501, "Unsupported method ('OPTIONS')"),
    (b"TRACE / HTTP/1.1\r\n\r\n", 501, "Unsupported method ('TRACE')"),
    (b"FROB /jobs HTTP/1.1\r\n\r\n", 501, "Unsupported method ('FROB')"),
    (b"PATCH /status HTTP/1.1\r\n\r\n", 405, "use GET"),
    (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405, "use GET"),
    (b"GET /JOBS HTTP/1.1\r\n\r\n", 404, "no such endpoint"),
    (b"GET /status/extra HTTP/1.1\r\n\r\n", 404, "no such endpoint"),
    (b"GET * HTTP/1.1\r\n\r\n", 404, "no such endpoint"),
    (b"GET /jobs/ HTTP/1.1\r\n\r\n", 404, "unknown job id ''"),
    (b"GET /" + b"x" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
    (b"GET /status HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431, "Too many headers"),
    (b"GET /status HTTP/2.0\r\n\r\n", 505, "Invalid HTTP version"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40), 400, "Bad request"),
    (b"POST /jobs HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"),
    (b"POST /jobs HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400, "bad Content-Length"),
    # regression: the first of two Content-Length headers used to frame the body
    (
        b"POST /jobs HTTP/1.1\r\nContent-Length: 12\r\nContent-Length: 20\r\n\r\n"
        b'[{"id":"q"}]xxxxxxxx',
        400,
        "conflicting Content-Length headers",
    ),
]


@pytest.mark.parametrize(("data", "code", "fragment"), REQUESTS, ids=lambda x: repr(x)[:30])
def test_bad_request_gets_a_json_error(server, data, code, fragment) -> None:
    before = state(server)
    status, body = answer(exchange(server.port, data))
    assert status == code and fragment in body["error"], body
    assert state(server) == before


def test_half_closed_clients_get_an_answer_and_change_nothing(server) -> None:
    """The client shuts down its write side early: the server sees the end of the request,
    answers on the still-open read side, and enqueues nothing."""
    before = state(server)
    post = b"POST /jobs HTTP/1.1\r\nContent-Length: 100\r\n\r\n"
    for data, code, fragment in [
        (post + b'[{"id": "cut", ', 400, "request body ended after 15 of 100 bytes"),
        (post, 400, "request body ended after 0 of 100 bytes"),
        (b"POST /jobs HTTP/1.1\r\nContent-Length: 10\r\n", 400, "ended after 0 of 10 bytes"),
        (b"POST /jo", 400, "Bad HTTP/0.9 request type"),
    ]:
        status, body = answer(exchange(server.port, data, half_close=True))
        assert status == code and fragment in body["error"], body
        assert state(server) == before
    assert exchange(server.port, b"", half_close=True) == b""  # connect, close: nothing
    # a complete request, then half-closed: answered normally
    status, body = answer(exchange(server.port, b"GET /status HTTP/1.1\r\n\r\n"))
    assert status == 200 and body["jobs"] == before[0]


def test_a_client_that_resets_mid_body_changes_nothing(server) -> None:
    before = state(server)
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b'POST /jobs HTTP/1.1\r\nContent-Length: 500\r\n\r\n[{"id": "reset-1"}')
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # linger 0: RST instead of FIN
    time.sleep(0.2)
    assert state(server) == before
    assert call(server.url, "GET", "/jobs/reset-1")[0] == 404


def test_slow_clients_are_timed_out_and_others_are_served(server, monkeypatch) -> None:
    """Headers, then silence (or half a request line, then silence): each stalled client holds
    only its own thread, gets a 408 (or a closed connection) after the timeout, and meanwhile
    everyone else is answered at once."""
    monkeypatch.setattr(ApiServer, "read_timeout", 1.0)
    before = state(server)
    stalled = []
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        if i % 2:
            s.sendall(b"POST /jobs HTTP/1.1\r\nContent-Length: 50\r\n\r\n[{")  # body stalls
        else:
            s.sendall(b"GET /sta")  # request line stalls
        stalled.append(s)
    t0 = time.monotonic()
    assert call(server.url, "POST", "/jobs", [{"id": "while-stalled"}])[0] == 200
    assert call(server.url, "GET", "/jobs/while-stalled")[0] == 200
    assert time.monotonic() - t0 < 1.0  # not queued behind the stalled ones
    answers = []
    for s in stalled:
        with s:
            chunks = []
            with contextlib.suppress(ConnectionResetError):
                while chunk := s.recv(65536):
                    chunks.append(chunk)
            answers.append(b"".join(chunks))
    waited = time.monotonic() - t0
    assert 0.9 < waited < 8.0
    for i, raw in enumerate(answers):
        if i % 2:
            status, body = answer(raw)
            assert status == 408 and "request body not received within 1 s" in body["error"]
        else:
            assert raw == b""  # nothing to answer: the connection is dropped
    jobs_after, seq_after = state(server)
    assert jobs_after == before[0] + 1 and seq_after > before[1]


def test_many_concurrent_bad_clients_do_not_disturb_good_ones(server) -> None:
    errors: list[str] = []
    good: list[int] = []

    def bad(i: int) -> None:
        try:
            data = GARBAGE_BODIES[sorted(GARBAGE_BODIES)[i % len(GARBAGE_BODIES)]]
            head = f"POST /jobs HTTP/1.1\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            status, _ = answer(exchange(server.port, head + data))
            if status != 400:
                errors.append(f"bad client {i}: {status}")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(repr(exc))

    def ok(i: int) -> None:
        good.append(call(server.url, "POST", "/jobs", [{"id": f"crowd-{i}"}])[0])

    threads = [threading.Thread(target=bad, args=(i,)) for i in range(40)]
    threads += [threading.Thread(target=ok, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and good == [200] * 10
    for i in range(10):
        assert call(server.url, "GET", f"/jobs/crowd-{i}")[0] == 200
