"""No fencing token is handed out twice across any number of crashes, and a result carrying a
token from before a crash is fenced and counted (docs/semantics.md, "Fencing tokens")."""

from __future__ import annotations

from collections import Counter

import pytest

from simqueue import Config, Poisson, Simulation
from simqueue.core.fencing import token_parts
from simqueue.sim.invariants import Ledger
from simqueue.sim.trace import DISPATCH


def _power_cuts(fsync: str, cuts: int) -> Simulation:
    sim = Simulation(Config(seed=3, fsync=fsync, arrival=Poisson(40), restart_delay=0.2))
    for i in range(cuts):
        sim.run_for(0.37)
        sim.crash("power", ("drop", "prefix", "garble", "zero")[i % 4])
        sim.recover()
    sim.run_for(1.0)
    return sim


@pytest.mark.parametrize("fsync", ["batch", "never", "always"])
def test_fifty_power_cuts_reissue_no_token(fsync) -> None:
    with _power_cuts(fsync, 50) as sim:
        dispatches = sim.events(DISPATCH)
        tokens = Counter((e.job_id, e.detail) for e in dispatches)
        assert max(tokens.values()) == 1
        assert all(token_parts(e.detail)[1] == e.attempt for e in dispatches)
        attempts = Counter((e.job_id, e.attempt) for e in dispatches)
        if fsync != "always":  # a DISPATCH reached its worker before it was durable
            assert max(attempts.values()) > 1
        sim.check_invariants()
        assert len(sim.recoveries) == 50
        assert [r.epoch for r in sim.recoveries] == list(range(2, 52))


def test_results_from_before_a_crash_are_fenced_and_counted() -> None:
    with _power_cuts("batch", 20) as sim:
        fenced = sim.events("FENCED")
        assert fenced and sim.summary().fenced == len(fenced)
        first_crash = sim.crashes[0]["time"]
        assert all("from before the crash" in e.detail and e.time > first_crash for e in fenced)
        # the case fencing by attempt number alone gets wrong: a power cut took the DISPATCH
        # back, the recovered queue handed the same attempt number out again, and the old
        # result arrived while the new attempt ran: only its epoch tells them apart
        same_number = [e for e in fenced if e.detail.endswith(f"attempt {e.attempt}")]
        assert same_number


def test_the_invariant_check_catches_a_token_handed_out_twice() -> None:
    ledger = Ledger()
    token = 1 << 32 | 1
    ledger.note_tokens(
        [
            (0.5, DISPATCH, "a", 1, 0, 3, 0, token),
            (2.0, DISPATCH, "a", 1, 2, 3, 0, token),
        ]
    )
    (problem,) = ledger.violations_found
    assert "job a: fencing token" in problem and "t=0.500s" in problem and "t=2.000s" in problem
