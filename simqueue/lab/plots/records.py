"""The plain records a plot is drawn from, read the same way whatever the caller passed.

A plot accepts a :class:`~simqueue.Simulation` or the records it produces (its trace as tuples,
:class:`~simqueue.TraceEvent` objects or a trace frame; its periodic samples as tuples or a
frame). The functions here turn any of those into trace tuples, sample frames and outage spans,
so the plot modules read one shape only and never reach into the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

import pandas as pd

from simqueue.lab.frames import SAMPLE_FIELDS, SampledRun
from simqueue.sim.trace import FIELDS

if TYPE_CHECKING:
    from simqueue.sim.config import Config

__all__ = [
    "RecordedRun",
    "Span",
    "config_of",
    "is_simulation",
    "outage_spans",
    "outages",
    "outages_from_up",
    "samples_frame",
    "trace_tuples",
    "within",
]

#: ``(start, end)`` in simulated seconds.
Span = tuple[float, float]


class RecordedRun(SampledRun, Protocol):
    """What the plots read from a Simulation (and nothing else of it)."""

    @property
    def trace(self) -> Sequence[tuple[Any, ...]]: ...

    @property
    def now(self) -> float: ...

    @property
    def recoveries(self) -> Sequence[Any]: ...


def is_simulation(obj: object) -> TypeGuard[RecordedRun]:
    """A Simulation, or anything that offers the same records (told apart by its attributes, so
    the plots need not import the engine)."""
    return hasattr(obj, "trace") and hasattr(obj, "samples") and hasattr(obj, "config")


def config_of(source: object, config: Config | None) -> Config | None:
    """The Config a figure records: the one given, else the Simulation's own."""
    if config is not None:
        return config
    return source.config if is_simulation(source) else None


def trace_tuples(source: object) -> list[tuple[Any, ...]]:
    """Trace tuples from a Simulation, a trace frame, or a list of tuples / TraceEvents."""
    if source is None:
        return []
    if is_simulation(source):
        return list(source.trace)
    if isinstance(source, pd.DataFrame):
        return list(source[list(FIELDS)].itertuples(index=False, name=None))
    if not isinstance(source, Iterable):
        raise TypeError(f"no trace in {type(source).__name__}")
    return [_as_tuple(t) for t in source]


def _as_tuple(event: Any) -> tuple[Any, ...]:
    """A trace tuple from a tuple or a :class:`~simqueue.TraceEvent`."""
    if isinstance(event, tuple):
        return tuple(event)
    return tuple(getattr(event, f) for f in FIELDS)


def samples_frame(source: object) -> pd.DataFrame:
    """Raw periodic samples (every ``metrics_interval``) as a DataFrame. For a Simulation the
    samples strictly inside an outage are blanked (NaN): nothing was running then."""
    if is_simulation(source):
        frame = pd.DataFrame.from_records(source.samples(), columns=list(SAMPLE_FIELDS))
        return _blank_outages(frame, outages(source))
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, Iterable):
        raise TypeError(f"no samples in {type(source).__name__}")
    return pd.DataFrame.from_records(list(source), columns=list(SAMPLE_FIELDS))


def _blank_outages(frame: pd.DataFrame, spans: list[Span]) -> pd.DataFrame:
    """NaN for every state column of the samples taken while the queue was down. (The samples
    themselves may carry the recovered state there, since they are filled in lazily.)"""
    if not spans or frame.empty:
        return frame
    frame = frame.copy()
    down = within(frame["time"], spans)
    cols = [c for c in frame.columns if c not in ("time", "up")]
    frame[cols] = frame[cols].astype(float)
    frame.loc[down, cols] = float("nan")
    if "up" in frame:
        frame.loc[down, "up"] = False
    return frame


def within(times: pd.Series, spans: Iterable[Span]) -> pd.Series:
    """True for every time strictly inside one of ``spans``."""
    inside = pd.Series(False, index=times.index)
    for start, end in spans:
        inside |= (times > start) & (times < end)
    return inside


def outages(source: object) -> list[Span]:
    """``(crashed_at, recovered_at)`` for every crash in a Simulation, trace frame or trace.
    A crash not yet recovered from lasts until the last event (or sample) of the run."""
    spans: list[Span] = []
    start = None
    last = 0.0
    for t in trace_tuples(source):
        last = max(last, t[0])
        if t[1] == "CRASH":
            start = t[0]
        elif t[1] == "RECOVER" and start is not None:
            spans.append((start, t[0]))
            start = None
    if start is not None:
        end = max(last, source.now) if is_simulation(source) else last
        spans.append((start, end))
    return spans


def outages_from_up(frame: pd.DataFrame) -> list[Span]:
    """Outages from a metrics frame's ``up`` column (or NaN counts): runs of rows that are down."""
    if "up" in frame:
        down = ~frame["up"].astype(bool)
    else:
        down = frame["pending"].isna()
    spans: list[Span] = []
    start = None
    times = frame["time"].tolist()
    for i, d in enumerate(down.tolist()):
        if d and start is None:
            start = times[i - 1] if i > 0 else times[i]
        elif not d and start is not None:
            spans.append((start, times[i]))
            start = None
    if start is not None:
        spans.append((start, times[-1]))
    return spans


def outage_spans(source: object, frame: pd.DataFrame) -> list[Span]:
    """The outages of a Simulation from its trace; of a samples or metrics frame from its rows."""
    if is_simulation(source):
        return outages(source)
    return outages_from_up(frame) if len(frame) else []
