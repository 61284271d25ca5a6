"""``simqueue sweep GRID.yaml``: a grid of simulations on a Dask cluster, one CSV row per run.

The grid file (``configs/sweep.yaml`` is an example)::

    base:                 # the configuration every run starts from: any top-level key of
      arrival: poisson(40)  # configs/default.yaml (durations as 10ms, 3s; distributions as text)
      workers: 8
    grid:                 # one run per combination of these values (their Cartesian product)
      workers: [4, 8, 16]
      arrival_rate: [20, 40]   # arrival_rate: the rate of Poisson arrivals
    seeds: [0, 1, 2]      # each combination once per seed (default: base's seed)
    duration: 60s         # simulated seconds per run (default 60s)

Every run is :func:`simqueue.lab.sweeps.run` (summary, configuration and M/M/c prediction as one
record); the rows come back in grid order and are the serial run's for the same seeds on any
cluster, except ``wall_seconds``. They are written as CSV to ``--out`` (default: stdout).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from simqueue.cli.cluster import INSTALL_HINT, cluster_executor, dask_available
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command
from simqueue.cli.settings import CONFIG_KEYS, TIME_KEYS, parse_duration
from simqueue.sim.config import Config

if TYPE_CHECKING:
    import pandas as pd

#: The keys of a grid file.
GRID_FILE_KEYS = ("base", "grid", "seeds", "duration")
#: Keys a sweep sets itself: each run has its own seed and its own temporary data directory.
NOT_IN_GRID = {"seed": "use seeds: [...]", "data_dir": "each run uses its own temporary directory"}


@dataclass
class Grid:
    """A checked grid file: the base configuration, the values to combine, seeds, duration."""

    base: Config = field(default_factory=Config)
    values: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    duration: float = 60.0

    @property
    def runs(self) -> int:
        n = len(self.seeds)
        for values in self.values.values():
            n *= len(values)
        return n


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue sweep`` and its flags."""
    p = add_command(
        subparsers,
        "sweep",
        help="run a grid of simulations (on a Dask cluster); one CSV row per run",
        description="Run every combination of a grid file's values (and each seed) as a "
        "simulation, on a Dask cluster (--scheduler) or a local one, and write one CSV row per "
        "run. The grid file's format is in docs/cli.md; configs/sweep.yaml is an example.",
    )
    p.add_argument("grid", metavar="GRID.yaml", help="the grid file")
    p.add_argument(
        "--scheduler",
        help="Dask scheduler address, e.g. tcp://HOST:8786 (default: a local cluster)",
    )
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (CPUs)")
    p.add_argument("--out", help="write the results here as CSV (default: stdout)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Read the grid, run it, write the rows."""
    from simqueue.lab.sweeps import sweep_grid

    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1; got {args.workers}", ExitCode.USAGE)
    grid = read_grid(args.grid)
    _check_out(args.out)  # before the runs: their results must have somewhere to go
    progress = False if args.no_progress else None
    kwargs: dict[str, Any] = {"duration": grid.duration, "seeds": grid.seeds, "progress": progress}
    if args.scheduler is None and not dask_available():
        _say(f"Dask is not installed ({INSTALL_HINT}): {grid.runs} runs on local processes")
        frame = sweep_grid(grid.base, grid.values, **kwargs)
    else:
        with cluster_executor(args.scheduler, args.workers) as (executor, where):
            _say(f"{grid.runs} runs of {grid.duration:g} simulated seconds on {where}")
            frame = sweep_grid(grid.base, grid.values, executor=executor, **kwargs)
    _write(frame, args.out)
    return ExitCode.OK


def _say(line: str) -> None:
    print(f"simqueue: {line}", file=sys.stderr, flush=True)


def _check_out(out: str | None) -> None:
    """``--out`` names a file this process can write (its directory created if missing)."""
    if out is None:
        return
    parent = os.path.dirname(os.path.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {out}: {exc.strerror or exc}", ExitCode.USAGE) from None
    if os.path.isdir(out) or not os.access(parent, os.W_OK):
        what = "is a directory" if os.path.isdir(out) else f"cannot write in {parent}"
        raise CliError(f"--out {out}: {what}", ExitCode.USAGE)


def _write(frame: pd.DataFrame, out: str | None) -> None:
    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return
    try:
        frame.to_csv(out, index=False)
    except OSError as exc:
        raise CliError(f"--out {out}: {exc.strerror or exc}", ExitCode.FAILURE) from None
    _say(f"{len(frame)} rows written to {out}")


def read_grid(path: str) -> Grid:
    """The grid file at ``path``, checked; a :class:`CliError` (exit 2) names the bad key."""
    data = _load(path)
    unknown = sorted(set(data) - set(GRID_FILE_KEYS))
    if unknown:
        raise _bad(path, f"unknown key {unknown[0]!r} (known keys: {', '.join(GRID_FILE_KEYS)})")
    grid = Grid(base=_base(path, data.get("base") or {}))
    grid.seeds = _seeds(path, data.get("seeds"), grid.base.seed)
    grid.duration = _duration(path, data.get("duration", 60.0))
    grid.values = _values(path, data.get("grid"), grid.base)
    if grid.base.arrival is None and not {"arrival", "arrival_rate"} & set(grid.values):
        raise _bad(
            path,
            "the runs need arrivals: set base.arrival (e.g. poisson(40)) "
            "or put arrival_rate in grid",
        )
    return grid


def _bad(path: str, message: str) -> CliError:
    return CliError(f"{path}: {message}", ExitCode.USAGE)


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise _bad(path, f"cannot read grid file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise _bad(path, "grid file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise _bad(path, f"invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise _bad(path, f"a grid file is a mapping (base, grid, ...); got {type(data).__name__}")
    return data


def _check_key(path: str, where: str, key: Any) -> None:
    """A key a grid file may set: a :class:`Config` field the sweep leaves to the user."""
    if key not in CONFIG_KEYS:
        raise _bad(
            path, f"{where}: unknown key {key!r} (a key of configs/default.yaml's top level)"
        )
    if key in NOT_IN_GRID:
        raise _bad(path, f"{where}: {key!r} is not set here: {NOT_IN_GRID[key]}")


def _setting(path: str, where: str, config: Config, key: str, value: Any) -> Config:
    """``config`` with ``key`` set to ``value`` (durations parsed), or an error naming ``where``."""
    try:
        if key in TIME_KEYS and value is not None:
            value = parse_duration(value)
        return config.replace(**{key: value})
    except (ValueError, TypeError) as exc:
        raise _bad(path, f"{where}: {exc}") from None


def _base(path: str, base: Any) -> Config:
    if not isinstance(base, dict):
        raise _bad(path, f"base must be a mapping of settings; got {base!r}")
    config = Config()
    for key, value in base.items():
        _check_key(path, f"base.{key}", key)
        config = _setting(path, f"base.{key}", config, key, value)
    return config


def _values(path: str, grid: Any, base: Config) -> dict[str, list[Any]]:
    """Each grid key's values, each one checked on ``base``."""
    if not isinstance(grid, dict) or not grid:
        raise _bad(path, "grid must map at least one key to a list of values")
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        where = f"grid.{key}"
        if not isinstance(values, list) or not values:
            raise _bad(path, f"{where} must be a non-empty list of values; got {values!r}")
        if key == "arrival_rate":
            out[key] = [_rate(path, where, v) for v in values]
            continue
        _check_key(path, where, key)
        checked = [_setting(path, f"{where}[{i}]", base, key, v) for i, v in enumerate(values)]
        out[key] = [getattr(c, key) for c in checked]
    return out


def _rate(path: str, where: str, value: Any) -> float:
    if not _positive(value):
        raise _bad(path, f"{where}: an arrival rate is a positive number; got {value!r}")
    return float(value)


def _seeds(path: str, seeds: Any, default: int) -> list[int]:
    if seeds is None:
        return [default]
    if not isinstance(seeds, list) or not seeds:
        raise _bad(path, f"seeds must be a non-empty list of integers; got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise _bad(path, f"seeds: a seed is a non-negative integer; got {s!r}")
    return list(seeds)


def _duration(path: str, value: Any) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise _bad(path, f"duration: {exc}") from None
    if not _positive(seconds):
        raise _bad(path, f"duration: must be a positive number of seconds; got {value!r}")
    return float(seconds)


def _positive(value: Any) -> bool:
    """A finite number above zero (not a bool)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


__all__ = ["GRID_FILE_KEYS", "Grid", "add_parser", "cmd_sweep", "read_grid"]
