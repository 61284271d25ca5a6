"""Closed-form M/M/c queueing results, used to check the simulation.

A simulator is only worth teaching with if its numbers can be trusted. The cleanest check
we have is queueing theory: with Poisson arrivals (rate ``lambda``), exponential service
times (rate ``mu`` per server) and ``c`` identical servers sharing one FIFO queue, the
long-run behaviour of the queue is known exactly (the M/M/c, or Erlang C, model). If the
simulation is configured the same way (no timeouts, failures or retries) its measured mean
wait must converge on :func:`mmc_mean_wait`; if it does not, the engine has a bug.

Notation used throughout:

* ``a = lambda / mu`` is the *offered load* in Erlangs (how many servers the work would
  keep busy on average),
* ``rho = a / c`` is the per-server utilisation; the queue is stable only when ``rho < 1``.

Only the standard library is used so the engine and its checks stay dependency-free.
"""

from __future__ import annotations

import math

from simqueue.core.checks import integer, number

__all__ = [
    "erlang_c",
    "min_servers_for",
    "mmc_mean_response",
    "mmc_mean_wait",
    "mmc_throughput",
    "mmc_utilisation",
]


def _rate(name: str, value: float) -> float:
    """``value`` as a finite, strictly positive float, else ValueError naming ``name``.

    A zero rate makes every formula divide by zero, and a negative or NaN rate has no physical
    meaning. Anything ``float()`` reads is accepted (a NumPy scalar from a notebook's sweep, a
    ``Fraction``), so the value is converted before the shared check.
    """
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number; got {value!r}") from None
    return number(name, rate, positive=True)


def _check_stable(arrival_rate: float, service_rate: float, servers: int) -> tuple[float, float]:
    """Validate all three inputs and the stability condition; return ``(lambda, mu)``.

    An M/M/c queue has a steady state only when work arrives more slowly than the servers
    can clear it (``lambda < c * mu``). Otherwise the queue grows without bound and the
    mean wait is infinite, so the steady-state formulas below would return nonsense
    (negative or divide-by-zero values) rather than an answer.
    """
    lam = _rate("arrival_rate", arrival_rate)
    mu = _rate("service_rate", service_rate)
    c = integer("servers", servers, lo=1)
    rho = lam / (c * mu)
    if rho >= 1:
        raise ValueError(
            f"unstable system: utilisation >= 1 (arrival_rate={lam!r} >= "
            f"servers*service_rate={c * mu!r}, utilisation={rho:.4g}); "
            "the queue grows without bound and has no steady state"
        )
    return lam, mu


def _erlang_b(offered_load: float, servers: int) -> float:
    """Erlang B blocking probability for offered load ``a`` on ``servers`` servers.

    Uses the recursion ``B(0) = 1``, ``B(k) = a*B(k-1) / (k + a*B(k-1))``. The textbook
    formula ``(a**c / c!) / sum(a**k / k!)`` overflows floats for a few hundred servers and
    loses precision well before that; the recursion only ever handles numbers in ``[0, 1]``
    and costs O(c) operations, so it is exact to rounding for any realistic ``c``.
    """
    b = 1.0
    for k in range(1, servers + 1):
        ab = offered_load * b
        b = ab / (k + ab)
    return b


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Probability that an arriving job has to wait (all servers busy) in an M/M/c queue.

    This is the Erlang C formula. It is computed from the Erlang B value ``B`` via
    ``C = B / (1 - rho * (1 - B))``, which follows from the two models sharing the same
    state probabilities below ``c``; going through the stable B recursion avoids the
    factorials and powers of the direct formula.

    For one server this reduces to ``rho``: an arrival waits exactly when the single server
    is busy, which (by PASTA, Poisson arrivals see time averages) is a fraction ``rho`` of
    the time.

    Raises:
        ValueError: if a rate is not positive, ``servers`` is not a positive integer, or the
            system is unstable (``arrival_rate >= servers * service_rate``).
    """
    lam, mu = _check_stable(arrival_rate, service_rate, servers)
    a = lam / mu
    rho = a / servers
    b = _erlang_b(a, servers)
    return b / (1.0 - rho * (1.0 - b))


def mmc_mean_wait(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time a job spends queued before service starts (``Wq``) in an M/M/c queue.

    ``Wq = C / (c*mu - lambda)``: a fraction ``C`` of jobs wait at all, and those that do
    wait an exponential time with rate ``c*mu - lambda`` (the rate at which the busy
    servers free up, less the rate at which new arrivals compete for them).

    Raises:
        ValueError: as :func:`erlang_c`.
    """
    c_prob = erlang_c(arrival_rate, service_rate, servers)
    return c_prob / (servers * float(service_rate) - float(arrival_rate))


def mmc_utilisation(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Offered utilisation ``rho = lambda / (c * mu)`` of each server.

    In a stable system this is the long-run fraction of time each server is busy. It is
    returned even when it is ``>= 1`` (rather than raising) because computing it is how one
    finds out whether a configuration is stable at all; a value ``>= 1`` means the servers
    would be saturated and the queue would grow without bound.

    Raises:
        ValueError: if a rate is not positive or ``servers`` is not a positive integer.
    """
    lam = _rate("arrival_rate", arrival_rate)
    mu = _rate("service_rate", service_rate)
    c = integer("servers", servers, lo=1)
    return lam / (c * mu)


def mmc_mean_response(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean time from arrival to completion (``W = Wq + 1/mu``) in an M/M/c queue.

    Service time does not depend on how long a job waited, so the mean response time is
    simply the mean queueing delay plus the mean service time.

    Raises:
        ValueError: as :func:`erlang_c`.
    """
    return mmc_mean_wait(arrival_rate, service_rate, servers) + 1.0 / float(service_rate)


def mmc_throughput(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Long-run completions per unit time of an M/M/c queue.

    In a stable system nothing is lost and nothing accumulates, so everything that arrives
    is eventually served: throughput equals ``arrival_rate``. In an unstable system the
    servers are busy all the time, so throughput saturates at the capacity
    ``servers * service_rate`` (and the backlog grows at the difference). Returning the
    capacity rather than raising lets a caller compare a simulated overload against theory.

    Raises:
        ValueError: if a rate is not positive or ``servers`` is not a positive integer.
    """
    lam = _rate("arrival_rate", arrival_rate)
    mu = _rate("service_rate", service_rate)
    c = integer("servers", servers, lo=1)
    return min(lam, c * mu)


def min_servers_for(
    arrival_rate: float, service_rate: float, max_mean_wait: float | None = None
) -> int:
    """Smallest number of servers ``c`` that is stable and, if given, meets a wait target.

    Stability needs ``c > lambda / mu``, so the search starts at ``floor(lambda/mu) + 1``.
    If ``max_mean_wait`` is given, ``c`` is increased until ``mmc_mean_wait <= max_mean_wait``;
    the mean wait strictly decreases as servers are added (towards zero), so the first
    ``c`` that meets the target is the smallest one and the search always ends.

    Raises:
        ValueError: if a rate is not positive, or ``max_mean_wait`` is not positive (a zero
            target can never be met, since with Poisson arrivals some job always waits).
    """
    lam = _rate("arrival_rate", arrival_rate)
    mu = _rate("service_rate", service_rate)
    target = None if max_mean_wait is None else _rate("max_mean_wait", max_mean_wait)
    c = math.floor(lam / mu) + 1
    while lam >= c * mu:  # guard against lam/mu rounding down just below an integer
        c += 1
    if target is None:
        return c
    while mmc_mean_wait(lam, mu, c) > target:
        c += 1
    return c
