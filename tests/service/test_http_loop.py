"""The HTTP loop (simqueue/service/http_loop.py) against a stand-in for the server: requests that
arrive while a commit runs share the next one; while another thread's commit runs the loop
serves everyone else and answers once that commit ends; pipelined requests are answered in
order; an answer a client does not read holds up nobody else; the loop says when it last
answered.

The stand-in's commit counts as one fsync and can be held on an event, so what shares which
commit is decided by the test, not by the machine's speed.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from serverutil import wait_until

from simqueue.core.jobs import Job
from simqueue.service.http_api import ApiError, Deferred
from simqueue.service.http_loop import PARSE_ELSEWHERE, READ_AHEAD, ApiServer
from simqueue.service.metrics import Metrics


class StandIn:
    """What the loop serves: each ``POST /jobs`` appends one record; a commit makes every
    record appended so far durable. ``held`` blocks the next commit until released;
    ``elsewhere`` plays another thread's commit running (``try_commit`` answers False)."""

    access_log = False
    max_body_bytes = 1 << 20
    token = None

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.appended = 0
        self.durable = 0
        self.commits: list[int] = []  # the last record each commit covered
        self.elsewhere = False
        self.held: threading.Event | None = None
        self.holding = threading.Event()
        self.big = b""

    def submit(self, jobs: list[Job]) -> Deferred:
        self.appended += 1
        seq = self.appended
        return Deferred(seq, lambda: {"seq": seq, "durable": self.durable >= seq})

    def status_deferred(self) -> Deferred:
        seq = self.appended
        return Deferred(seq, lambda: {"durable": self.durable >= seq})

    def job_deferred(self, job_id: str) -> Deferred:
        if job_id != "big":
            raise ApiError(404, f"unknown job {job_id!r}")
        return Deferred(0, lambda: {"payload": self.big.decode()})

    def try_commit(self, seq: int) -> bool:
        if seq <= self.durable:
            return True
        if self.elsewhere:
            return False
        if self.held is not None:
            self.holding.set()
            assert self.held.wait(30)
            self.held = None
        self.commits.append(self.appended)
        self.durable = self.appended
        return True


@pytest.fixture
def loop() -> Iterator[tuple[ApiServer, StandIn]]:
    app = StandIn()
    httpd = ApiServer(("127.0.0.1", 0), app)  # type: ignore[arg-type]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, app
    if app.held is not None:
        app.held.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def post(job_id: str) -> bytes:
    body = json.dumps([{"id": job_id}]).encode()
    return b"POST /jobs HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


GET_STATUS = b"GET /status HTTP/1.1\r\n\r\n"


def connect(httpd: ApiServer, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", httpd.server_address[1]), timeout=30)
    if data:
        sock.sendall(data)
    return sock


def answers(sock: socket.socket, n: int) -> list[tuple[int, dict[str, Any]]]:
    """The next ``n`` answers on ``sock``: (status, JSON body)."""
    buf, out = b"", []
    while len(out) < n:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            if len(rest) >= length:
                out.append((int(head.split(b" ", 2)[1]), json.loads(rest[:length])))
                buf = rest[length:]
                continue
        chunk = sock.recv(1 << 20)
        assert chunk, f"the connection closed after {len(out)} of {n} answers"
        buf += chunk
    return out


def nothing_yet(sock: socket.socket) -> bool:
    """Whether nothing arrives on ``sock`` for 0.3 s (what did arrive stays to be read)."""
    sock.settimeout(0.3)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(30)
    return False


def test_requests_that_arrive_during_a_commit_share_the_next_one(loop) -> None:
    httpd, app = loop
    app.held = threading.Event()
    first = connect(httpd, post("first"))
    assert app.holding.wait(30)
    # sent while the loop waits for the held commit: all four are in the kernel's buffers
    others = [connect(httpd, post(f"j{i}")) for i in range(4)]
    app.held.set()
    assert answers(first, 1) == [(200, {"seq": 1, "durable": True})]
    got = sorted(answers(s, 1)[0][1]["seq"] for s in others)
    assert got == [2, 3, 4, 5]
    assert app.commits == [1, 5]  # one commit for the first, one shared by the other four
    for s in [first, *others]:
        s.close()


def test_the_loop_says_when_it_last_answered_and_inf_while_answers_wait(loop) -> None:
    """What a worker under ``always`` reads to follow the loop's commits (service/follow.py)."""
    httpd, app = loop
    assert httpd.last_answer() == -float("inf")  # nothing answered yet
    app.held = threading.Event()
    with connect(httpd, post("a")) as s:
        assert app.holding.wait(30)
        assert httpd.last_answer() == float("inf")  # its answer waits for the loop's commit
        app.held.set()
        answers(s, 1)
        assert -float("inf") < httpd.last_answer() < float("inf")


def test_while_another_threads_commit_runs_the_loop_serves_everyone_else(loop) -> None:
    httpd, app = loop
    app.elsewhere = True
    waiting = connect(httpd, post("a"))
    wait_until(lambda: app.appended == 1, what="the POST to be appended")
    assert nothing_yet(waiting)  # not answered before its record is durable
    with connect(httpd, b"GET / HTTP/1.1\r\n\r\n") as other:
        assert answers(other, 1)[0][0] == 200  # the loop is not stuck behind that commit
    app.elsewhere, app.durable = False, 1  # the other thread's commit covered record 1
    httpd.wake()
    assert answers(waiting, 1) == [(200, {"seq": 1, "durable": True})]
    assert app.commits == []  # the loop led none: the other commit was enough
    waiting.close()


def test_pipelined_requests_are_answered_in_order_each_once_durable(loop) -> None:
    httpd, app = loop
    unknown = b"GET /jobs/nope HTTP/1.1\r\n\r\n"
    with connect(httpd, post("a") + GET_STATUS + post("b") + unknown) as s:
        got = answers(s, 4)
    assert got == [
        (200, {"seq": 1, "durable": True}),
        (200, {"durable": True}),
        (200, {"seq": 2, "durable": True}),
        (404, {"error": "unknown job 'nope'", "status": 404}),
    ]


def test_an_answer_a_client_does_not_read_holds_up_nobody_else(loop) -> None:
    httpd, app = loop
    app.big = b"x" * (16 << 20)  # more than the sockets' buffers take at once
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)  # before connecting: fixed
    slow.settimeout(30)
    slow.connect(("127.0.0.1", httpd.server_address[1]))
    slow.sendall(b"GET /jobs/big HTTP/1.1\r\n\r\n")
    unsent = lambda: any(p.out for p in list(httpd.connections.peers.values()))  # noqa: E731
    wait_until(unsent, what="the rest of the answer to wait in the loop")
    for i in range(3):  # meanwhile the loop answers others
        with connect(httpd, post(f"j{i}")) as other:
            assert answers(other, 1)[0][0] == 200
    status, body = answers(slow, 1)[0]
    assert status == 200 and len(body["payload"]) == len(app.big)
    slow.close()


def test_a_large_body_is_parsed_off_the_loop_and_others_are_served_meanwhile(loop) -> None:
    httpd, app = loop
    parse, parsing, release = httpd.router.parse, threading.Event(), threading.Event()

    def held_parse(body: bytes, length: int) -> Any:
        if length >= PARSE_ELSEWHERE:
            parsing.set()
            assert release.wait(30)
        return parse(body, length)

    httpd.router.parse = held_parse  # type: ignore[method-assign]
    body = json.dumps([{"id": f"j{i}", "payload": {"pad": "x" * 100}} for i in range(800)])
    assert len(body) >= PARSE_ELSEWHERE
    big = connect(httpd, b"POST /jobs HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body))
    big.sendall(body.encode())
    assert parsing.wait(30)
    with connect(httpd, b"GET / HTTP/1.1\r\n\r\n") as other:
        assert answers(other, 1)[0][0] == 200  # served while the big body is parsed
    assert nothing_yet(big) and app.appended == 0
    release.set()
    assert answers(big, 1) == [(200, {"seq": 1, "durable": True})]
    big.close()


def test_a_client_that_pipelines_faster_than_it_is_answered_is_held_back_by_tcp(loop) -> None:
    httpd, app = loop
    app.elsewhere = True  # the first answer waits for a commit that does not end
    s = connect(httpd, post("first"))
    wait_until(lambda: app.appended == 1, what="the POST to be appended")
    s.setblocking(False)
    # 48 MB of pipelined requests: more than the kernel's buffers on both sides hold
    flood, sent = GET_STATUS * 2_000_000, 0
    while sent < len(flood):
        try:
            sent += s.send(flood[sent : sent + 65536])
        except BlockingIOError:  # the buffers are full: the server stopped reading
            break
    peer = next(iter(httpd.connections.peers.values()))
    wait_until(lambda: peer.paused, what="the loop to stop reading the connection")
    assert len(peer.inbuf) <= READ_AHEAD + 65536  # bounded, whatever the client sends
    assert sent < len(flood)
    app.elsewhere, app.durable = False, 1
    httpd.wake()
    s.setblocking(True)
    assert answers(s, 3) == [(200, {"seq": 1, "durable": True})] + [(200, {"durable": True})] * 2
    s.close()
