"""The event kernel: heap events and the recurring source interleave by time, reproducibly."""

from __future__ import annotations

import pytest

from simqueue.core.clock import VirtualClock
from simqueue.sim.kernel import EmptySchedule, Kernel


def test_the_source_and_heap_events_run_in_time_order_source_first_on_ties() -> None:
    kernel = Kernel(VirtualClock())
    ran: list[tuple[float, str]] = []

    def tick() -> None:
        ran.append((kernel.clock.now(), "source"))
        if kernel.clock.now() < 3:
            kernel.source_time = kernel.clock.now() + 1.0

    kernel.set_source(1.0, tick)
    for t in (0.5, 2.0, 2.5):
        kernel.schedule(t, lambda t=t: ran.append((t, "heap")))
    assert kernel.outstanding_work == 4 and len(kernel) == 4
    while kernel.outstanding_work:
        kernel.step()
    assert ran == [
        (0.5, "heap"),
        (1.0, "source"),
        (2.0, "source"),
        (2.0, "heap"),
        (2.5, "heap"),
        (3.0, "source"),
    ]
    with pytest.raises(EmptySchedule):
        kernel.step()


def test_daemons_do_not_count_as_work_and_clear_forgets_the_source() -> None:
    kernel = Kernel(VirtualClock())
    kernel.schedule_daemon(5.0, lambda: None)
    assert kernel.outstanding_work == 0 and kernel.peek() == 5.0
    kernel.set_source(2.0, lambda: None)
    assert kernel.outstanding_work == 1 and kernel.peek() == 2.0
    kernel.clear()
    assert kernel.outstanding_work == 0 and len(kernel) == 0
    assert kernel.peek() == float("inf")
