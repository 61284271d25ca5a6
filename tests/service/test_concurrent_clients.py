"""Concurrent clients of the server: HTTP/1.1 keep-alive (a client's requests share one
connection; a connection that could hold an unread body is closed after its answer) and the
group commit (``POST /jobs`` answered once its jobs are durable, under ``batch`` without waiting
for ``flush_interval``; requests that arrive while an fsync runs are answered after the next
one, and the server's lock is free meanwhile).
"""

from __future__ import annotations

import json
import socket
import threading

import pytest
from serverutil import in_process, jobs, wait_until

from simqueue.service.client import Client, ServerUnavailableError, http_json


def _body(ids: list[str]) -> bytes:
    return json.dumps([{"id": i} for i in ids]).encode()


def test_one_client_sends_many_requests_on_one_connection(tmp_path) -> None:
    with in_process(tmp_path / "q", fsync="always") as srv, Client(srv.url) as c:
        assert c.request("POST", "/jobs", _body(["a"]))[0] == 200
        port = c._conn.sock.getsockname()[1]  # noqa: SLF001 - which connection carried it
        for i in range(5):
            assert c.request("POST", "/jobs", _body([f"b{i}"]))[0] == 200
            assert c.request("GET", "/status")[0] == 200
            assert c._conn.sock.getsockname()[1] == port  # noqa: SLF001
        assert len(srv.httpd.connections) == 1


def test_a_connection_the_server_closed_is_reopened_before_the_next_request(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv, Client(srv.url) as c:
        assert c.request("GET", "/status")[0] == 200
        srv.httpd.connections.deadline = 0.0  # the server's sweep cuts the idle connection
        wait_until(lambda: len(srv.httpd.connections) == 0, what="the cut connection closed")
        srv.httpd.connections.deadline = 20.0
        assert c.request("POST", "/jobs", _body(["a"]))[0] == 200  # not a broken pipe


def test_a_body_sent_to_a_get_closes_the_connection_after_the_answer(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        body = b"GET /status HTTP/1.1\r\n"
        # the "body" is a second request line: it must never be served
        smuggled = b"POST /jobs HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        head = f"Host: 127.0.0.1:{srv.port}\r\nContent-Length: {len(smuggled)}\r\n\r\n"
        sock.sendall(body + head.encode() + smuggled)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        sock.close()
        assert raw.startswith(b"HTTP/1.1 ") and b"Connection: close" in raw
        assert raw.count(b"HTTP/1.1 ") == 1


def test_http_1_0_without_keep_alive_is_closed_after_its_answer(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        sock.sendall(f"GET /status HTTP/1.0\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        sock.close()
        assert b'"durable":true' in raw


@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_concurrent_posts_are_each_answered_durable(tmp_path, fsync) -> None:
    # flush_interval of an hour: under batch an answer that waited for it would never come
    with in_process(tmp_path / "q", fsync=fsync, flush_interval=3600.0) as srv:
        answers: list[dict] = []
        errors: list[BaseException] = []

        def client(t: int) -> None:
            try:
                with Client(srv.url, timeout=60) as c:
                    for i in range(10):
                        status, ans = c.request("POST", "/jobs", _body([f"t{t}-{i}"]))
                        assert status == 200, ans
                        answers.append(ans)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert len(answers) == 80
        assert all(a["durable_seq"] >= a["last_seq"] for a in answers)
        assert srv.q.durable_seq >= max(a["last_seq"] for a in answers)


def test_http_json_still_makes_one_request_and_reports_a_dead_server(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        status, ans = http_json(srv.url, "POST", "/jobs", json.dumps(jobs(2)).encode())
        assert status == 200 and ans["accepted"] == 2
        url = srv.url
    with pytest.raises(ServerUnavailableError, match="no simqueue server"):
        http_json(url, "GET", "/status", timeout=5)


def _send_post(port: int, job_id: str) -> socket.socket:
    """A connection that has sent one ``POST /jobs`` (into the kernel's buffers) and not read."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    body = _body([job_id])
    sock.sendall(b"POST /jobs HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return sock


def _status_of(sock: socket.socket) -> int:
    with sock:
        return int(sock.recv(65536).split(b" ", 2)[1])


def test_requests_arriving_during_an_fsync_are_answered_after_it_and_the_lock_stays_free(
    tmp_path,
) -> None:
    # The first WAL fsync after start is held on an event: while it runs, the server's lock
    # is free (workers and timers go on) and the POSTs sent meanwhile wait, unanswered, for
    # the next commit; all are answered once the fsync returns.
    with in_process(tmp_path / "q", fsync="always", workers=1) as srv:
        fs, shared = srv.q.fs, srv.running.shared
        started, release = threading.Event(), threading.Event()
        hook = fs.before

        def holding(op: str, path: str) -> None:
            hook(op, path)
            if op == "fsync" and "/wal/" in path and not started.is_set():
                started.set()
                assert release.wait(60)

        fs.before = holding  # type: ignore[method-assign]
        try:
            socks = [_send_post(srv.port, "j0")]
            assert started.wait(30)
            assert shared.lock.acquire(timeout=10)  # not held across the fsync
            shared.lock.release()
            socks += [_send_post(srv.port, f"j{i}") for i in range(1, 5)]
            for s in socks:
                s.settimeout(0.3)
                with pytest.raises(TimeoutError):  # nothing is answered before it is durable
                    s.recv(1)
                s.settimeout(60)
        finally:
            release.set()
        assert [_status_of(s) for s in socks] == [200] * 5
        assert srv.q.durable_seq >= srv.q.last_seq - 2  # the worker's records may follow
