"""Reads of a shared job table under the queue's mutex.

A :class:`~simqueue.core.durable.DurableTable` is shared between threads; a read that walks the
table (counts, pending order, one job) takes the same re-entrant mutex the operations hold, so it
never sees a transition halfway (docs/semantics.md, "Threads").
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from simqueue.core.table import JobTable

P = ParamSpec("P")
R = TypeVar("R")


class _Mutexed(Protocol):
    @property
    def mutex(self) -> AbstractContextManager[Any]: ...


class _Shared(Protocol):
    @property
    def _committer(self) -> _Mutexed: ...


def locked_read(
    read: Callable[Concatenate[JobTable, P], R],
) -> Callable[Concatenate[_Shared, P], R]:
    """``read`` of the job table, run holding the queue's mutex (``self`` is a JobTable too)."""

    @functools.wraps(read)
    def locked(self: _Shared, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._committer.mutex:
            return read(self, *args, **kwargs)  # type: ignore[arg-type]  # a DurableTable

    return locked


__all__ = ["locked_read"]
