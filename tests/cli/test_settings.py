"""Config loading: YAML file, then SIMQUEUE_* environment variables, then flags; every bad key or
value is one line naming the key and where it came from, exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from serverutil import ROOT, child_env

from simqueue import Config, Constant, Poisson, Uniform
from simqueue.cli.main import ExitCode, main
from simqueue.cli.settings import (
    Settings,
    SettingsError,
    load_settings,
    parse_duration,
    read_config_file,
)

DEFAULT_YAML = f"{ROOT}/configs/default.yaml"


def write(tmp_path, text: str, name: str = "c.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_shipped_default_yaml_equals_the_built_in_defaults() -> None:
    assert load_settings(DEFAULT_YAML, env={}).as_dict() == Settings().as_dict()
    assert load_settings(DEFAULT_YAML, env={}).config == Config()


def test_shipped_scenarios_load(tmp_path) -> None:
    import glob

    paths = sorted(glob.glob(f"{ROOT}/data/scenarios/*.yaml"))
    assert len(paths) >= 3
    for path in paths:
        s = load_settings(path, env={})
        assert s.config.workers >= 1 and s.scenario.duration > 0
    steady = load_settings(f"{ROOT}/data/scenarios/steady_250.yaml", env={})
    assert steady.config.arrival == Poisson(250.0)


def test_file_then_env_then_flags(tmp_path) -> None:
    text = "workers: 3\nfailure_rate: 0.2\nserver:\n  port: 9000\n  host: localhost\n"
    path = write(tmp_path, text)
    env = {"SIMQUEUE_WORKERS": "5", "SIMQUEUE_PORT": "0", "SIMQUEUE_FLUSH_INTERVAL": "5ms"}
    s = load_settings(path, env=env, flags={"workers": 7, "failure_rate": None})
    assert s.config.workers == 7  # flag beats env beats file
    assert s.config.failure_rate == 0.2  # from the file: the flag was not given
    assert s.server.port == 0 and s.server.host == "localhost"
    assert s.config.flush_interval == pytest.approx(0.005)
    names = ("FLUSH_INTERVAL", "PORT", "WORKERS")
    env_sources = [f"environment variable SIMQUEUE_{k}" for k in names]
    assert s.sources == [path, *env_sources, "flag --workers"]


def test_config_file_from_environment(tmp_path) -> None:
    path = write(tmp_path, "workers: 2\n")
    assert load_settings(env={"SIMQUEUE_CONFIG": path}).config.workers == 2
    assert load_settings("", env={}).config.workers == 8


def test_durations_distributions_and_nulls(tmp_path) -> None:
    path = write(
        tmp_path,
        "task_timeout: 250ms\nsnapshot_interval: null\nbackoff: 2m\n"
        "service_time: constant(0.01)\narrival: poisson(50)\nscenario:\n  crash_at: 1.5s\n",
    )
    s = load_settings(path, env={})
    assert s.config.task_timeout == 0.25 and s.config.backoff == 120.0
    assert s.config.snapshot_interval is None
    assert s.config.service_time == Constant(0.01) and s.config.arrival == Poisson(50.0)
    assert s.scenario.crash_at == 1.5
    assert load_settings(env={"SIMQUEUE_SERVICE_TIME": "uniform(0, 1)"}).config.service_time == (
        Uniform(0.0, 1.0)
    )
    assert parse_duration("3s") == 3.0 and parse_duration("500us") == pytest.approx(5e-4)
    assert parse_duration(2) == 2


BAD = [
    ("workers: eight\n", "key 'workers': must be an integer; got 'eight'"),
    ("workers: 0\n", "key 'workers': must be between 1 and 100000; got 0"),
    ("workers: 2.5\n", "key 'workers': must be an integer"),
    ("workers: true\n", "key 'workers': must be an integer; got True"),
    ("failure_rate: 1.5\n", "key 'failure_rate': must be between 0 and 1"),
    ("task_timeout: 0\n", "key 'task_timeout': must be positive"),
    ("task_timeout: soon\n", "key 'task_timeout': must be a number of seconds or a duration"),
    ("task_timeout: null\n", "key 'task_timeout': must have a value"),
    ("fsync: sometimes\n", "key 'fsync': must be one of always, batch, never"),
    ("service_time: gaussian(1)\n", "key 'service_time': cannot read distribution"),
    ("arrival: uniform(0, 1)\n", "key 'arrival'"),
    ("server:\n  port: 70000\n", "key 'server.port': must be between 0 and 65535"),
    ("server:\n  port: http\n", "key 'server.port': must be an integer"),
    ("server:\n  max_body_bytes: 10\n", "key 'server.max_body_bytes': must be >= 1024"),
    ("server:\n  handler: not a handler\n", "key 'server.handler': must look like module:func"),
    ("scenario:\n  crash_kind: meteor\n", "key 'scenario.crash_kind': must be one of process"),
    ("scenario:\n  duration: -1\n", "key 'scenario.duration': must be positive"),
    ("wrokers: 8\n", "unknown key 'wrokers' (known keys: workers,"),
    ("worker_count: 8\n", "unknown key 'worker_count' (the original plan's name; simqueue uses"),
    ("metrics_port: 9090\n", "simqueue uses server.port"),
    ("server:\n  prot: 1\n", "unknown key 'server.prot' (known keys: host, port,"),
    ("port: 8080\n", "key 'port' belongs in the 'server' section"),
    ("server: 8080\n", "key 'server' must be a section"),
    ("workers: 1\nworkers: 2\n", "duplicate key 'workers'"),
    ("workers: [1\n", "invalid YAML at line"),
    ("- workers\n", "a config file must be a mapping"),
    # negative or zero values, wrong types (the bad-input campaign, docs/reliability.md)
    ("max_retry: -1\n", "key 'max_retry': must be >= 0; got -1"),
    ("batch_size: 0\n", "key 'batch_size': must be >= 1; got 0"),
    ("segment_bytes: 0\n", "key 'segment_bytes': must be >= 4096; got 0"),
    ("seed: -1\n", "key 'seed': must be >= 0; got -1"),
    ("workers: -3\n", "key 'workers': must be between 1 and 100000; got -3"),
    ("failure_rate: -0.1\n", "key 'failure_rate': must be non-negative; got -0.1"),
    ("hang_rate: 2\n", "key 'hang_rate': must be between 0 and 1; got 2"),
    ("flush_interval: -1\n", "key 'flush_interval': must be non-negative; got -1"),
    ("backoff: -1\n", "key 'backoff': must be non-negative; got -1"),
    ("restart_delay: -1\n", "key 'restart_delay': must be non-negative"),
    ("snapshot_interval: 0\n", "key 'snapshot_interval': must be positive; got 0"),
    ("metrics_interval: 0\n", "key 'metrics_interval': must be positive; got 0"),
    ("task_timeout: 0ms\n", "key 'task_timeout': must be positive; got 0.0"),
    ("task_timeout: -2s\n", "key 'task_timeout': must be a number of seconds or a duration"),
    ("task_timeout: .nan\n", "key 'task_timeout': must be a finite number; got nan"),
    ("task_timeout: .inf\n", "key 'task_timeout': must be a finite number; got inf"),
    ("server:\n  max_body_bytes: 0\n", "key 'server.max_body_bytes': must be >= 1024; got 0"),
    ("server:\n  max_body_bytes: -5\n", "key 'server.max_body_bytes': must be >= 1024"),
    ("server:\n  grace: -1\n", "key 'server.grace': must be non-negative; got -1"),
    ("server:\n  port: -1\n", "key 'server.port': must be between 0 and 65535; got -1"),
    ("scenario:\n  jobs: -5\n", "key 'scenario.jobs': must be between 0 and 10000000"),
    ("scenario:\n  duration: 0\n", "key 'scenario.duration': must be positive; got 0"),
    ("scenario:\n  crash_at: -1\n", "key 'scenario.crash_at': must be non-negative"),
    ("arrival: poisson(0)\n", "key 'arrival': bad distribution 'poisson(0)'"),
    ("service_time: constant(-1)\n", "Constant.value must be non-negative"),
    ("service_time: uniform(2, 1)\n", "Uniform.hi (1.0) must be >= Uniform.lo (2.0)"),
    ("workers: '8'\n", "key 'workers': must be an integer; got '8'"),
    ("workers: [1]\n", "key 'workers': must be an integer; got [1]"),
    ("workers: {a: 1}\n", "key 'workers': must be an integer; got {'a': 1}"),
    ("fsync: 1\n", "key 'fsync': must be one of always, batch, never; got 1"),
    ("seed: abc\n", "key 'seed': must be an integer; got 'abc'"),
    ("server:\n  host: 123\n", "key 'server.host': must be a host name or IP address"),
    ("server:\n  host: ''\n", "key 'server.host': must be a host name or IP address"),
    ("server:\n  handler: 5\n", "key 'server.handler': must look like module:function"),
    ("scenario: [1]\n", "key 'scenario' must be a section"),
    ("1: 2\n", "key 1 is not a name"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_config_file_names_file_and_key(tmp_path, text, fragment) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as info:
        load_settings(path, env={})
    msg = str(info.value)
    assert msg.startswith(path + ":") and fragment in msg and "\n" not in msg


def test_bad_environment_variable_is_named(tmp_path) -> None:
    with pytest.raises(SettingsError, match=r"^environment variable SIMQUEUE_WORKERS: key 'work"):
        load_settings(env={"SIMQUEUE_WORKERS": "many"})
    with pytest.raises(SettingsError, match="variable SIMQUEUE_PORT: key 'server.port'"):
        load_settings(env={"SIMQUEUE_PORT": "-1"})


def test_unknown_environment_variable_is_a_warning_not_an_error() -> None:
    warnings: list[str] = []
    env = {"SIMQUEUE_WROKERS": "3", "SIMQUEUE_URL": "x", "SIMQUEUE_PURE_PYTHON": "1"}
    s = load_settings(env=env, warn=warnings.append)
    assert s.config.workers == 8
    assert warnings == ["ignoring environment variable SIMQUEUE_WROKERS: not a simqueue setting"]


def test_bad_flag_is_named() -> None:
    with pytest.raises(SettingsError, match="^flag --workers: key 'workers': must be between"):
        load_settings(env={}, flags={"workers": 0})


def test_missing_file_is_named(tmp_path) -> None:
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(SettingsError, match="nope.yaml: cannot read config file"):
        read_config_file(path)


def test_cli_exit_code_2_and_one_line(tmp_path, capsys) -> None:
    path = write(tmp_path, "server:\n  port: 70000\n")
    for argv in (
        ["run", "--config", path, "--data-dir", str(tmp_path / "q")],
        ["simulate", "--config", path, "--out", str(tmp_path / "out")],
    ):
        assert main(argv) == ExitCode.USAGE == 2
        err = capsys.readouterr().err.strip()
        detail = "key 'server.port': must be between 0 and 65535; got 70000"
        assert err == f"simqueue: error: {path}: {detail}"
    assert not (tmp_path / "q").exists() and not (tmp_path / "out").exists()


def test_print_config_shows_the_merged_result(tmp_path, capsys, monkeypatch) -> None:
    import yaml

    path = write(tmp_path, "workers: 3\n")
    monkeypatch.setenv("SIMQUEUE_MAX_RETRY", "5")
    assert main(["run", "--config", path, "--port", "0", "--print-config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["workers"] == 3 and shown["max_retry"] == 5 and shown["server"]["port"] == 0


def test_no_data_dir_is_a_usage_error(capsys) -> None:
    assert main(["run"]) == ExitCode.USAGE
    assert "no data directory" in capsys.readouterr().err


def test_real_process_prints_no_traceback(tmp_path) -> None:
    path = write(tmp_path, "workers: lots\n")
    proc = subprocess.run(
        [sys.executable, "-m", "simqueue", "run", "--config", path, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"simqueue: error: {path}: key 'workers': must be an integer; got 'lots'"
    ]


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("--max-retry", "-1", "key 'max_retry': must be >= 0"),
        ("--batch-size", "0", "key 'batch_size': must be >= 1"),
        ("--grace", "-1", "key 'server.grace': must be a number of seconds or a duration"),
        ("--max-body-bytes", "0", "key 'server.max_body_bytes': must be >= 1024"),
        ("--snapshot-interval", "0s", "key 'snapshot_interval': must be positive"),
        ("--port", "-1", "key 'server.port': must be between 0 and 65535"),
    ],
)
def test_bad_flag_value_is_one_line_and_starts_nothing(tmp_path, capsys, flag, value, fragment):
    d = tmp_path / "q"
    assert main(["run", "--data-dir", str(d), flag, value]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"simqueue: error: flag {flag}: {fragment}"), err
    assert "\n" not in err and not d.exists()


def test_zero_or_negative_environment_variables_are_named() -> None:
    for name, value, fragment in [
        ("SIMQUEUE_MAX_BODY_BYTES", "0", "key 'server.max_body_bytes': must be >= 1024"),
        ("SIMQUEUE_FLUSH_INTERVAL", "-5ms", "key 'flush_interval': must be a number of seconds"),
        ("SIMQUEUE_BATCH_SIZE", "0", "key 'batch_size': must be >= 1"),
        ("SIMQUEUE_WORKERS", "[1, 2]", "key 'workers': must be an integer; got '[1, 2]'"),
    ]:
        with pytest.raises(SettingsError) as info:
            load_settings(env={name: value})
        assert str(info.value).startswith(f"environment variable {name}: {fragment}")
