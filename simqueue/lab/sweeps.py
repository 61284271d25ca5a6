"""Parameter sweeps, queueing-theory predictions and the recovery-cost fit, as plain records.

Outer layer: everything here drives :class:`~simqueue.Simulation` through its public API and
returns plain values (dicts, dataclasses, pandas DataFrames) that load straight into a notebook.

>>> from simqueue import Config
>>> p = predict(Config(), arrival_rate=200)
>>> p.min_workers  # the original plan's defaults need 56 workers for 200 jobs/s
56
>>> round(p.capacity_per_worker, 2)  # completed jobs per second one worker can sustain
3.6

The prediction treats the queue as M/M/c (:mod:`simqueue.sim.theory`): Poisson arrivals of
*attempts* (each job brings ``attempts_per_job`` of them, retries included) served by ``workers``
servers whose mean occupancy per attempt comes from the service-time distribution, the failure
and hang rates and the task timeout. Capacity and throughput only need the means, so they are
exact in the long run; the mean wait assumes exponential service and is an approximation for
anything else (it overestimates the wait of the less variable ``Uniform(0, 0.5)``).

Sweeps (:func:`sweep`, :func:`sweep_grid`) run their simulations on any
:class:`concurrent.futures.Executor` (:mod:`simqueue.lab.parallel`; a Dask cluster in
``docs/scale.md``); the recovery measurements stay in one process (:func:`measure_recovery` says
why).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from simqueue.core.checks import number
from simqueue.lab.parallel import fan_out
from simqueue.sim import theory
from simqueue.sim.config import Config
from simqueue.sim.distributions import Constant, Exponential, Poisson, Uniform
from simqueue.sim.simulation import Simulation

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Prediction",
    "RecoveryFit",
    "fit_recovery",
    "grid_runs",
    "measure_capacity",
    "measure_recovery",
    "predict",
    "run",
    "sweep",
    "sweep_grid",
]


# --------------------------------------------------------------------------- theory for a Config
def _truncated_service(dist: Any, timeout: float) -> tuple[float, float]:
    """``(E[min(S, timeout)], P(S > timeout))`` for a service-time distribution."""
    if isinstance(dist, Constant):
        v = dist.value
        return min(v, timeout), 1.0 if v > timeout else 0.0
    if isinstance(dist, Exponential):
        m = dist.mean
        tail = math.exp(-timeout / m)
        return m * (1.0 - tail), tail
    if isinstance(dist, Uniform):
        lo, hi = dist.lo, dist.hi
        if timeout >= hi:
            return (lo + hi) / 2, 0.0
        if timeout <= lo or hi == lo:
            return timeout, 1.0
        width = hi - lo
        p_over = (hi - timeout) / width
        mean = ((timeout**2 - lo**2) / 2 + timeout * (hi - timeout)) / width
        return mean, p_over
    raise TypeError(f"no prediction for service time {dist!r}")


@dataclass(frozen=True)
class Prediction:
    """What M/M/c theory expects from a configuration (rates in jobs per second)."""

    arrival_rate: float
    workers: int
    attempt_fail_probability: float  # failure, hang or timeout of one attempt
    attempts_per_job: float
    dead_fraction: float  # jobs that use up all max_retry + 1 attempts
    occupancy: float  # mean seconds a worker is held per attempt
    capacity_per_worker: float  # completed jobs per second one worker sustains
    capacity: float  # completed jobs per second all workers sustain
    throughput: float  # completed jobs per second at this arrival rate
    utilisation: float  # offered load per worker (>= 1: the queue grows without bound)
    mean_wait: float  # M/M/c wait before an attempt starts (inf when unstable)
    min_workers: int  # fewest workers that keep up with arrival_rate

    @property
    def stable(self) -> bool:
        return self.utilisation < 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict(config: Config, arrival_rate: float | None = None) -> Prediction:
    """The M/M/c prediction for ``config`` at ``arrival_rate`` (default: its Poisson rate).

    Per attempt: it hangs with probability ``hang_rate`` (holding its worker until the task
    timeout), otherwise it runs for ``min(service, task_timeout)`` and is unsuccessful if it
    overruns or reports failure (``failure_rate``). A job gets up to ``max_retry + 1`` attempts.
    """
    if arrival_rate is None:
        if config.arrival is None:
            raise ValueError("predict needs an arrival_rate (the config has no arrival process)")
        arrival_rate = config.arrival.rate
    lam = number("arrival_rate", arrival_rate, positive=True)
    timeout = config.task_timeout
    h, f = config.hang_rate, config.failure_rate
    run_mean, p_over = _truncated_service(config.service_time, timeout)
    occupancy = h * timeout + (1 - h) * run_mean
    q = h + (1 - h) * (p_over + (1 - p_over) * f)
    tries = config.max_retry + 1
    attempts = float(tries) if q >= 1 else (1 - q**tries) / (1 - q)
    dead = q**tries
    c = config.workers
    lam_attempts = lam * attempts
    if occupancy <= 0:  # instantaneous work: no queueing at all
        per_worker = capacity = math.inf
        util = wait = 0.0
        min_workers = 1
    else:
        work = occupancy * attempts  # worker-seconds per job
        per_worker = (1 - dead) / work
        capacity = c * per_worker
        mu = 1.0 / occupancy
        util = theory.mmc_utilisation(lam_attempts, mu, c)
        wait = theory.mmc_mean_wait(lam_attempts, mu, c) if util < 1 else math.inf
        min_workers = theory.min_servers_for(lam_attempts, mu)
    return Prediction(
        arrival_rate=lam,
        workers=c,
        attempt_fail_probability=q,
        attempts_per_job=attempts,
        dead_fraction=dead,
        occupancy=max(occupancy, 0.0),
        capacity_per_worker=per_worker,
        capacity=capacity,
        throughput=min(lam * (1 - dead), capacity),
        utilisation=util,
        mean_wait=wait,
        min_workers=min_workers,
    )


# --------------------------------------------------------------------------- running and sweeping
def _with_rate(config: Config, arrival_rate: float | None) -> tuple[Config, Poisson]:
    """``config`` with Poisson arrivals at ``arrival_rate`` (default: its own), and those
    arrivals."""
    if arrival_rate is not None:
        arrival = Poisson(arrival_rate)
        return config.replace(arrival=arrival), arrival
    if config.arrival is None:
        raise ValueError("give an arrival_rate or a config with arrival=Poisson(rate)")
    return config, config.arrival


def run(
    config: Config, duration: float = 60.0, *, arrival_rate: float | None = None
) -> dict[str, Any]:
    """Run one simulation for ``duration`` simulated seconds; return one flat record: every
    config value, the summary, the prediction (``predicted_*``) and the wall time."""
    config, arrival = _with_rate(config, arrival_rate)
    start = time.perf_counter()
    with Simulation(config) as sim:
        sim.run_until(duration)
        summary = sim.summary()
    wall = time.perf_counter() - start
    record: dict[str, Any] = dict(config.to_dict())
    record["arrival_rate"] = arrival.rate
    record.update({k: v for k, v in summary.as_dict().items() if k != "recoveries"})
    pred = predict(config)
    for key in ("throughput", "capacity", "mean_wait", "utilisation"):
        record[f"predicted_{key}"] = getattr(pred, key)
    record["wall_seconds"] = wall
    return record


def grid_runs(
    base: Config,
    grid: Mapping[str, Iterable[Any]],
    *,
    arrival_rate: float | None = None,
    seeds: Sequence[int] | None = None,
) -> list[tuple[Config, float | None]]:
    """Every ``(config, arrival_rate)`` of the grid: the Cartesian product of ``grid``'s values
    in its key order, then each seed (default: ``base.seed``). The key ``arrival_rate`` varies
    the Poisson rate; every other key is a :class:`Config` field. A bad value raises the
    :class:`Config` check's error, naming the field."""
    seeds = [base.seed] if seeds is None else list(seeds)
    keys = list(grid)
    runs = []
    for combo in itertools.product(*(list(grid[k]) for k in keys)):
        changes = dict(zip(keys, combo, strict=True))
        rate = changes.pop("arrival_rate", arrival_rate)
        for seed in seeds:
            runs.append((base.replace(**changes, seed=seed), rate))
    return runs


def sweep_grid(
    base: Config,
    grid: Mapping[str, Iterable[Any]],
    *,
    duration: float = 60.0,
    arrival_rate: float | None = None,
    seeds: Sequence[int] | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """One :func:`run` per point of :func:`grid_runs`, on ``executor`` (default: a process pool
    sized to this machine; :mod:`simqueue.lab.parallel`); a pandas DataFrame with one record per
    row, in grid order. Each run is seeded, so every column but ``wall_seconds`` (this machine's
    time, measured while the other runs share it) is the same on any executor."""
    import pandas as pd

    runs = grid_runs(base, grid, arrival_rate=arrival_rate, seeds=seeds)
    calls = [(cfg, duration, rate) for cfg, rate in runs]
    rows = fan_out(_run_call, calls, executor=executor, progress=progress, desc="sweep")
    return pd.DataFrame.from_records(rows)


def _run_call(config: Config, duration: float, arrival_rate: float | None) -> dict[str, Any]:
    """:func:`run` with positional arguments only (what an executor's ``submit`` passes)."""
    return run(config, duration, arrival_rate=arrival_rate)


def sweep(
    base: Config,
    param: str,
    values: Iterable[Any],
    *,
    duration: float = 60.0,
    arrival_rate: float | None = None,
    seeds: Sequence[int] | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run ``base`` once per value of ``param`` (and per seed); return a pandas DataFrame with
    one :func:`run` record per row. ``param="arrival_rate"`` varies the Poisson rate. The runs
    go to ``executor`` as in :func:`sweep_grid`."""
    return sweep_grid(
        base,
        {param: values},
        duration=duration,
        arrival_rate=arrival_rate,
        seeds=seeds,
        executor=executor,
        progress=progress,
    )


def measure_capacity(
    config: Config, *, overload: float = 1.5, duration: float = 30.0, warmup: float = 5.0
) -> float:
    """Completed jobs per second with far more work offered than the workers can take: the
    configuration's capacity. Offers ``overload`` times the predicted capacity, counts
    completions after ``warmup``."""
    rate = overload * predict(config, arrival_rate=1.0).capacity
    with Simulation(config.replace(arrival=Poisson(rate))) as sim:
        sim.run_until(warmup)
        done0 = sim.summary().completed
        sim.run_until(warmup + duration)
        done1 = sim.summary().completed
    return (done1 - done0) / duration


# --------------------------------------------------------------------------- recovery cost
def measure_recovery(
    config: Config, crash_at: float, *, repeats: int = 3, kind: str = "process"
) -> dict[str, Any]:
    """Run until ``crash_at``, crash (``kind``), recover; repeat the crash and recovery
    ``repeats`` times on the same files and keep the fastest, least-disturbed measurement.
    Returns one record: records replayed, jobs restored, measured wall seconds, downtime.

    It runs in this process and takes no executor: what it measures is this machine's wall-clock
    time, and recoveries running side by side would share its CPUs, caches and disk, so each
    would be slower by an amount that depends on what else runs (:func:`fit_recovery` would fit
    the contention, not the replay)."""
    best = None
    with Simulation(config) as sim:
        sim.run_until(crash_at)
        records_per_second = sim.queue.last_seq / crash_at if crash_at > 0 else math.nan
        for _ in range(max(1, repeats)):
            sim.crash(kind)
            report = sim.recover()
            if best is None or report.wall_seconds < best.wall_seconds:
                best = report
        sim.check_invariants()
    assert best is not None
    return {
        "snapshot_interval": config.snapshot_interval,
        "crash_at": crash_at,
        "records_replayed": best.records_replayed,
        "jobs_restored": best.jobs_restored,
        "snapshot_last_seq": best.snapshot_last_seq,
        "wall_seconds": best.wall_seconds,
        "downtime": best.downtime,
        "records_per_second": records_per_second,
    }


@dataclass(frozen=True)
class RecoveryFit:
    """``recovery seconds = intercept + per_record * records replayed``, both non-negative
    (least squares of the relative error)."""

    intercept: float
    per_record: float
    r_squared: float
    n: int

    def predict(self, records: float) -> float:
        return self.intercept + self.per_record * records

    def max_records(self, target: float = 3.0) -> float:
        """The most records a recovery can replay and still finish within ``target`` seconds."""
        if self.per_record <= 0:
            return math.inf
        return max(0.0, (target - self.intercept) / self.per_record)

    def max_snapshot_interval(self, records_per_second: float, target: float = 3.0) -> float:
        """The longest snapshot interval whose worst case (a crash just before the next
        snapshot, so a whole interval of log to replay) still recovers within ``target``."""
        return self.max_records(target) / records_per_second


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(fixed cost, cost per record): least squares of the *relative* error (weights 1/y**2),
    since measurements span decades and are read on log axes, with both terms kept
    non-negative (a recovery cannot cost less than nothing, so a negative fixed cost would
    bend the curve to zero below the data)."""
    ws = [1.0 / max(y, 1e-9) ** 2 for y in ys]
    sw = sum(ws)
    sx = sum(w * x for w, x in zip(ws, xs, strict=True))
    sy = sum(w * y for w, y in zip(ws, ys, strict=True))
    sxx = sum(w * x * x for w, x in zip(ws, xs, strict=True))
    sxy = sum(w * x * y for w, x, y in zip(ws, xs, ys, strict=True))
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    intercept = (sy - slope * sx) / sw
    if intercept < 0:  # through the origin
        return 0.0, sxy / sxx
    if slope < 0:  # flat
        return sy / sw, 0.0
    return intercept, slope


def fit_recovery(data: Any) -> RecoveryFit:
    """Fit recovery time against records replayed. ``data``: a DataFrame or records with
    ``records_replayed`` and ``wall_seconds`` (e.g. rows of :func:`measure_recovery`), or
    :class:`~simqueue.RecoveryReport` objects."""
    xs, ys = [], []
    rows = data.to_dict("records") if hasattr(data, "to_dict") else list(data)
    for row in rows:
        if not isinstance(row, dict):
            row = row.as_dict()
        xs.append(float(row["records_replayed"]))
        ys.append(float(row["wall_seconds"]))
    n = len(xs)
    if n < 2:
        raise ValueError("fit_recovery needs at least two measurements")
    if len(set(xs)) < 2:
        raise ValueError("fit_recovery needs measurements with different record counts")
    intercept, slope = _fit_line(xs, ys)
    my = sum(ys) / n
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return RecoveryFit(intercept, slope, r2, n)
