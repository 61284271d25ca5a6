"""Every plot of :mod:`simqueue.lab.plots`, drawn from seeded simulations and saved as PNG: the
README's recovery picture (``docs/images/recovery.png``) and, with ``--all DIR``, the whole set,
to look at them as a notebook shows them.

``python -m simqueue.lab.plots.gallery`` redraws the README's picture from the code as it is:
:func:`~simqueue.lab.plots.recovery.recovery_vs_records` over
:func:`~simqueue.lab.sweeps.measure_recovery` runs (the real recovery code, timed, on the files
of simulations crashed after more and more log without a snapshot), with the fitted cost per
record and the 3 s target. ``--all DIR`` also writes every other plot.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

import pandas as pd

from simqueue.lab.plots.capacity import sweep, throughput
from simqueue.lab.plots.figure import PlotFigure
from simqueue.lab.plots.queue_state import job_states, wal_size
from simqueue.lab.plots.recovery import (
    recovery_times,
    recovery_vs_records,
    recovery_vs_snapshot_interval,
)
from simqueue.lab.plots.timeline import worker_timeline
from simqueue.lab.sweeps import fit_recovery, measure_recovery
from simqueue.lab.sweeps import sweep as sweep_frame
from simqueue.sim.config import Config
from simqueue.sim.distributions import Poisson
from simqueue.sim.simulation import Simulation

__all__ = ["README_IMAGE", "draw_all", "main", "recovery_figure"]

README_IMAGE = os.path.join("docs", "images", "recovery.png")
SEED = 4
#: Simulated crash times without snapshots: the log to replay grows with them, up to ~770k
#: records, so the 3 s crossing (~2.9M) lies within 4x of the largest measurement.
CRASH_TIMES = (10.0, 40.0, 160.0, 640.0, 1280.0)


def _base() -> Config:
    return Config(seed=SEED, arrival=Poisson(200), workers=64)


def recovery_figure(crash_times: Sequence[float] = CRASH_TIMES) -> PlotFigure:
    """Measured recovery time against WAL records replayed (crashes at ``crash_times`` of runs at
    200 jobs/s without snapshots), the fitted cost line and where it meets the 3 s target."""
    base = _base()
    replay = pd.DataFrame(
        [measure_recovery(base.replace(snapshot_interval=None), t, repeats=3) for t in crash_times]
    )
    return recovery_vs_records(replay, fit=fit_recovery(replay), config=base)


def draw_all(out: str) -> list[str]:
    """Every plot, as ``out/<name>.png``; returns the paths."""
    os.makedirs(out, exist_ok=True)
    base = _base()
    with Simulation(base.replace(workers=32, arrival=Poisson(100), fsync="never")) as sim:
        sim.run_until(3.3)
        sim.crash("power", tear="prefix")
        sim.recover()
        sim.run_until(6.0)
        sim.crash("process")
        sim.recover()
        sim.run_until(8.0)
        intervals = pd.DataFrame(
            [
                measure_recovery(base.replace(snapshot_interval=i), 19.99, repeats=3)
                for i in (2.0, 5.0, 10.0, 20.0)
            ]
        )
        fit = fit_recovery(intervals)
        rate = float(intervals["records_per_second"].iloc[-1])
        workers = sweep_frame(base, "workers", (8, 16, 32, 56, 64, 96), duration=20.0)
        figures: dict[str, Callable[[], PlotFigure]] = {
            "throughput": lambda: throughput(sim),
            "job_states": lambda: job_states(sim),
            "wal_size": lambda: wal_size(sim),
            "worker_timeline": lambda: worker_timeline(sim, start=3.0, end=3.6),
            "recovery_times": lambda: recovery_times(sim),
            "recovery_vs_records": recovery_figure,
            "recovery_vs_snapshot_interval": lambda: recovery_vs_snapshot_interval(
                intervals, fit=fit, records_per_second=rate
            ),
            "sweep": lambda: sweep(workers, x="workers", y="throughput"),
        }
        paths = []
        for name, draw in figures.items():
            path = os.path.join(out, f"{name}.png")
            draw().savefig(path)
            paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simqueue.lab.plots.gallery",
        description=f"Redraw the README's recovery picture ({README_IMAGE}) from seeded runs; "
        "with --all DIR, also every other plot.",
    )
    parser.add_argument("--out", default=README_IMAGE, help=f"the PNG to write ({README_IMAGE})")
    parser.add_argument("--all", metavar="DIR", help="also write every plot to DIR")
    args = parser.parse_args(argv)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    recovery_figure().savefig(args.out)
    print(f"wrote {args.out}")
    if args.all:
        print(f"wrote {', '.join(draw_all(args.all))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
