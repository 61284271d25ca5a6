"""``-v``/``--verbose``: the ``simqueue`` loggers show INFO (``-v``) or DEBUG (``-vv``) records on
stderr while a command runs; without it only warnings. What a command tells its user is printed
either way, and ``main`` leaves the logging configuration as it found it."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys

import pytest
from serverutil import ROOT, child_env, stop, wait_ready

from simqueue.cli import status as status_command
from simqueue.cli.main import StderrHandler, log_level, main

SERVICE_LOGGER = "simqueue.service.example"


@pytest.fixture
def logging_command(monkeypatch):
    """``simqueue status`` replaced by a command that logs at every level and notes the level."""
    levels: list[int] = []

    def fake(args) -> int:
        levels.append(logging.getLogger("simqueue").level)
        log = logging.getLogger(SERVICE_LOGGER)
        log.debug("a debug record")
        log.info("an info record")
        log.warning("a warning record")
        print("what the command prints")
        return 0

    monkeypatch.setattr(status_command, "cmd_status", fake)
    return levels


@pytest.mark.parametrize(
    ("flags", "level", "shown"),
    [
        ([], logging.WARNING, ["warning"]),
        (["-v"], logging.INFO, ["info", "warning"]),
        (["--verbose"], logging.INFO, ["info", "warning"]),
        (["-vv"], logging.DEBUG, ["debug", "info", "warning"]),
        (["-v", "-v", "-v"], logging.DEBUG, ["debug", "info", "warning"]),
    ],
)
def test_each_v_raises_the_log_level(logging_command, capsys, flags, level, shown) -> None:
    assert main([*flags, "status"]) == 0
    assert logging_command == [level]
    out, err = capsys.readouterr()
    assert out == "what the command prints\n"
    records = re.findall(rf"^{SERVICE_LOGGER}: (\w+): an? (\w+) record$", err, re.M)
    assert records == [(word.upper(), word) for word in shown]


def test_main_puts_the_logging_configuration_back(logging_command, capsys) -> None:
    logger = logging.getLogger("simqueue")
    before = (logger.level, list(logger.handlers))
    main(["-vv", "status"])
    assert (logger.level, list(logger.handlers)) == before
    assert not any(isinstance(h, StderrHandler) for h in logger.handlers)
    capsys.readouterr()


def test_log_levels() -> None:
    assert [log_level(n) for n in range(4)] == [
        logging.WARNING,
        logging.INFO,
        logging.DEBUG,
        logging.DEBUG,
    ]


def test_verbose_is_in_the_help(capsys) -> None:
    main(["--help"])
    assert "-v, --verbose" in capsys.readouterr().out


def run_server_until_stopped(tmp_path, *flags: str) -> str:
    """``simqueue FLAGS run`` as a child process, started and stopped with SIGTERM; its stderr."""
    tmp_path.mkdir()
    data_dir, err = tmp_path / "q", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "simqueue", *flags, "run", "--data-dir", str(data_dir)]
    with open(err, "wb") as fh:
        proc = subprocess.Popen(
            [*cmd, "--port", "0"],
            stdout=subprocess.DEVNULL,
            stderr=fh,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            cwd=ROOT,
        )
        try:
            wait_ready(proc, data_dir)
        finally:
            assert stop(proc, signal.SIGTERM) == 0
    return err.read_text()


def test_a_real_server_logs_more_only_when_asked(tmp_path) -> None:
    below_warning = re.compile(r"^simqueue\.service[\w.]*: (INFO|DEBUG): ", re.M)
    assert below_warning.search(run_server_until_stopped(tmp_path / "vv", "-vv"))
    assert not below_warning.search(run_server_until_stopped(tmp_path / "quiet"))
