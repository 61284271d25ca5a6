"""Bad input gets a clear one-line error and loses nothing.

Each bad job file is refused by ``simqueue enqueue`` (exit 3, one line naming the file and the
job) and, sent raw, by the API (HTTP 400 with a JSON error); either way the server keeps running
with its state intact. Then: a duplicate of an existing id (409, all or nothing), an oversized
body (413), no Content-Length (411), no server (exit 4), a data directory in use (exit 5)."""

from __future__ import annotations

import json
import socket

import pytest
from serverutil import call, counts, free_port, in_process, jobs, request, wait_until

from simqueue.cli.main import ExitCode, main

BAD_FILES = {
    "malformed": ('[{"id": "a",}]', "not valid JSON"),
    "truncated": ('[{"id": "a"', "not valid JSON"),
    "empty_file": ("", "is empty"),
    "blank_file": ("  \n", "is empty"),
    "empty_list": ("[]", "the list of jobs is empty"),
    "not_a_list": ('{"id": "a"}', "expected a JSON list of jobs"),
    "job_not_object": ('["a"]', "job #1: must be a JSON object"),
    "no_id": ('[{"id": "a"}, {"payload": {}}]', "job #2: has no id"),
    "id_not_string": ('[{"id": 5}]', "job #1: id must be a non-empty string"),
    "empty_id": ('[{"id": ""}]', "id must be a non-empty string"),
    "duplicate_id": ('[{"id": "a"}, {"id": "b"}, {"id": "a"}]', "job #3 (id 'a'): duplicate id"),
    "payload_list": ('[{"id": "a", "payload": [1, 2]}]', "payload must be a JSON object"),
    "payload_string": ('[{"id": "a", "payload": "x"}]', "payload must be a JSON object"),
    "timeout_zero": ('[{"id": "a", "timeout_ms": 0}]', "timeout_ms must be a positive number"),
    "timeout_negative": ('[{"id": "a", "timeout_ms": -5}]', "timeout_ms must be a positive"),
    "timeout_string": ('[{"id": "a", "timeout_ms": "fast"}]', "timeout_ms must be a positive"),
    "timeout_bool": ('[{"id": "a", "timeout_ms": true}]', "timeout_ms must be a positive"),
    "unknown_field": ('[{"id": "a", "priority": 1}]', "unknown field 'priority'"),
    "nan_payload": ('[{"id": "a", "payload": {"x": NaN}}]', "NaN is not valid JSON"),
    "not_utf8": (b'[{"id": "\xff"}]', "not UTF-8"),
    # added by the bad-input campaign (docs/reliability.md, "Bad input")
    "top_level_number": ("42", "expected a JSON list of jobs"),
    "top_level_string": ('"jobs"', "got a string"),
    "top_level_null": ("null", "got a null"),
    "trailing_garbage": ('[{"id": "a"}] [', "not valid JSON: Extra data"),
    "id_null": ('[{"id": null}]', "id must be a non-empty string; got None"),
    "id_list": ('[{"id": ["a"]}]', "id must be a non-empty string; got ['a']"),
    "payload_number": (
        '[{"id": "a", "payload": 5}]',
        "payload must be a JSON object; got a number",
    ),
    "payload_bool": (
        '[{"id": "a", "payload": true}]',
        "payload must be a JSON object; got a boolean",
    ),
    "latin1_bytes": (b'[{"id": "caf\xe9"}]', "not UTF-8 text (byte offset 12)"),
    "utf16": ('[{"id": "a"}]'.encode("utf-16"), "not UTF-8 text (byte offset 0)"),
    "binary_garbage": (bytes(range(256)), "not UTF-8"),
    "nul_bytes": (b"\x00" * 64, "not valid JSON"),
    "utf8_bom": (b'\xef\xbb\xbf[{"id": "a"}]', "Unexpected UTF-8 BOM"),
    # bugs found here (each answered with no HTTP response at all, or a traceback, before)
    "nested_too_deep": ("[" * 3000, "JSON nested too deeply"),
    "payload_nested_too_deep": (
        '[{"id": "a", "payload": {"x": ' + "[" * 1900 + "]" * 1900 + "}}]",
        "JSON nested too deeply",
    ),
    "number_out_of_range": ('[{"id": "a", "payload": {"x": -1e400}}]', "'-1e400' is out of range"),
    "lone_surrogate_id": ('[{"id": "\\ud800"}]', "id is not valid Unicode (a lone surrogate)"),
    "timeout_huge_integer": (
        '[{"id": "a", "timeout_ms": 1' + "0" * 400 + "}]",
        "timeout_ms must be a positive number; got 1000",
    ),
    "id_too_long": ('[{"id": "' + "x" * 3000 + '"}]', "is longer than 1024 bytes"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with in_process(tmp_path_factory.mktemp("bad") / "q", max_body_bytes=4096) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(3))[0] == 200
        yield srv


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_job_file_is_refused_by_the_cli(name, server, tmp_path, capsys) -> None:
    content, fragment = BAD_FILES[name]
    path = tmp_path / f"{name}.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    # jobs of earlier tests may still be running: compare once the queue is idle
    idle = lambda: counts(server.url)["pending"] + counts(server.url)["in_flight"] == 0  # noqa: E731
    wait_until(idle, what="the queue to be idle")
    before = server.status()
    assert main(["enqueue", "--file", str(path), "--url", server.url]) == ExitCode.BAD_INPUT
    err = one_line(capsys.readouterr().err)
    assert fragment in err and str(path) in err
    after = server.status()
    assert after["counts"] == before["counts"] and after["seq"] == before["seq"]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_job_list_is_refused_by_the_api(name, server) -> None:
    content, fragment = BAD_FILES[name]
    body = content if isinstance(content, bytes) else content.encode()
    before = server.status()
    status, headers, raw = request(server.url, "POST", "/jobs", body)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(raw)
    assert fragment in answer["error"] and answer["status"] == 400
    assert "\n" not in answer["error"]
    assert server.status()["counts"] == before["counts"]


def test_duplicate_of_an_existing_job_rejects_the_whole_request(server, tmp_path, capsys) -> None:
    body = [{"id": "fresh-1"}, {"id": "job-1"}, {"id": "fresh-2"}]
    before = server.status()["seq"]
    status, answer = call(server.url, "POST", "/jobs", body)
    assert status == 409 and answer["job_id"] == "job-1" and "duplicate" in answer["error"]
    assert call(server.url, "GET", "/jobs/fresh-1")[0] == 404  # all or nothing
    assert server.status()["seq"] == before
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(body))
    assert main(["enqueue", "--file", str(path), "--url", server.url]) == ExitCode.BAD_INPUT
    err = one_line(capsys.readouterr().err)
    assert "duplicate job id 'job-1'" in err and str(path) in err


def test_oversized_body_gets_413_and_the_server_carries_on(server, tmp_path, capsys) -> None:
    big = json.dumps(jobs(200)).encode()
    assert len(big) > 4096
    status, _, raw = request(server.url, "POST", "/jobs", big)
    assert status == 413
    answer = json.loads(raw)
    assert answer["max_body_bytes"] == 4096 and "at most 4096" in answer["error"]
    path = tmp_path / "big.json"
    path.write_bytes(big)
    assert main(["enqueue", "--file", str(path), "--url", server.url]) == ExitCode.BAD_INPUT
    assert "at most 4096" in one_line(capsys.readouterr().err)
    assert sum(counts(server.url).values()) == 3  # nothing enqueued, still answering


def test_body_needs_a_content_length(server) -> None:
    status, _, raw = request(
        server.url, "POST", "/jobs", iter([b'[{"id": "x"}]']), {"Transfer-Encoding": "chunked"}
    )
    assert status == 411 and "Content-Length" in json.loads(raw)["error"]
    raw = raw_exchange(server.port, b"POST /jobs HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 411")
    status, _, raw = request(server.url, "POST", "/jobs", b"[]", {"Content-Length": "nope"})
    assert status == 400


def raw_exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_garbage_request_line_gets_a_json_400(server) -> None:
    raw = raw_exchange(server.port, b"NONSENSE\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["status"] == 400
    assert sum(counts(server.url).values()) == 3


def test_missing_job_file(tmp_path, capsys) -> None:
    path = tmp_path / "nope.json"
    assert main(["enqueue", "--file", str(path), "--url", "http://127.0.0.1:9"]) == 3
    assert "cannot read job file" in one_line(capsys.readouterr().err)


def test_no_server_running(tmp_path, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps(jobs(2)))
    assert main(["enqueue", "--file", str(path), "--url", url]) == ExitCode.UNAVAILABLE
    err = one_line(capsys.readouterr().err)
    assert f"no simqueue server at {url}" in err and "connection refused" in err
    assert main(["status", "--url", url]) == ExitCode.UNAVAILABLE
    assert "no simqueue server" in one_line(capsys.readouterr().err)
    # a data directory with no server.json: nobody is running there
    assert main(["status", "--data-dir", str(tmp_path)]) == ExitCode.UNAVAILABLE
    assert "no simqueue server is running on" in one_line(capsys.readouterr().err)


def test_data_dir_in_use_by_another_server(server, capsys) -> None:
    before = server.status()
    code = main(["run", "--data-dir", server.data_dir, "--port", "0"])
    assert code == ExitCode.LOCKED
    err = one_line(capsys.readouterr().err)
    assert "in use by another simqueue" in err and server.data_dir in err
    assert server.status()["counts"] == before["counts"]  # the owner is untouched
    assert call(server.url, "POST", "/jobs", [{"id": "after-locked"}])[0] == 200


def test_non_loopback_host_warns_before_anything_else(server, capsys) -> None:
    # the data directory is locked, so nothing is ever bound: only the warning is observable
    code = main(["run", "--data-dir", server.data_dir, "--host", "0.0.0.0", "--port", "0"])
    assert code == ExitCode.LOCKED
    err = capsys.readouterr().err
    assert "warning: binding to 0.0.0.0" in err and "no authentication" in err


def test_port_already_taken(tmp_path, capsys) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["run", "--data-dir", str(tmp_path / "q"), "--port", str(port)])
    assert code == ExitCode.FAILURE
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(capsys.readouterr().err)
    # the directory was released: it opens again
    with in_process(tmp_path / "q") as srv:
        assert srv.status()["counts"]["pending"] == 0


def test_bad_handler_spec(tmp_path, capsys) -> None:
    for spec, fragment in [
        ("nocolon", "must look like module:function"),
        ("no_such_module_xyz:run", "cannot import handler module"),
        ("json:no_such_function", "has no 'no_such_function'"),
    ]:
        code = main(["run", "--data-dir", str(tmp_path / "q"), "--handler", spec])
        assert code == ExitCode.USAGE
        assert fragment in one_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------------- campaign
def test_error_messages_stay_one_short_line() -> None:
    """A megabyte id or value is named by its start, not echoed whole (regression)."""
    from simqueue.service.server import JobFileError, parse_jobs_text

    for text in (
        '[{"id": "' + "x" * 100_000 + '"}]',
        '[{"id": [' + "1," * 50_000 + "1]}]",
        '[{"id": "a", "timeout_ms": "' + "y" * 100_000 + '"}]',
        '[{"id": "a", "' + "k" * 100_000 + '": 1}]',
    ):
        with pytest.raises(JobFileError) as info:
            parse_jobs_text(text, "f.json")
        msg = str(info.value)
        assert len(msg) < 250 and "\n" not in msg and "..." in msg, msg


def test_huge_payload_within_the_limit_is_stored_intact(tmp_path, capsys) -> None:
    blob = "".join(chr(0x41 + i % 26) for i in range(3 * 1024 * 1024))  # 3 MiB
    body = [{"id": "big", "payload": {"blob": blob, "n": 1}}, {"id": "small"}]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(body))
    d = tmp_path / "q"
    with in_process(d, workers=1) as srv:
        assert main(["enqueue", "--file", str(path), "--url", srv.url]) == 0
        assert "enqueued 2 job(s)" in capsys.readouterr().out
        assert call(srv.url, "GET", "/jobs/big")[1]["payload"]["blob"] == blob
    with in_process(d, workers=1) as srv:  # and after a restart (snapshot + WAL)
        status, job = call(srv.url, "GET", "/jobs/big")
        assert status == 200 and job["payload"] == {"blob": blob, "n": 1}


def test_a_payload_the_worker_cannot_read_does_not_kill_the_workers(tmp_path) -> None:
    """Regression: ``sleep_ms`` past float range raised OverflowError in a worker thread, which
    died silently; the job timed out, the next worker took it and died too."""
    huge = int("1" + "0" * 400)
    with in_process(tmp_path / "q", workers=2, task_timeout=0.2, max_retry=1) as srv:
        bad = [{"id": "poison", "payload": {"sleep_ms": huge}}]
        bad += [{"id": "negative", "payload": {"sleep_ms": -huge}}]
        assert call(srv.url, "POST", "/jobs", bad)[0] == 200
        assert call(srv.url, "POST", "/jobs", jobs(20))[0] == 200
        wait_until(lambda: counts(srv.url)["completed"] == 21, timeout=30, what="the others")
        wait_until(lambda: counts(srv.url)["dead"] == 1, timeout=30, what="poison to time out")
        assert call(srv.url, "GET", "/jobs/poison")[1]["reason"] == "timeout"
        assert srv.fatal is None and all(t.is_alive() for t in srv._workers)


def test_an_internal_error_is_a_json_500_and_the_server_carries_on(server, monkeypatch) -> None:
    def broken(job_id: str) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(server, "job_deferred", broken)
    status, headers, raw = request(server.url, "GET", "/jobs/job-1")
    assert status == 500 and headers["Content-Type"] == "application/json"
    assert json.loads(raw) == {"error": "internal error: RuntimeError('boom')", "status": 500}
    assert sum(counts(server.url).values()) >= 3
