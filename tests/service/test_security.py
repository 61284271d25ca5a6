"""Security checks: loopback by default (and a warning otherwise), a request size limit, nothing
unpickled or evaluated, and no path from a request ever reaching the file system.

The non-loopback warning itself (text, printed before anything else) is tested in
``test_server.py::test_non_loopback_address_gets_a_warning`` and
``test_bad_input.py::test_non_loopback_host_warns_before_anything_else``; the 413 answer in
``test_bad_input.py::test_oversized_body_gets_413_and_the_server_carries_on``."""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import sys
import threading
import time
import tokenize

import pytest
import yaml
from serverutil import call, in_process, jobs, request

import simqueue
from simqueue.cli.main import main
from simqueue.cli.settings import ServerSettings
from simqueue.service.network import DEFAULT_MAX_BODY, is_loopback, non_loopback_warning
from simqueue.service.server import Server

PACKAGE = os.path.dirname(os.path.abspath(simqueue.__file__))
SOURCES = sorted(
    os.path.join(folder, name)
    for folder, _, names in os.walk(PACKAGE)
    for name in names
    if name.endswith(".py")
)


def _source_id(path: str) -> str:
    return os.path.relpath(path, PACKAGE)


# ---------------------------------------------------------------------------------- binding
def test_the_server_binds_to_loopback_unless_told_otherwise(tmp_path, capsys) -> None:
    assert inspect.signature(Server).parameters["host"].default == "127.0.0.1"
    assert ServerSettings().host == "127.0.0.1"
    assert main(["run", "--port", "0", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["server"]["host"] == "127.0.0.1"
    with in_process(tmp_path / "q") as srv:
        assert srv.httpd.server_address[0] == "127.0.0.1"
        assert call(srv.url, "GET", "/status")[1]["server"]["host"] == "127.0.0.1"
        listening = _listening_addresses(srv.port)
        if listening is not None:  # Linux: what the kernel says is bound to that port
            assert listening == {"127.0.0.1"}


def _listening_addresses(port: int) -> set[str] | None:
    """Local addresses in LISTEN state on ``port``, from /proc/net/tcp{,6}; None elsewhere."""
    found: set[str] = set()
    seen_any = False
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        seen_any = True
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                if len(addr) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(addr))))
                else:
                    found.add(addr)
    return found if seen_any else None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "0", "::", "::0", "0:0::0", "", "192.168.1.5", "example.com", "localhost."]
)
def test_every_spelling_of_a_non_loopback_address_warns(host) -> None:
    # "0" binds to every interface (inet_aton); "localhost." may resolve anywhere: both warn
    assert not is_loopback(host)
    assert "no authentication" in non_loopback_warning(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_addresses_do_not_warn(host) -> None:
    assert non_loopback_warning(host) is None


# ---------------------------------------------------------------------------------- size limit
def test_request_bodies_have_a_size_limit_checked_before_reading(tmp_path) -> None:
    assert inspect.signature(Server).parameters["max_body_bytes"].default == DEFAULT_MAX_BODY
    assert ServerSettings().max_body_bytes == DEFAULT_MAX_BODY == 16 * 1024 * 1024
    with in_process(tmp_path / "q", max_body_bytes=2048) as srv:
        # a petabyte announced and never sent: refused at once from the header alone
        t0 = time.monotonic()
        status, _, raw = request(srv.url, "POST", "/jobs", b"", {"Content-Length": str(10**15)})
        assert status == 413 and time.monotonic() - t0 < 5
        assert json.loads(raw)["max_body_bytes"] == 2048
        fits = json.dumps(jobs(10)).encode()
        assert len(fits) < 2048 and call(srv.url, "POST", "/jobs", jobs(10))[0] == 200
        assert srv.status()["jobs"] == 10


# ---------------------------------------------------------------------------------- no pickle
FORBIDDEN_NAMES = {
    "pickle",
    "cPickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "jsonpickle",
    "eval",
    "exec",
    "unsafe_load",
    "full_load",
    "UnsafeLoader",
    "FullLoader",
}


def _code_tokens(path: str) -> list[tokenize.TokenInfo]:
    """Names in the code: not in strings, comments or docstrings ("never unpickled" is fine)."""
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    return [
        t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME
    ]


@pytest.mark.parametrize("path", SOURCES, ids=_source_id)
def test_nothing_is_unpickled_or_evaluated(path) -> None:
    """grep, made exact: no pickle/marshal/shelve, no eval( or exec(, no unsafe YAML loader."""
    hits = [
        f"{_source_id(path)}:{t.start[0]}: {t.string}"
        for t in _code_tokens(path)
        if t.string in FORBIDDEN_NAMES
    ]
    assert hits == []
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not {n.split(".")[0] for n in names} & FORBIDDEN_NAMES, ast.dump(node)
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "load"
            and getattr(getattr(node.func, "value", None), "id", None) == "yaml"
        ):  # yaml.load(...) only with the safe loader subclass (json.load is fine)
            loader = [k.value for k in node.keywords if k.arg == "Loader"]
            assert loader and getattr(loader[0], "id", None) == "_Loader", ast.dump(node)


def test_the_yaml_loader_is_safe() -> None:
    from simqueue.cli import settings

    assert issubclass(settings._Loader, yaml.SafeLoader)
    with pytest.raises(yaml.YAMLError):
        yaml.load("!!python/object/apply:os.system ['true']", Loader=settings._Loader)


def test_the_scan_would_catch_a_pickle(tmp_path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('"""never unpickled"""\nimport pickle  # x\nx = eval("1")\n')
    assert [t.string for t in _code_tokens(str(bad)) if t.string in FORBIDDEN_NAMES] == [
        "pickle",
        "eval",
    ]


# ---------------------------------------------------------------------------------- paths
_AUDIT = {"on": False, "events": []}
_FILE_EVENTS = ("open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.mkdir")


def _audit(event: str, args: tuple) -> None:
    if _AUDIT["on"] and event in _FILE_EVENTS and threading.current_thread().name != "MainThread":
        _AUDIT["events"].append((threading.current_thread().name, event, repr(args)[:120]))


sys.addaudithook(_audit)  # cannot be removed; it records only while a test switches it on

HOSTILE_PATHS = [
    "/jobs/../../etc/passwd",
    "/jobs/..%2F..%2Fetc%2Fpasswd",
    "/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/jobs/%2E%2E/%2E%2E/etc/passwd",
    "/jobs/..%252F..%252Fetc%252Fpasswd",
    "/jobs/..%c0%af..%c0%afetc%c0%afpasswd",
    "/jobs/..\\..\\etc\\passwd",
    "/jobs/%00",
    "/jobs/%2Fetc%2Fpasswd",
    "/jobs//etc/passwd",
    "/jobs/file:%2F%2F%2Fetc%2Fpasswd",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/etc/passwd",
    "/status/../../etc/passwd",
    "/metrics/..%2F..%2Fetc%2Fpasswd",
    "/wal",
    "/snapshots/",
    "/server.json",
    "/LOCK",
    "//etc/passwd",
]


def test_paths_from_requests_never_reach_the_file_system(tmp_path) -> None:
    """Each hostile path gets a JSON 400/404, and no server thread opens, lists, removes or
    renames anything while answering (Python audit hooks see every such call)."""
    with in_process(tmp_path / "q", snapshot_interval=None) as srv:
        assert call(srv.url, "POST", "/jobs", jobs(2))[0] == 200
        time.sleep(0.2)  # the two jobs finish; the workers go idle
        _AUDIT["events"].clear()
        _AUDIT["on"] = True
        try:
            for path in HOSTILE_PATHS:
                status, headers, raw = request(srv.url, "GET", path)
                assert status in (400, 404), (path, status)
                assert headers["Content-Type"] == "application/json"
                body = json.loads(raw)
                assert "root:" not in raw.decode("utf-8", "replace"), path
                assert body["status"] == status
        finally:
            _AUDIT["on"] = False
        assert _AUDIT["events"] == []
        assert call(srv.url, "GET", "/jobs/job-0")[0] == 200  # and the API still works


def test_the_audit_hook_would_see_a_file_being_opened(tmp_path) -> None:
    def opener() -> None:
        with open(tmp_path / "x", "w"):
            pass

    _AUDIT["events"].clear()
    _AUDIT["on"] = True
    try:
        t = threading.Thread(target=opener)
        t.start()
        t.join(10)
        seen = list(_AUDIT["events"])
    finally:
        _AUDIT["on"] = False
    assert [e[1] for e in seen] == ["open"]
