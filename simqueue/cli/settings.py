"""Settings for the command line: a YAML file, then ``SIMQUEUE_*`` environment variables, then
flags. Later sources win, one key at a time.

The YAML file is shaped like the original plan's ``configs/default.yaml``: the queue's knobs at the
top level (the fields of :class:`simqueue.Config`, the same ones a notebook uses), plus two small
sections, ``server:`` (what ``simqueue run`` binds and runs) and ``scenario:`` (what
``simqueue simulate`` feeds the queue)::

    workers: 8
    task_timeout: 3s          # a number of seconds, or a duration: 250ms, 3s, 2m
    snapshot_interval: 10s
    server:
      port: 8080
    scenario:
      jobs: 1000

Every value is checked as it is read. An unknown key, a value of the wrong type or an impossible
value raises :class:`SettingsError` whose message names the source (file, environment variable or
flag) and the key; the CLI prints that one line and exits with code 2.

Environment variables use the key in capitals: ``SIMQUEUE_WORKERS=4``, ``SIMQUEUE_PORT=0``,
``SIMQUEUE_FLUSH_INTERVAL=5ms``. Their values are read as YAML scalars, so ``8`` is a number and
``null`` is nothing. ``SIMQUEUE_CONFIG`` names the config file when ``--config`` is not given.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from simqueue.core.checks import choice, integer, number
from simqueue.core.storage import TEAR_MODES
from simqueue.core.wal.accel import PURE_PYTHON_ENV
from simqueue.service.network import DEFAULT_MAX_BODY, DEFAULT_PORT
from simqueue.sim.config import Config

ENV_PREFIX = "SIMQUEUE_"
CONFIG_ENV = "SIMQUEUE_CONFIG"
URL_ENV = "SIMQUEUE_URL"
#: SIMQUEUE_* variables that are not settings keys (read elsewhere); never reported as unknown.
OTHER_ENV = frozenset({CONFIG_ENV, URL_ENV, PURE_PYTHON_ENV, "SIMQUEUE_BENCH_QUICK"})


#: Keys holding seconds: they accept a number or a duration string such as ``10ms`` or ``3s``.
TIME_KEYS = frozenset(
    {
        "task_timeout",
        "snapshot_interval",
        "flush_interval",
        "backoff",
        "restart_delay",
        "fsync_latency",
        "metrics_interval",
        "grace",
        "duration",
        "crash_at",
    }
)
NULLABLE_KEYS = frozenset(
    {
        "snapshot_interval",
        "arrival",
        "data_dir",
        "handler",
        "crash_at",
        "token_file",
        "retain_finished",
    }
)

#: The original plan's key names, so an old config file gets a useful hint instead of a shrug.
ORIGINAL_KEYS = {
    "worker_count": "workers",
    "wal_path": "data_dir (the WAL lives in DATA_DIR/wal)",
    "snapshot_path": "data_dir (snapshots live in DATA_DIR/snapshots)",
    "metrics_port": "server.port (metrics are served at /metrics on the API port)",
}


class SettingsError(ValueError):
    """A config file, environment variable or flag that cannot be used. One line, names the key
    and where it came from."""


@dataclass
class ServerSettings:
    """What ``simqueue run`` binds and runs (the ``server:`` section)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY
    handler: str | None = None
    grace: float = 10.0  # seconds in-flight work may take to finish on SIGINT/SIGTERM
    token_file: str | None = None  # POST /jobs needs the token in this file (chmod 600)


@dataclass
class ScenarioSettings:
    """What ``simqueue simulate`` feeds the queue (the ``scenario:`` section)."""

    duration: float = 60.0  # simulated seconds at most
    jobs: int = 1000  # jobs enqueued at t=0 (0 with an arrival process is fine)
    crash_at: float | None = None  # simulated time of one crash, then recovery
    crash_kind: str = "process"
    crash_tear: str = "drop"


@dataclass
class Settings:
    """The merged result: the queue's :class:`Config` plus the two sections."""

    config: Config = field(default_factory=Config)
    server: ServerSettings = field(default_factory=ServerSettings)
    scenario: ScenarioSettings = field(default_factory=ScenarioSettings)
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values in the config file's shape (what ``--print-config`` shows)."""
        out = self.config.to_dict()
        out["server"] = dataclasses.asdict(self.server)
        out["scenario"] = dataclasses.asdict(self.scenario)
        return out


CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(Config))
SERVER_KEYS = tuple(f.name for f in dataclasses.fields(ServerSettings))
SCENARIO_KEYS = tuple(f.name for f in dataclasses.fields(ScenarioSettings))
SECTIONS = {"server": SERVER_KEYS, "scenario": SCENARIO_KEYS}
#: Flat key -> section ("" for the top level). Keys are unique across sections.
SECTION_OF: dict[str, str] = {
    **dict.fromkeys(CONFIG_KEYS, ""),
    **dict.fromkeys(SERVER_KEYS, "server"),
    **dict.fromkeys(SCENARIO_KEYS, "scenario"),
}

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|ms|s|m|h)?\s*$")
_UNITS = {None: 1.0, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> Any:
    """Seconds from a number or a string like ``"250ms"``, ``"3s"``, ``"2m"``; other values pass
    through unchanged so the field's own check reports them."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(
                f"must be a number of seconds or a duration like 10ms, 3s; got {value!r}"
            )
        return float(m.group(1)) * _UNITS[m.group(2)]
    return value


def _dotted(key: str) -> str:
    section = SECTION_OF.get(key, "")
    return f"{section}.{key}" if section else key


def _seconds(value: Any, *, positive: bool = False) -> float:
    """A finite, non-negative (or positive) number of seconds; durations are parsed before."""
    return number("", value, positive=positive)


def _host(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a host name or IP address; got {value!r}")
    return value.strip()


def _path(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a file path; got {value!r}")
    return value


def _handler(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[\w.]+:[\w.]+", value.strip()):
        raise ValueError(f"must look like module:function; got {value!r}")
    return value.strip()


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    """A check that the value is one of ``choices``."""

    def check(value: Any) -> str:
        checked: str = choice("", value, choices)
        return checked

    return check


#: The checks of the ``server:`` and ``scenario:`` keys (the queue's own keys are checked by
#: :class:`Config`). Each returns the value to keep or raises ValueError without the key's name.
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "host": _host,
    "port": lambda v: integer("", v, lo=0, hi=65535),
    "max_body_bytes": lambda v: integer("", v, lo=1024),
    "handler": _handler,
    "token_file": lambda v: None if v is None else _path(v),
    "grace": _seconds,
    "duration": lambda v: _seconds(v, positive=True),
    "jobs": lambda v: integer("", v, lo=0, hi=10_000_000),
    "crash_at": lambda v: None if v is None else _seconds(v),
    "crash_kind": _choice(("process", "power")),
    "crash_tear": _choice(TEAR_MODES),
}


class _Loader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of silently keeping the last one."""


def _mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen[key] = True
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


class _Builder:
    """Applies values one key at a time so an error names exactly the key that caused it."""

    def __init__(self) -> None:
        self.s = Settings()

    def set(self, key: str, value: Any, where: str) -> None:
        section = SECTION_OF.get(key)
        if section is None:
            raise SettingsError(f"{where}: {_unknown(key)}")
        try:
            if value is None and key not in NULLABLE_KEYS:
                raise ValueError("must have a value; got null")
            if key in TIME_KEYS and value is not None:
                value = parse_duration(value)
            if section == "":
                self.s.config = self.s.config.replace(**{key: value})
            else:
                obj = getattr(self.s, section)
                setattr(obj, key, _CHECKS[key](value))
        except (ValueError, TypeError) as exc:
            detail = str(exc)
            for prefix in (f"{key}: ", f"{key} "):
                if detail.startswith(prefix):
                    detail = detail[len(prefix) :]
                    break
            raise SettingsError(f"{where}: key {_dotted(key)!r}: {detail}") from None


def _unknown(key: str, section: str = "") -> str:
    dotted = f"{section}.{key}" if section else key
    hint = ORIGINAL_KEYS.get(key)
    if hint:
        return f"unknown key {dotted!r} (the original plan's name; simqueue uses {hint})"
    known = SECTIONS.get(section, CONFIG_KEYS + tuple(SECTIONS))
    return f"unknown key {dotted!r} (known keys: {', '.join(known)})"


def read_config_file(path: str) -> dict[str, Any]:
    """The file's keys, flattened (``server.port`` -> ``port``), checked for unknown keys and
    sections. Raises :class:`SettingsError` naming the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: config file is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SettingsError(f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(
            f"{path}: a config file must be a mapping of keys to values; got {type(data).__name__}"
        )
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise SettingsError(f"{path}: key {key!r} is not a name")
        if key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise SettingsError(
                    f"{path}: key {key!r} must be a section (a mapping); got {value!r}"
                )
            for sub, subval in value.items():
                if sub not in SECTIONS[key]:
                    raise SettingsError(f"{path}: {_unknown(str(sub), key)}")
                flat[sub] = subval
        elif key in CONFIG_KEYS:
            flat[key] = value
        elif SECTION_OF.get(key):
            raise SettingsError(
                f"{path}: key {key!r} belongs in the {SECTION_OF[key]!r} section "
                f"({SECTION_OF[key]}: {{{key}: ...}})"
            )
        else:
            raise SettingsError(f"{path}: {_unknown(key)}")
    return flat


def read_env(env: Mapping[str, str]) -> tuple[dict[str, tuple[Any, str]], list[str]]:
    """``SIMQUEUE_<KEY>`` values (parsed as YAML scalars) and warnings for unknown names."""
    values: dict[str, tuple[Any, str]] = {}
    warnings: list[str] = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name in OTHER_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        where = f"environment variable {name}"
        if key not in SECTION_OF:
            warnings.append(f"ignoring {where}: not a simqueue setting")
            continue
        raw = env[name]
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list):
            value = raw  # a flow mapping/list is never meant here; let the field reject the text
        values[key] = (value, where)
    return values, warnings


def load_settings(
    config_file: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Settings:
    """Merge defaults, ``base`` (a command's own defaults), the YAML file (``config_file``, else
    ``$SIMQUEUE_CONFIG``), ``SIMQUEUE_*`` variables and ``flags`` (key -> value, ``None`` meaning
    not given). Raises :class:`SettingsError`."""
    env = os.environ if env is None else env
    b = _Builder()
    for key, value in (base or {}).items():
        b.set(key, value, "built-in default")
    path = config_file or env.get(CONFIG_ENV) or None
    if path:
        for key, value in read_config_file(path).items():
            b.set(key, value, path)
        b.s.sources.append(path)
    env_values, warnings = read_env(env)
    for key, (value, where) in env_values.items():
        b.set(key, value, where)
        b.s.sources.append(where)
    if warn is not None:
        for w in warnings:
            warn(w)
    for key, value in (flags or {}).items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        b.set(key, value, f"flag {flag}")
        b.s.sources.append(f"flag {flag}")
    return b.s


__all__ = [
    "Settings",
    "ServerSettings",
    "ScenarioSettings",
    "SettingsError",
    "load_settings",
    "read_config_file",
    "parse_duration",
]
