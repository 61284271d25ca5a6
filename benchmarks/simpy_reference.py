"""Reference model of the job queue, written the way a SimPy user would write it.

simqueue's own simulation is benchmarked against this model (same process, same machine),
so it is deliberately plain, idiomatic SimPy: one generator process per job, the workers a
``simpy.Resource`` (FIFO), timeouts and back-off as ``env.timeout`` events.

What it models:

* Jobs arrive as a Poisson process at ``rate`` per second until ``duration``.
* Each job attempt needs a worker; workers are ``workers`` slots of one FIFO
  ``simpy.Resource``. An attempt's service time is Exponential with mean ``service_mean``.
* Each attempt has a deadline of ``task_timeout`` after dispatch. With probability
  ``hang_rate`` the attempt hangs (never reports), and an attempt whose service time
  exceeds the deadline is no better: in both cases the worker stays held until the
  deadline and the attempt *times out*.
* An attempt that finishes in time reports failure with probability ``failure_rate``,
  otherwise the job is completed.
* A timed-out or failed attempt ``k`` (1-based) is retried: after ``backoff * 2**(k-1)``
  seconds the job becomes ready again and rejoins the back of the FIFO queue. A job is
  dead once ``max_retry + 1`` attempts have all failed.
* The run stops at ``duration`` simulated seconds; only what finished by then is counted.

Randomness comes from three independent ``random.Random`` streams derived from ``seed``
(arrivals, service times, hang/failure draws). Every attempt draws exactly one service time
and two hang/failure numbers whatever happens to it, so changing ``hang_rate`` or
``failure_rate`` does not shift the other streams (common random numbers).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Generator
from typing import Any

import simpy


def _stream(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream for one source of randomness.

    String seeds are hashed with SHA-512 by ``random.Random``, so the streams are
    deterministic across processes (unlike ``hash()``) and unrelated to each other.
    """
    return random.Random(f"simqueue-simpy-reference/{seed}/{name}")


# Its job and source generators count in this function's closure cells; split into functions or
# an object, every count would become an attribute update on the peer's hot path.
# hot loop: the SimPy peer timed by benchmarks/bench_simulation.py
def run_simpy_reference(
    *,
    rate: float = 200.0,
    workers: int = 8,
    service_mean: float = 1 / 30,
    task_timeout: float = 0.1,
    hang_rate: float = 0.05,
    failure_rate: float = 0.0,
    max_retry: int = 3,
    backoff: float = 0.05,
    duration: float = 1000.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Simulate the job queue in SimPy for ``duration`` simulated seconds; return its stats.

    Returned keys:

    * ``arrived``: jobs that arrived before ``duration``.
    * ``completed``, ``dead``: jobs that reached that final state by ``duration``.
    * ``timeouts``, ``failures``: attempts that ended that way by ``duration``.
    * ``attempts``: attempts that ended by ``duration``
      (so ``attempts == completed + timeouts + failures``).
    * ``mean_wait``: mean time from arrival to the first start of service, over jobs whose
      first attempt started by ``duration`` (NaN if none did).
    * ``throughput``: ``completed / duration``.
    * ``wall_seconds``: wall-clock time of ``env.run`` alone (``time.perf_counter``).
    * ``jobs_per_wall_second``: ``completed / wall_seconds``.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    if max_retry < 0:
        raise ValueError(f"max_retry must be >= 0, got {max_retry!r}")
    if not (rate > 0 and service_mean > 0 and task_timeout > 0 and duration > 0):
        raise ValueError("rate, service_mean, task_timeout and duration must be positive")

    env = simpy.Environment()
    pool = simpy.Resource(env, capacity=workers)

    # Bound methods looked up once: this is the hot path of the whole benchmark.
    next_interarrival = _stream(seed, "arrivals").expovariate
    next_service = _stream(seed, "service").expovariate
    next_fate = _stream(seed, "fate").random
    timeout = env.timeout
    request = pool.request
    process = env.process
    service_rate = 1.0 / service_mean
    max_attempts = max_retry + 1

    arrived = completed = dead = timeouts = failures = attempts = started = 0
    wait_total = 0.0

    def job(arrived_at: float) -> Generator[simpy.Event, Any, None]:
        nonlocal completed, dead, timeouts, failures, attempts, started, wait_total
        for attempt in range(1, max_attempts + 1):
            with request() as req:
                yield req
                if attempt == 1:
                    started += 1
                    wait_total += env.now - arrived_at
                service = next_service(service_rate)
                hangs = next_fate() < hang_rate
                fails = next_fate() < failure_rate
                if hangs or service > task_timeout:
                    # Never reports in time: the worker is held until the deadline.
                    yield timeout(task_timeout)
                    attempts += 1
                    timeouts += 1
                else:
                    yield timeout(service)
                    attempts += 1
                    if not fails:
                        completed += 1
                        return
                    failures += 1
            # The worker is released here (end of the ``with``), before any back-off.
            if attempt == max_attempts:
                dead += 1
                return
            yield timeout(backoff * 2 ** (attempt - 1))

    def source() -> Generator[simpy.Event, Any, None]:
        nonlocal arrived
        while True:
            yield timeout(next_interarrival(rate))
            arrived += 1
            process(job(env.now))

    process(source())
    # ``run(until=...)`` stops before processing events scheduled exactly at ``duration``,
    # so arrivals stop there and nothing finishing later is counted.
    start = time.perf_counter()
    env.run(until=duration)
    wall_seconds = time.perf_counter() - start

    return {
        "arrived": arrived,
        "completed": completed,
        "dead": dead,
        "timeouts": timeouts,
        "failures": failures,
        "attempts": attempts,
        "mean_wait": wait_total / started if started else math.nan,
        "throughput": completed / duration,
        "wall_seconds": wall_seconds,
        "jobs_per_wall_second": completed / wall_seconds if wall_seconds > 0 else math.inf,
    }


if __name__ == "__main__":
    from pprint import pprint

    pprint(run_simpy_reference(duration=100.0))
