"""The server's own HTTP/1.1 (simqueue.service.http11) and the raw-socket client: requests split
across reads or pipelined, the header limits, case-insensitive headers, answers split across
reads, and the client's reconnect rules (a broken reused connection is retried for GET, never
for POST)."""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from serverutil import in_process

from simqueue.service.client import Client, ServerUnavailableError
from simqueue.service.http11 import (
    MAX_HEADERS,
    MAX_LINE,
    BadRequest,
    Headers,
    RequestBuffer,
    answer,
    date_header,
    parse_head,
)


class Chunks:
    """A connection whose reads arrive as the given chunks, one by one, then the end of the
    input, fed to a :class:`RequestBuffer` as the HTTP loop feeds it."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.reads = 0
        self.buffer = RequestBuffer()

    def _feed(self) -> bool:
        """One more chunk into the buffer; False at the end of the input."""
        self.reads += 1
        if not self.chunks:
            return False
        self.buffer.feed(self.chunks.pop(0))
        return True

    def read_head(self) -> bytes:
        while True:
            more = self._feed() if not self.buffer else True
            head = self.buffer.take_head(ended=not more)
            if head is not None:
                return head
            if not self._feed():
                return self.buffer.take_head(ended=True) or b""

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n and self._feed():
            pass
        return self.buffer.take(n)


def reader(*chunks: bytes) -> Chunks:
    return Chunks(*chunks)


POST = b'POST /jobs HTTP/1.1\r\nHost: h:1\r\nContent-Length: 12\r\n\r\n[{"id":"a"}]'


# ---------------------------------------------------------------------------- framing
END = POST.index(b"\r\n\r\n")  # the cuts around it split the blank line that ends the head


@pytest.mark.parametrize("cut", [1, 5, 20, *range(END - 1, END + 5), len(POST) - 1])
def test_a_request_split_across_reads_is_framed_whole(cut) -> None:
    r = reader(POST[:cut], POST[cut:])
    req = parse_head(r.read_head())
    assert req is not None and (req.method, req.target) == ("POST", "/jobs")
    assert req.headers.get("content-length") == "12"
    assert r.read(12) == b'[{"id":"a"}]'


def test_a_request_sent_one_byte_at_a_time_is_framed_whole() -> None:
    r = reader(*(POST[i : i + 1] for i in range(len(POST))))
    req = parse_head(r.read_head())
    assert req is not None and req.keep_alive and r.read(12) == b'[{"id":"a"}]'


def test_pipelined_requests_are_read_one_after_another() -> None:
    get = b"GET /status HTTP/1.1\r\n\r\n"
    r = reader(POST + get + POST[:10], POST[10:])
    first = parse_head(r.read_head())
    assert first is not None and first.method == "POST" and r.read(12) == b'[{"id":"a"}]'
    second = parse_head(r.read_head())
    assert second is not None and (second.method, second.target) == ("GET", "/status")
    third = parse_head(r.read_head())
    assert third is not None and third.method == "POST" and r.read(12) == b'[{"id":"a"}]'
    assert r.read_head() == b"" and parse_head(b"") is None  # the end of the input


def test_bare_newlines_end_lines_and_the_head_as_http_client_accepts() -> None:
    r = reader(b"GET / HTTP/1.1\nHost: x\n\nGET", b" /status HTTP/1.1\r\n\r\n")
    req = parse_head(r.read_head())
    assert req is not None and req.headers.get("Host") == "x"
    after = parse_head(r.read_head())  # the blank line was the first request's, all of it
    assert after is not None and after.target == "/status"


def test_a_head_cut_by_the_end_of_the_input_is_what_arrived() -> None:
    r = reader(b"POST /jobs HTTP/1.1\r\nContent-Length: 10\r\n")
    req = parse_head(r.read_head())
    assert req is not None and req.headers.get("Content-Length") == "10"
    assert r.read(10) == b""  # the caller answers "body ended after 0 of 10 bytes"


def test_a_blank_line_first_is_no_request() -> None:
    assert parse_head(reader(b"\r\nGET / HTTP/1.1\r\n\r\n").read_head()) is None


# ---------------------------------------------------------------------------- limits
def head_with(lines: list[bytes]) -> bytes:
    return b"GET / HTTP/1.1\r\n" + b"".join(x + b"\r\n" for x in lines) + b"\r\n"


def test_header_count_limit() -> None:
    ok = parse_head(head_with([b"X-A: b"] * MAX_HEADERS))
    assert ok is not None and ok.headers.get_all("x-a") == ["b"] * MAX_HEADERS
    with pytest.raises(BadRequest) as exc:
        parse_head(head_with([b"X-A: b"] * (MAX_HEADERS + 1)))
    assert (exc.value.status, exc.value.message) == (431, "Too many headers")


def test_a_header_line_over_the_line_limit_is_431() -> None:
    with pytest.raises(BadRequest) as exc:
        parse_head(head_with([b"X-Big: " + b"a" * MAX_LINE]))
    assert (exc.value.status, exc.value.message) == (431, "Line too long")


def test_headers_over_the_total_limit_are_431() -> None:
    with pytest.raises(BadRequest) as exc:
        parse_head(head_with([b"X-A: " + b"a" * 30_000] * 3))
    assert exc.value.status == 431 and "too large" in exc.value.message


def test_a_request_line_over_the_limit_is_414_even_if_it_never_ends() -> None:
    with pytest.raises(BadRequest) as exc:
        parse_head(b"GET /" + b"x" * MAX_LINE + b" HTTP/1.1\r\n\r\n")
    assert exc.value.status == 414
    endless = reader(*([b"GET /" + b"x" * 60_000] * 10))
    with pytest.raises(BadRequest) as exc:
        endless.read_head()
    assert exc.value.status == 414


def test_headers_that_never_end_stop_at_the_limit() -> None:
    endless = reader(b"GET / HTTP/1.1\r\n", *([b"X-A: " + b"a" * 1000 + b"\r\n"] * 200))
    with pytest.raises(BadRequest) as exc:
        endless.read_head()
    assert exc.value.status == 431
    assert endless.reads < 200  # not read to the end


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b" X-Folded: b", 400),  # obs-fold: a continuation of the previous line
        (b"X-A : b", 400),  # space before the colon
        (b"no colon here", 400),
        (b": empty name", 400),
    ],
)
def test_header_lines_that_invite_smuggling_are_refused(line, status) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_head(head_with([b"X-A: b", line]))
    assert exc.value.status == status


@pytest.mark.parametrize(
    ("line", "status", "fragment"),
    [
        (b"GET / HTTP/2.0", 505, "Invalid HTTP version (2.0)"),
        (b"GET / HTTP/1.x", 400, "Bad request version"),
        (b"GET / FTP/1.1", 400, "Bad request version"),
        (b"GET / HTTP/1.1 extra", 400, "Bad request version"),
        (b"GET a b HTTP/1.1", 400, "Bad request syntax"),
        (b"POST /jobs", 400, "Bad HTTP/0.9 request type ('POST')"),
    ],
)
def test_bad_request_lines(line, status, fragment) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_head(line + b"\r\n\r\n")
    assert exc.value.status == status and fragment in exc.value.message


# ---------------------------------------------------------------------------- headers
def test_headers_are_case_insensitive_and_keep_every_value_in_order() -> None:
    h = Headers([("Content-Length", "1"), ("X-Many", "a"), ("x-many", "b"), ("X-MANY", "c")])
    assert h.get("content-length") == h.get("CONTENT-LENGTH") == "1"
    assert h.get("x-many") == "a"  # the first wins, as with email.message.Message
    assert h.get_all("X-Many") == ["a", "b", "c"]
    assert "CONTENT-length" in h and "Host" not in h and 3 not in h
    assert h.get("Host") is None and h.get("Host", "d") == "d" and h.get_all("Host") is None
    assert len(h) == 4


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Keep-Alive, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
        ("HTTP/1.0", "Upgrade, Keep-Alive", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection(version, connection, keep_alive) -> None:
    extra = f"Connection: {connection}\r\n" if connection else ""
    req = parse_head(f"GET / {version}\r\n{extra}\r\n".encode())
    assert req is not None and req.keep_alive is keep_alive


def test_expect_100_continue_only_from_http_1_1() -> None:
    head = "POST /jobs {}\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    for version, expected in (("HTTP/1.1", True), ("HTTP/1.0", False)):
        req = parse_head(head.format(version).encode())
        assert req is not None and req.expect_continue is expected


# ---------------------------------------------------------------------------- answers
def test_an_answer_is_one_bytes_with_length_and_close() -> None:
    raw = answer(404, b'{"e":1}\n', "application/json", {"Allow": "GET"}, close=True)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 404 Not Found" and body == b'{"e":1}\n'
    assert b"Content-Length: 8" in lines and b"Allow: GET" in lines
    assert b"Connection: close" in lines and b"Content-Type: application/json" in lines


def test_a_head_answer_has_the_length_but_no_body() -> None:
    raw = answer(200, b"12345", "text/plain", head=True)
    assert raw.endswith(b"Content-Length: 5\r\n\r\n")


def test_the_date_header_is_the_http_date_of_its_second() -> None:
    for t in (0.0, 951782400.5, 1_790_000_000.0):
        expected = email.utils.formatdate(int(t), usegmt=True)
        assert date_header(t) == f"Date: {expected}\r\n".encode()
    assert date_header(1_790_000_000.9) is date_header(1_790_000_000.1)  # computed once


# ---------------------------------------------------------------------------- the server
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with in_process(tmp_path_factory.mktemp("h11") / "q") as srv:
        yield srv


def answers(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` answers (head, body) read off ``sock`` by their Content-Length."""
    data, out = b"", []
    while len(out) < count:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            chunk = sock.recv(65536)
            assert chunk, f"the server closed after {len(out)} answers"
            data += chunk
            continue
        head = data[:end]
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        while len(data) < end + 4 + length:
            data += sock.recv(65536)
        out.append((head, data[end + 4 : end + 4 + length]))
        data = data[end + 4 + length :]
    return out


def test_the_server_answers_pipelined_requests_in_order(server) -> None:
    body = b'[{"id":"piped"}]'
    post = b"POST /jobs HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" + post + b"GET /jobs/piped HTTP/1.1\r\n\r\n")
        got = answers(s, 3)
    assert [h.split(b" ")[1] for h, _ in got] == [b"200"] * 3
    assert json.loads(got[0][1])["service"] == "simqueue"
    assert json.loads(got[1][1])["accepted"] == 1
    assert json.loads(got[2][1])["id"] == "piped"


def test_the_server_frames_a_request_sent_in_pieces(server) -> None:
    data = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        for i in range(0, len(data), 7):
            s.sendall(data[i : i + 7])
            time.sleep(0.01)
        ((head, body),) = answers(s, 1)
    assert head.startswith(b"HTTP/1.1 200 ") and "counts" in json.loads(body)


def test_an_http_1_0_keep_alive_request_is_told_and_kept_alive(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        for _ in range(2):  # the same connection serves both
            s.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            ((head, _),) = answers(s, 1)
            assert b"\r\nConnection: keep-alive" in head


def test_expect_100_continue_gets_the_interim_answer_first(server) -> None:
    body = b'[{"id":"continued"}]'
    head = b"POST /jobs HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(head % len(body))
        assert s.recv(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        ((final, raw),) = answers(s, 1)
    assert final.startswith(b"HTTP/1.1 200 ") and json.loads(raw)["accepted"] == 1


def test_a_head_request_gets_no_body(server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}\n"):
            data += s.recv(65536)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Length: " in first and rest.startswith(b"HTTP/1.1 200 ")


# ---------------------------------------------------------------------------- the client
Script = Callable[["FakeServer", socket.socket], None]


class FakeServer:
    """A listener on 127.0.0.1 running ``script(self, connection)`` on each connection it
    accepts; ``heads`` holds every request head it read, in order."""

    def __init__(self, script: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.heads: list[bytes] = []
        self.script = script
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            self.script(self, conn)

    def read_request(self, conn: socket.socket) -> bytes:
        conn.settimeout(10.0)
        buf = RequestBuffer()
        while (head := buf.take_head()) is None:
            chunk = conn.recv(65536)
            if not chunk:
                head = buf.take_head(ended=True) or b""
                break
            buf.feed(chunk)
        req = parse_head(head)
        if req is not None:
            length = int(req.headers.get("Content-Length", "0"))
            while len(buf) < length and (chunk := conn.recv(65536)):
                buf.feed(chunk)
        self.heads.append(head)
        return head


@pytest.fixture
def fake_server() -> Iterator[Callable[[Script], FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Script) -> FakeServer:
        servers.append(FakeServer(script))
        return servers[-1]

    yield start
    for srv in servers:
        srv.listener.close()


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def test_the_client_reads_an_answer_split_across_reads(fake_server) -> None:
    def script(srv: FakeServer, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(3):
            srv.read_request(conn)
            for i in range(0, len(OK), 9):
                conn.sendall(OK[i : i + 9])
                time.sleep(0.005)

    srv = fake_server(script)
    heads = srv.heads
    with Client(srv.url, timeout=10, token="tok") as c:
        for _ in range(3):
            assert c.request("POST", "/jobs", b"[]") == (200, {"ok": True})
    assert len(heads) == 3 and all(b"Authorization: Bearer tok\r\n" in h for h in heads)
    assert all(h.startswith(b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1:") for h in heads)


def test_the_client_honours_connection_close(fake_server) -> None:
    closing = OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")

    def script(srv: FakeServer, conn: socket.socket) -> None:
        srv.read_request(conn)
        conn.sendall(closing)

    srv = fake_server(script)
    heads = srv.heads
    with Client(srv.url, timeout=10) as c:
        assert c.request("GET", "/") == (200, {"ok": True})
        assert c._conn is None  # noqa: SLF001 - closed after the answer
        assert c.request("GET", "/") == (200, {"ok": True})
    assert len(heads) == 2


def test_a_broken_reused_connection_is_retried_for_get_but_never_for_post(fake_server) -> None:
    """The server reads the second request on a connection and closes without answering (as
    one that is stopping might): GET is sent again on a new connection; POST raises, sent once,
    because its jobs may have been acknowledged before the connection broke."""

    def script(srv: FakeServer, conn: socket.socket) -> None:
        srv.read_request(conn)
        conn.sendall(OK)
        srv.read_request(conn)  # then close without an answer

    srv = fake_server(script)
    heads = srv.heads
    with Client(srv.url, timeout=10) as c:
        assert c.request("GET", "/status")[0] == 200
        assert c.request("GET", "/status")[0] == 200  # broke, retried on connection 2
        assert len(heads) == 3
        with pytest.raises(ServerUnavailableError, match="no answer from the simqueue server"):
            c.request("POST", "/jobs", b"[]")  # connection 2's second request
        assert [h.split(b" ")[0] for h in heads] == [b"GET", b"GET", b"GET", b"POST"]
        assert c.request("POST", "/jobs", b"[]")[0] == 200  # a new connection after the error


def test_an_idle_connection_the_server_closed_is_reopened_for_get_and_post(fake_server) -> None:
    def script(srv: FakeServer, conn: socket.socket) -> None:
        srv.read_request(conn)
        conn.sendall(OK)  # then close: an idle connection cut by the server

    srv = fake_server(script)
    heads = srv.heads
    with Client(srv.url, timeout=10) as c:
        assert c.request("GET", "/")[0] == 200
        time.sleep(0.1)  # the close arrives before the next request is sent
        assert c.request("POST", "/jobs", b"[]")[0] == 200
        assert c.request("GET", "/")[0] == 200
    assert len(heads) == 3


def test_a_truncated_answer_is_an_unavailable_server(fake_server) -> None:
    def script(srv: FakeServer, conn: socket.socket) -> None:
        srv.read_request(conn)
        conn.sendall(OK[:-3])  # then close, three bytes short

    srv = fake_server(script)
    with Client(srv.url, timeout=10) as c, pytest.raises(ServerUnavailableError):
        c.request("GET", "/")


def test_a_client_request_path_cannot_inject_headers() -> None:
    from simqueue.service.client import BadUrlError

    with Client("http://127.0.0.1:9") as c, pytest.raises(BadUrlError):
        c.request("GET", "/jobs/x HTTP/1.1\r\nX-Evil: 1")
