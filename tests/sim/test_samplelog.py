"""The state samples (simqueue/sim/samplelog.py) read back as the tuples a run recorded."""

from __future__ import annotations

import sys

import pytest

from simqueue import Config, Poisson, Simulation
from simqueue.sim.samplelog import Samples


def test_samples_read_back_as_tuples_with_none_while_down() -> None:
    samples = Samples()
    samples.up(0.0, (1, 2, 3, 4, 5, 6, 7))
    samples.down(0.1, 9)
    samples.up(0.2, (0, 0, 2**62, 0, 0, 0, 0))
    rows = [
        (0.0, 1, 2, 3, 4, 5, 6, 7, 0),
        (0.1, None, None, None, None, None, None, None, 9),
        (0.2, 0, 0, 2**62, 0, 0, 0, 0, 0),
    ]
    assert list(samples) == rows
    assert samples[1] == rows[1] and samples[-1] == rows[-1] and samples[::2] == rows[::2]
    with pytest.raises(IndexError, match="out of range"):
        samples[3]
    assert sys.getsizeof(samples) > 3 * 72  # the columns are counted


def test_a_run_samples_its_state_every_interval_through_a_crash() -> None:
    with Simulation(Config(arrival=Poisson(50), crash_at=1.0, restart_delay=0.5, seed=1)) as sim:
        sim.run_until(3.0)
        samples = sim.samples()
    assert [round(s[0], 6) for s in samples] == [round(0.1 * i, 6) for i in range(31)]
    down = [s for s in samples if s[1] is None]
    assert down and all(s[2:8] == (None,) * 6 for s in down)
    up = [s for s in samples if s[1] is not None]
    assert all(s[8] == 0 for s in up) and up[-1][3] > 0
