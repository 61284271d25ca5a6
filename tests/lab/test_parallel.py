"""simqueue.lab.parallel: results in call order on any executor, exceptions raised, the local
default pool sized to the machine, and the progress bar on stderr only."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest

from simqueue.lab.parallel import InlineExecutor, default_workers, fan_out, local_executor


class ReversedExecutor(Executor):
    """Holds every call until the ``n``-th is submitted, then runs them last one first: the
    order a cluster may finish them in."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.held: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self.ran: list[Any] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.held.append((future, fn, args))
        if len(self.held) == self.n:
            for fut, f, a in reversed(self.held):
                self.ran.append(a)
                fut.set_result(f(*a))
        return future


def square(x: int) -> int:
    return x * x


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"no {x}")
    return x


def test_results_come_back_in_call_order_whatever_order_they_finish_in() -> None:
    calls = [(i,) for i in range(6)]
    executor = ReversedExecutor(len(calls))
    assert fan_out(square, calls, executor=executor, progress=False) == [0, 1, 4, 9, 16, 25]
    assert executor.ran == list(reversed(calls))  # they did finish last one first


@pytest.mark.parametrize(
    "make", [InlineExecutor, lambda: ThreadPoolExecutor(3), lambda: ProcessPoolExecutor(2)]
)
def test_every_executor_gives_the_same_results(make: Callable[[], Executor]) -> None:
    with make() as executor:
        got = fan_out(square, [(i,) for i in range(10)], executor=executor, progress=False)
    assert got == [i * i for i in range(10)]


def test_an_exception_in_a_call_is_raised_by_fan_out() -> None:
    with pytest.raises(ValueError, match="no 3"):
        fan_out(fails_on_three, [(i,) for i in range(5)], executor=InlineExecutor())
    future = InlineExecutor().submit(fails_on_three, 3)  # kept in the future, as a pool does
    assert isinstance(future.exception(), ValueError)


def test_the_local_default_is_a_pool_no_larger_than_the_calls() -> None:
    with local_executor(1) as one:
        assert isinstance(one, InlineExecutor)
    with local_executor(10, workers=1) as serial:
        assert isinstance(serial, InlineExecutor)
    with local_executor(3, workers=2) as pool:
        assert isinstance(pool, ProcessPoolExecutor) and pool._max_workers == 2
    assert default_workers() == len(os.sched_getaffinity(0))


def test_progress_goes_to_stderr_and_never_into_the_results(capsys) -> None:
    calls = [(i,) for i in range(4)]
    shown = fan_out(square, calls, executor=InlineExecutor(), progress=True, desc="squares")
    out, err = capsys.readouterr()
    assert shown == fan_out(square, calls, executor=InlineExecutor(), progress=False)
    assert out == "" and "squares:" in err and "/4 " in err
    fan_out(square, calls, executor=InlineExecutor(), progress=False)
    assert capsys.readouterr().err == ""
