"""The flags ``run`` and ``simulate`` share and how a command's flags become :class:`Settings`.

Flags are one of the three sources :mod:`simqueue.cli.settings` merges (file, environment, flags);
a flag left out is ``None`` there and does not override the others. Durations and distributions
stay strings here because the settings loader reads and checks them, naming the flag.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from simqueue.cli.errors import CliError, ExitCode

if TYPE_CHECKING:
    from simqueue.cli.settings import Settings

#: Settings keys with a flag on both ``run`` and ``simulate``: (key, argparse type, help).
QUEUE_FLAGS: list[tuple[str, Any, str]] = [
    ("workers", int, "worker threads (simulated workers for simulate)"),
    ("failure_rate", float, "probability an attempt fails (simulated work)"),
    ("service_time", str, "simulated work time, e.g. 'uniform(0, 0.5)', 'constant(0.01)'"),
    ("task_timeout", str, "default per-attempt timeout, e.g. 3s or 500ms"),
    ("max_retry", int, "retries after the first attempt before a job is DEAD"),
    ("backoff", str, "retry backoff base (doubles per attempt), e.g. 100ms"),
    ("snapshot_interval", str, "seconds between snapshots, e.g. 10s"),
    ("fsync", str, "WAL fsync policy: always, batch (group commit) or never"),
    ("flush_interval", str, "group-commit interval for fsync=batch, e.g. 10ms"),
    ("batch_size", int, "group-commit size for fsync=batch (records)"),
    ("retain_finished", int, "finished jobs remembered (run: 100000, simulate: 250000)"),
    ("seed", int, "seed of every random stream"),
]
QUEUE_KEYS: list[str] = [key for key, _, _ in QUEUE_FLAGS]


def add_queue_flags(parser: argparse.ArgumentParser) -> None:
    """``--workers``, ``--fsync`` and the other queue knobs of :data:`QUEUE_FLAGS`."""
    for key, typ, text in QUEUE_FLAGS:
        parser.add_argument("--" + key.replace("_", "-"), dest=key, type=typ, help=text)


def add_print_config(parser: argparse.ArgumentParser) -> None:
    """``--print-config``: show the merged settings instead of running."""
    parser.add_argument(
        "--print-config", action="store_true", help="print the merged config and exit"
    )


def flag_values(args: argparse.Namespace, keys: Iterable[str]) -> dict[str, Any]:
    """The flags named by ``keys`` (``None`` for a flag the command line left out)."""
    return {key: getattr(args, key, None) for key in keys}


def load_command_settings(
    args: argparse.Namespace, keys: Iterable[str], base: Mapping[str, Any] | None = None
) -> Settings:
    """The merged settings of ``--config``, ``SIMQUEUE_*`` and the flags in ``keys``; a bad value
    is a :class:`CliError` with exit code 2 (usage). Unknown variables warn on stderr."""
    from simqueue.cli.settings import SettingsError, load_settings

    try:
        return load_settings(
            getattr(args, "config", None),
            flags=flag_values(args, keys),
            base=base,
            warn=lambda w: print(f"simqueue: {w}", file=sys.stderr),
        )
    except SettingsError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def print_config(settings: Settings) -> None:
    """The merged settings as YAML, in the config file's shape."""
    import yaml

    print(yaml.safe_dump(settings.as_dict(), sort_keys=False).rstrip())


__all__ = [
    "QUEUE_FLAGS",
    "QUEUE_KEYS",
    "add_print_config",
    "add_queue_flags",
    "flag_values",
    "load_command_settings",
    "print_config",
]
