"""The server defects of the audit (issue 18, items 4, 6, 7, 8, 9 and parts of 13): dirty reads
under ``fsync="batch"``, a handler raising ``BaseException``, descriptor and memory exhaustion,
slow clients, cross-site requests and DNS rebinding, file modes, token authentication, and two
client-side input checks."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serverutil import (
    BOUND,
    ROOT,
    call,
    child_env,
    child_server,
    in_process,
    jobs,
    request,
    stop,
    wait_ready,
    wait_until,
)

from simqueue import Config
from simqueue.cli.main import main
from simqueue.core.jobs import Job
from simqueue.service.http_loop import ApiServer
from simqueue.service.server import Server

FAST = ("--workers", "2", "--service-time", "constant(0.001)", "--failure-rate", "0")


@contextlib.contextmanager
def server_with(data_dir: Path, **server_kwargs: Any) -> Iterator[Server]:
    """An in-process server with the server's own keyword arguments (token, handler...)."""
    cfg = Config(workers=2, service_time="constant(0.001)", failure_rate=0.0)
    srv = Server(str(data_dir), cfg, port=0, grace=5.0, **server_kwargs)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- 4: no dirty reads
@pytest.mark.parametrize("endpoint", ["job", "status"])
def test_a_job_reported_completed_is_still_completed_after_kill_9(tmp_path, endpoint) -> None:
    """Under ``fsync="batch"`` with a long group-commit interval, the moment the API first says
    ``completed`` the job's ACK must already be durable: a kill -9 right then keeps it."""
    d = tmp_path / "q"
    args = (*FAST, "--fsync", "batch", "--flush-interval", "1s", "--batch-size", "100000")
    with child_server(d, *args) as (proc, url):
        # the attempt outlasts the group commit that acknowledges the enqueue: its ACK opens
        # a new window, synced a second later
        assert call(url, "POST", "/jobs", [{"id": "j", "payload": {"sleep_ms": 1500}}])[0] == 200

        def completed() -> bool:
            if endpoint == "job":
                return call(url, "GET", "/jobs/j")[1]["state"] == "completed"
            return call(url, "GET", "/status")[1]["counts"]["completed"] == 1

        wait_until(completed, what="the job to be reported completed")
        proc.send_signal(signal.SIGKILL)
        proc.wait(BOUND)
    with child_server(d, *args) as (_, url):
        answer = call(url, "GET", "/jobs/j")[1]
        assert answer["state"] == "completed", answer
        assert answer["attempt"] == 1, "the job ran again after it was reported completed"


def test_under_fsync_never_a_job_answer_says_it_is_not_durable(tmp_path) -> None:
    with in_process(tmp_path / "q", fsync="never") as srv:
        assert call(srv.url, "POST", "/jobs", [{"id": "n"}])[0] == 200
        answer = call(srv.url, "GET", "/jobs/n")[1]
        assert answer["durable"] is False
        assert call(srv.url, "GET", "/status")[1]["durable"] is False


# ---------------------------------------------------------------------- 6: BaseException
class _Custom(BaseException):
    pass


def _raising_handler(job: Job) -> None:
    kinds = {"exit": SystemExit(3), "kbd": KeyboardInterrupt(), "base": _Custom("custom")}
    if job.id in kinds:
        raise kinds[job.id]


def test_a_handler_raising_base_exceptions_fails_the_attempt_and_the_worker_lives_on(
    tmp_path, caplog
) -> None:
    caplog.set_level(logging.WARNING, logger="simqueue.service")
    cfg = Config(workers=1, max_retry=0, failure_rate=0.0)
    srv = Server(str(tmp_path / "q"), cfg, port=0, grace=5.0, handler=_raising_handler)
    srv.start()
    try:
        body = [{"id": i} for i in ("exit", "kbd", "base", "after-1", "after-2")]
        assert call(srv.url, "POST", "/jobs", body)[0] == 200
        for i in ("after-1", "after-2"):
            wait_until(
                lambda i=i: call(srv.url, "GET", f"/jobs/{i}")[1]["state"] == "completed",
                what=f"{i} to run on the only worker",
            )
        st = call(srv.url, "GET", "/status")[1]
        assert st["counts"]["dead"] == 3 and st["workers"]["busy"] == 0
        assert st["fatal"] is None
        assert all(t.is_alive() for t in srv._workers)
    finally:
        srv.stop()
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for name in ("SystemExit", "KeyboardInterrupt", "_Custom"):
        assert name in warned, warned


# ---------------------------------------------------------------------- 7: descriptors, memory
RLIMITED = (
    "import resource, runpy, sys\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (160, hard))\n"
    "sys.argv = ['simqueue', '-vv', 'run'] + sys.argv[1:]\n"
    "runpy.run_module('simqueue', run_name='__main__', alter_sys=True)\n"
)


def test_idle_connections_cannot_exhaust_the_descriptors_snapshots_need(tmp_path) -> None:
    """With 160 open files, 200 idle connections: the server keeps descriptors for snapshots
    (written every 50 ms meanwhile), refuses the excess with 503 and stays up."""
    d = tmp_path / "q"
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-c", RLIMITED, "--data-dir", str(d), "--port", "0", *FAST]
    cmd += ["--snapshot-interval", "50ms"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT
        )
    socks: list[socket.socket] = []
    try:
        url = wait_ready(proc, d)
        port = int(url.rsplit(":", 1)[1])
        for _ in range(200):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=BOUND))
        before = log.read_text().count("snapshot written")

        def snapshots_while_held() -> bool:
            assert proc.poll() is None, "server stopped: " + log.read_text()[-2000:]
            return log.read_text().count("snapshot written") >= before + 5

        wait_until(snapshots_while_held, what="snapshots while 200 connections are open")
        assert socks[-1].recv(4096).startswith(b"HTTP/1.1 503")
        for s in socks:
            s.close()
        socks.clear()
        assert wait_until(lambda: call(url, "POST", "/jobs", jobs(3))[0] == 200)
        assert proc.poll() is None
        assert "EMFILE" not in log.read_text() and "Too many open files" not in log.read_text()
    finally:
        for s in socks:
            s.close()
        stop(proc)


def test_request_bodies_share_one_memory_budget(tmp_path) -> None:
    """Two bodies in flight take the whole budget (twice max_body_bytes): a third is refused
    with 503 at once instead of being buffered; once one finishes, a new one fits."""
    with in_process(tmp_path / "q", max_body_bytes=4096) as srv:
        head = b"POST /jobs HTTP/1.1\r\nContent-Length: 4000\r\n\r\n["
        held = [socket.create_connection(("127.0.0.1", srv.port), timeout=BOUND) for _ in "ab"]
        for s in held:
            s.sendall(head)
        wait_until(lambda: _reserved(srv) == 8000, what="both bodies to be reserved")
        third = json.dumps(jobs(3, pad="p" * 300)).encode()  # 8000 + this > 8192
        status, _, raw = request(srv.url, "POST", "/jobs", third)
        assert status == 503 and b"retry" in raw
        rest = json.dumps([{"id": "big", "payload": {"s": "x" * 3000}}]).encode()[1:]
        held[0].sendall(rest.ljust(3999))
        answer = held[0].recv(4096)
        assert answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.0 200"), answer
        assert call(srv.url, "POST", "/jobs", jobs(3))[0] == 200
        for s in held:
            s.close()


def _reserved(srv: Server) -> int:
    """Body bytes the server holds a reservation for (the bodies being read)."""
    return srv.httpd.bodies.used


# ---------------------------------------------------------------------- 8: slow clients
def _trickle(
    port: int, result: dict[str, bool], started: threading.Event, steps: int = 150
) -> None:
    """Send a header one byte every 0.2 s; record whether the server cut the connection before
    all ``steps`` bytes went out."""
    line = b"GET /status HTTP/1.1\r\nX-Slow: " + b"a" * steps
    result["cut"] = False
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as s:
        for i in range(steps):
            readable, _, _ = select.select([s], [], [], 0.2)
            try:
                if readable and not s.recv(4096):
                    result["cut"] = True
                    return
                s.sendall(line[i : i + 1])
                started.set()
            except OSError:
                result["cut"] = True
                return


def test_a_slow_client_is_cut_at_its_request_deadline(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ApiServer, "request_deadline", 1.0, raising=False)
    with in_process(tmp_path / "q") as srv:
        result: dict[str, bool] = {}
        started = threading.Event()
        client = threading.Thread(target=_trickle, args=(srv.port, result, started))
        client.start()
        assert call(srv.url, "GET", "/status")[0] == 200  # others are served meanwhile
        client.join(BOUND)
        assert result["cut"], "a client trickling one byte at a time held its connection"


def test_a_slow_client_does_not_hold_up_shutdown(tmp_path) -> None:
    srv = Server(str(tmp_path / "q"), Config(workers=1), port=0, grace=1.0)
    srv.start()
    result: dict[str, bool] = {}
    started = threading.Event()
    client = threading.Thread(target=_trickle, args=(srv.port, result, started))
    client.start()
    assert started.wait(BOUND), "the slow client did not connect"
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    client.join(BOUND)
    stopper.join(BOUND)
    assert not stopper.is_alive()
    assert result["cut"], "stop() waited for a client trickling one byte at a time"


# ---------------------------------------------------------------------- 9: cross-site, DNS
def test_a_cross_site_text_plain_post_is_refused(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        body = json.dumps(jobs(1)).encode()
        plain = {"Content-Type": "text/plain"}
        status, _, raw = request(srv.url, "POST", "/jobs", body, plain)
        assert status == 415 and b"application/json" in raw
        evil = {"Content-Type": "application/json", "Origin": "http://evil.example"}
        status, _, raw = request(srv.url, "POST", "/jobs", body, evil)
        assert status == 403 and b"evil.example" in raw
        assert call(srv.url, "GET", "/status")[1]["jobs"] == 0
        same = {"Content-Type": "application/json", "Origin": f"http://localhost:{srv.port}"}
        assert request(srv.url, "POST", "/jobs", body, same)[0] == 200


def test_a_foreign_host_header_is_refused(tmp_path) -> None:
    with in_process(tmp_path / "q") as srv:
        p = srv.port
        for host in ("evil.example", f"evil.example:{p}", f"127.0.0.1:{p + 1}", "[::1"):
            status, _, raw = request(srv.url, "GET", "/status", headers={"Host": host})
            assert status == 403 and b"DNS rebinding" in raw, host
        for host in (f"127.0.0.1:{p}", f"localhost:{p}", f"[::1]:{p}", f"LOCALHOST:{p}"):
            assert request(srv.url, "GET", "/status", headers={"Host": host})[0] == 200, host


def test_data_files_are_private_to_their_owner(tmp_path) -> None:
    d = tmp_path / "q"
    with in_process(d) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(5))[0] == 200
        srv.q.snapshot()
    seen = 0
    for folder, _, files in os.walk(d):
        assert stat.S_IMODE(os.stat(folder).st_mode) & 0o077 == 0, folder
        for name in files:
            path = os.path.join(folder, name)
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path
            seen += 1
    assert seen >= 3 and (d / "LOCK").exists()


def test_with_a_token_mutations_need_it(tmp_path) -> None:
    with server_with(tmp_path / "q", token="s3cret-token") as srv:
        body = json.dumps(jobs(1)).encode()
        status, headers, raw = request(srv.url, "POST", "/jobs", body)
        assert status == 401 and raw.count(b"\n") == 1 and "error" in json.loads(raw)
        assert headers.get("WWW-Authenticate") == "Bearer"
        wrong = {"Authorization": "Bearer nope"}
        assert request(srv.url, "POST", "/jobs", body, wrong)[0] == 401
        right = {"Authorization": "Bearer s3cret-token"}
        assert request(srv.url, "POST", "/jobs", body, right)[0] == 200
        assert call(srv.url, "GET", "/status")[0] == 200  # reads need no token


def test_token_file_flags_of_run_and_enqueue(tmp_path, capsys) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    token.chmod(0o644)
    code, _, err = _run_cli(
        ["run", "--data-dir", str(tmp_path / "x"), "--token-file", str(token)], capsys
    )
    assert code == 2 and "chmod 600" in err and len(err.strip().splitlines()) == 1
    token.chmod(0o600)
    jobfile = tmp_path / "jobs.json"
    jobfile.write_text(json.dumps(jobs(2)))
    with child_server(tmp_path / "q", *FAST, "--token-file", str(token)) as (_, url):
        code, _, err = _run_cli(["enqueue", "--url", url, "--file", str(jobfile)], capsys)
        assert code == 3 and "token" in err and len(err.strip().splitlines()) == 1
        argv = ["enqueue", "--url", url, "--file", str(jobfile), "--token-file", str(token)]
        code, out, _ = _run_cli(argv, capsys)
        assert code == 0 and "enqueued 2 job(s)" in out


# ---------------------------------------------------------------------- 13: client input
def test_enqueue_refuses_an_endless_or_oversized_file_without_reading_it_all(
    tmp_path, capsys
) -> None:
    code, _, err = _run_cli(
        ["enqueue", "--url", "http://127.0.0.1:9", "--file", "/dev/zero"], capsys
    )
    assert code == 3 and "/dev/zero" in err and "limit" in err
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: its size says it all
    code, _, err = _run_cli(["enqueue", "--url", "http://127.0.0.1:9", "--file", str(big)], capsys)
    assert code == 3 and str(64 * 1024 * 1024) in err


def test_a_malformed_url_is_a_one_line_usage_error(capsys) -> None:
    for url in ("http://[::1", "http://127.0.0.1:notaport", "ftp://x"):
        code, _, err = _run_cli(["status", "--url", url], capsys)
        assert code == 2 and "bad server URL" in err and len(err.strip().splitlines()) == 1, url
