"""Running many independent calls on any :class:`concurrent.futures.Executor`, with a progress bar.

Sweeps (:mod:`simqueue.lab.sweeps`) and the crash campaigns (:mod:`simqueue.testing.crashsim`)
are many calls that share nothing: one simulation per configuration and seed, one chunk of crash
points, one seed of a crash sequence. :func:`fan_out` submits them all to an executor and gives
the results back **in the order the calls were given**, whatever order the workers finish in, so
a result never depends on the executor or on the number of workers:

* ``executor=None``: a :class:`~concurrent.futures.ProcessPoolExecutor` sized to this machine
  (never more processes than calls), created and shut down by the call;
* :class:`InlineExecutor`: every call in this process, one after the other (the serial run);
* any other executor, for example a Dask cluster's ``Client.get_executor()``
  (``docs/scale.md``): the function and its arguments are pickled to the workers, the results
  pickled back.

The progress bar is ``tqdm.auto``'s (a widget in a notebook, a bar on stderr in a terminal); it
counts finished calls and never touches the results. ``progress=None`` shows it only where
someone can see it (a notebook, or stderr is a terminal; not under pytest), ``False`` never.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

R = TypeVar("R")

__all__ = ["InlineExecutor", "default_workers", "fan_out", "local_executor"]


class InlineExecutor(Executor):
    """Runs each call in this process at :meth:`submit`: the serial run, through the same code
    path as a pool (an exception is kept in its future, as a pool's worker would)."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # a pool's future carries any exception the call raised
            future.set_exception(exc)
        return future


def default_workers() -> int:
    """How many processes the local default pool may use: every CPU this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def local_executor(calls: int, workers: int | None = None) -> Iterator[Executor]:
    """The local default for ``calls`` calls: a process pool of ``workers`` (default: every CPU)
    processes, no more than there are calls; in this process when that is one."""
    n = min(workers or default_workers(), calls)
    if n <= 1:
        yield InlineExecutor()
        return
    with ProcessPoolExecutor(n) as pool:
        yield pool


def _bar(total: int, desc: str, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="run",
        file=sys.stderr,
        disable=None if progress is None else not progress,
        leave=False,
    )


def fan_out(
    fn: Callable[..., R],
    calls: Sequence[tuple[Any, ...]],
    *,
    executor: Executor | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    desc: str = "",
) -> list[R]:
    """``[fn(*args) for args in calls]``, computed on ``executor`` (default: :func:`local_executor`
    with ``workers``). The first exception a call raises is raised here; the calls that have not
    started by then are cancelled."""
    if executor is None:
        with local_executor(len(calls), workers) as pool:
            return fan_out(fn, calls, executor=pool, progress=progress, desc=desc)
    futures = [executor.submit(fn, *args) for args in calls]
    index = {id(f): i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    try:
        with _bar(len(futures), desc, progress) as bar:
            for future in as_completed(futures):
                results[index[id(future)]] = future.result()
                bar.update(1)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results
