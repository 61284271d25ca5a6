"""Export a plot so anyone can reproduce it: PNG, SVG, the data as CSV, the run as JSON.

>>> import simqueue
>>> from simqueue.lab import plots
>>> sim = simqueue.Simulation(simqueue.Config(seed=3, arrival=simqueue.Poisson(50)))
>>> sim.run_until(5)
>>> paths = simqueue.export(plots.throughput(sim), "throughput")  # doctest: +SKIP
>>> sorted(paths)  # doctest: +SKIP
['csv', 'json', 'png', 'svg']

``export(obj, path_stem)`` writes ``<stem>.png``, ``<stem>.svg``, ``<stem>.csv`` and
``<stem>.json``, and returns their absolute paths. A bare name goes into the one export folder
:func:`default_folder`: ``SIMQUEUE_EXPORT_DIR`` if set (the test suite uses it), else
``exports/`` at the top of the simqueue checkout the working directory is in (git-ignored), so a
notebook run from ``notebooks/`` and ``simqueue demo`` run from the top write to the same place;
outside a checkout, ``exports/`` in the working directory. A stem with a directory part is used
as given. The JSON records the seed, every :class:`~simqueue.Config` value
(``Config.to_dict()``, so ``Config.from_dict(meta["config"])`` rebuilds the run), the simqueue
version and whatever the plot noted about itself (targets, fits).

``obj`` may be a figure from :mod:`simqueue.lab.plots` (it carries its data and config), any
matplotlib figure (pass ``data=`` and ``config=``), a dashboard from :mod:`simqueue.lab.widgets`
(its current figure), a :class:`~simqueue.Simulation` (its throughput plot) or a pandas
DataFrame (CSV and JSON only).

This module imports only the standard library until it is called, so ``simqueue`` can re-export
:func:`export` without importing pandas or matplotlib.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_FOLDER", "ENV_FOLDER", "default_folder", "export"]

DEFAULT_FOLDER = "exports"
ENV_FOLDER = "SIMQUEUE_EXPORT_DIR"


def _checkout_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding simqueue's ``pyproject.toml``."""
    for directory in (start, *start.parents):
        project = directory / "pyproject.toml"
        try:
            if project.is_file() and 'name = "simqueue"' in project.read_text(encoding="utf-8"):
                return directory
        except OSError:
            continue
    return None


def default_folder() -> Path:
    """The absolute folder every export without a directory goes to (see the module text)."""
    if os.environ.get(ENV_FOLDER):
        return Path(os.environ[ENV_FOLDER]).absolute()
    cwd = Path.cwd()
    return (_checkout_root(cwd) or cwd) / DEFAULT_FOLDER


def _resolve_stem(path_stem: str | os.PathLike[str], folder: str | os.PathLike[str] | None) -> Path:
    stem = Path(path_stem)
    if stem.suffix.lower() in (".png", ".svg", ".csv", ".json"):
        stem = stem.with_suffix("")
    if folder is not None:
        return Path(folder).absolute() / stem
    if stem.is_absolute() or stem.parent != Path("."):
        return stem.absolute()
    return default_folder() / stem


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to None, dataclasses to dicts."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "to_dict") and hasattr(value, "seed") and hasattr(value, "replace"):
        return _jsonable(value.to_dict())  # a Config
    if hasattr(value, "as_dict"):
        return _jsonable(value.as_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / pandas scalars
        try:
            return _jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "to_spec"):
        return value.to_spec()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _unpack(obj: Any, data: Any, config: Any) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(figure or None, data, config, extra meta) from whatever was passed."""
    import pandas as pd

    extra: dict[str, Any] = {}
    figure = None
    if isinstance(obj, pd.DataFrame):
        data = obj if data is None else data
    elif hasattr(obj, "savefig"):
        figure = obj
    elif hasattr(obj, "last_figure") and hasattr(obj, "last_config"):  # a widgets.Dashboard
        if obj.last_figure is None:
            raise ValueError("the dashboard has not drawn anything yet: nothing to export")
        figure = obj.last_figure
        config = config if config is not None else obj.last_config
    elif hasattr(obj, "samples") and hasattr(obj, "config"):  # a Simulation
        from simqueue.lab import plots

        figure = plots.throughput(obj)
    else:
        raise TypeError(
            "export() takes a matplotlib Figure, a simqueue Dashboard, a Simulation or a "
            f"pandas DataFrame; got {type(obj).__name__}"
        )
    if figure is not None:
        if data is None:
            data = getattr(figure, "simqueue_data", None)
        meta = getattr(figure, "simqueue_meta", None) or {}
        if config is None:
            config = meta.get("config")
        extra = {k: v for k, v in meta.items() if k != "config"}
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame.from_records(list(data))
    return figure, data, config, extra


def export(
    obj: Any,
    path_stem: str | os.PathLike[str] = "figure",
    *,
    folder: str | os.PathLike[str] | None = None,
    data: Any = None,
    config: Any = None,
    dpi: int = 150,
    **meta: Any,
) -> dict[str, str]:
    """Write ``<stem>.png``, ``<stem>.svg`` (figures only), ``<stem>.csv`` (when there is data
    behind it) and ``<stem>.json`` (always); return ``{"png": absolute path, ...}`` for what was
    written.

    ``data`` and ``config`` override what a :mod:`simqueue.lab.plots` figure carries; extra keyword
    arguments are added to the JSON (e.g. ``note="after the second crash"``)."""
    figure, frame, config, extra = _unpack(obj, data, config)
    stem = _resolve_stem(path_stem, folder)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    if figure is not None:
        import matplotlib

        # a fixed salt makes the SVG's element ids, and so the file, the same on every export
        with matplotlib.rc_context({"svg.hashsalt": "simqueue"}):
            for fmt in ("png", "svg"):
                path = stem.with_name(stem.name + "." + fmt)
                figure.savefig(path, format=fmt, dpi=dpi, metadata=_image_metadata(fmt))
                written[fmt] = str(path)
    if frame is not None:
        path = stem.with_name(stem.name + ".csv")
        frame.to_csv(path, index=False)
        written["csv"] = str(path)
    from simqueue import __version__

    config_dict = config.to_dict() if hasattr(config, "to_dict") else config
    seed = config_dict.get("seed") if isinstance(config_dict, dict) else None
    record = {
        "simqueue_version": __version__,
        "seed": seed,
        "config": config_dict,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "files": {k: os.path.basename(v) for k, v in written.items()},
        "rows": None if frame is None else len(frame),
        "columns": None if frame is None else [str(c) for c in frame.columns],
        "python": platform.python_version(),
        **extra,
        **meta,
    }
    path = stem.with_name(stem.name + ".json")
    written["json"] = str(path)
    record["files"]["json"] = path.name
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_jsonable(record), f, indent=2, sort_keys=False, allow_nan=False)
        f.write("\n")
    return written


def _image_metadata(fmt: str) -> dict[str, Any]:
    """Stable image metadata (no creation date) so re-exporting the same run gives the same
    SVG bytes, and the generator says who made it."""
    from simqueue import __version__

    if fmt == "svg":
        return {"Date": None, "Creator": f"simqueue {__version__}"}
    return {"Software": f"simqueue {__version__}"}
