"""Honest outages: while the queue is down clients cannot enqueue (they wait and retry, or are
refused and counted), throughput reads zero, and the downtime is the modeled recovery time, so
one seed reproduces a run with crashes event for event (docs/semantics.md, "Outages")."""

from __future__ import annotations

import pytest

from simqueue import Config, Poisson, Simulation
from simqueue.core.errors import SimQueueError
from simqueue.lab import frames


def _config(**extra) -> Config:
    base = dict(seed=21, arrival=Poisson(40), restart_delay=0.5, snapshot_interval=2.0)
    return Config(**{**base, **extra})


def _crashing_run() -> list:
    """A scheduled power cut, a called process crash and a called power cut."""
    cfg = _config(crash_at=2.0, crash_kind="power", crash_tear="garble")
    with Simulation(cfg) as sim:
        sim.run_until(4.0)
        sim.crash("process")
        sim.recover()
        sim.run_until(6.0)
        sim.crash("power", "prefix")
        sim.run_until(6.3)
        sim.recover()
        sim.run_until(8.0)
        sim.check_invariants()
        return list(sim.trace)


def test_one_seed_reproduces_a_run_with_crashes_event_for_event() -> None:
    first, second, third = _crashing_run(), _crashing_run(), _crashing_run()
    kinds = [t[1] for t in first]
    assert kinds.count("CRASH") == 3 and kinds.count("RECOVER") == 3
    assert first == second == third


def test_the_measured_recovery_time_is_reported_but_never_moves_the_clock() -> None:
    with Simulation(_config(crash_at=1.0)) as sim:
        sim.run_until(3.0)
        (report,) = sim.recoveries
        recovered_at = next(e.time for e in sim.events("RECOVER"))
        assert recovered_at == pytest.approx(1.0 + 0.5 + report.virtual_seconds)
        assert report.wall_seconds > 0 and report.wall_seconds != report.virtual_seconds
        s = sim.summary()
        assert (s.recovery_seconds, s.recovery_wall_seconds) == (
            report.virtual_seconds,
            report.wall_seconds,
        )
        assert s.downtime_seconds == pytest.approx(0.5 + report.virtual_seconds)


def test_a_scheduled_crash_happens_once_and_recovers_without_stepping() -> None:
    with Simulation(_config(crash_at=1.5, crash_kind="power", crash_tear="zero")) as sim:
        sim.run_until(5.0)
        crashes = sim.events("CRASH")
        assert [e.time for e in crashes] == [1.5] and "tear=zero" in crashes[0].detail
        assert not sim.crashed and len(sim.recoveries) == 1
        assert sim.crashes[0]["kind"] == "power"


def test_recovery_time_is_the_cost_model_of_what_recovery_did() -> None:
    def recovery(interval: float | None):
        cfg = _config(
            arrival=Poisson(200),
            workers=64,  # jobs finish: three records each in the log, one row in a snapshot
            snapshot_interval=interval,
            crash_at=9.5,
            disk="instant",
        )
        with Simulation(cfg) as sim:
            sim.run_until(11.0)
            (report,) = sim.recoveries
            return report, sim.config.disk_model.recovery

    long_log, cost = recovery(None)
    short_log, _ = recovery(1.0)
    for r in (long_log, short_log):  # a free disk: fsyncs cost nothing, the rest is the model
        assert r.virtual_seconds == pytest.approx(
            cost.seconds(r.records_replayed, r.snapshot_jobs, r.wal_bytes_read)
        )
    assert long_log.records_replayed > 3 * short_log.records_replayed
    assert long_log.virtual_seconds > short_log.virtual_seconds > 0


def test_clients_that_find_the_queue_down_wait_and_their_backlog_drains() -> None:
    with Simulation(_config(crash_at=2.0, restart_delay=1.0)) as sim:
        sim.run_until(2.9)
        assert sim.crashed and sim.engine.waiting > 20
        waited = [e.time for e in sim.events("WAITING")]
        assert waited and all(2.0 < t < 2.9 for t in waited)
        sim.run_until(8.0)
        (report,) = sim.recoveries
        back = 3.0 + report.virtual_seconds
        assert sim.summary().waiting == 0
        late = [(a, k) for _, a, k in sim.acknowledgements() if 2.0 < a < 3.0]
        assert len(late) >= len(waited) and all(k >= back for _, k in late)
        df = frames.metrics_frame(sim, 0.1)
        down = df[~df["up"]]
        assert down["waiting"].max() > 20 and down["waiting"].is_monotonic_increasing
        # the clients that came first waited through the whole outage
        assert max(k - a for a, k in late) > 1.0


def test_clients_can_be_refused_and_counted_instead() -> None:
    with Simulation(_config(crash_at=2.0, clients="reject")) as sim:
        sim.run_until(5.0)
        crash = sim.crashes[0]
        refused = len(sim.events("REJECTED"))
        assert refused > 5 and not sim.events("WAITING")
        assert sim.summary().rejected == refused + crash["unacknowledged"]


def test_throughput_during_an_outage_is_zero_not_missing() -> None:
    with Simulation(_config(crash_at=2.0, restart_delay=2.0)) as sim:
        sim.run_until(8.0)
        df = frames.metrics_frame(sim, 0.5)
        down = df[~df["up"]]
        assert len(down) >= 3
        assert not df["throughput"].iloc[1:].isna().any()
        assert (down["throughput"] == 0.0).all()
        assert (df[df["up"]]["throughput"].iloc[1:] > 0).any()


@pytest.mark.parametrize(("fsync", "lost"), [("never", True), ("batch", False), ("always", False)])
def test_acknowledged_jobs_are_lost_only_under_never_and_a_power_cut(fsync, lost) -> None:
    with Simulation(_config(fsync=fsync, crash_at=2.7, crash_kind="power")) as sim:
        sim.run_until(4.0)
        s = sim.summary()
        assert s.acked_lost == s.lost_acknowledged == len(sim.lost_acknowledged)
        assert (s.acked_lost > 0) is lost
        sim.check_invariants()


def test_crash_while_crashed_and_recover_while_running_are_refused() -> None:
    with Simulation(_config(crash_at=1.0)) as sim:
        with pytest.raises(SimQueueError, match="nothing to recover"):
            sim.recover()
        sim.run_until(1.2)
        assert sim.crashed
        with pytest.raises(SimQueueError, match="already crashed"):
            sim.crash()
        sim.recover()  # the scheduled restart, run to its end
        assert not sim.crashed and len(sim.recoveries) == 1


def test_closing_between_restart_and_serving_lets_go_of_the_directory(tmp_path) -> None:
    from simqueue import DurableQueue

    cfg = _config(crash_at=1.0, data_dir=str(tmp_path / "q"), disk="hdd")
    sim = Simulation(cfg)
    sim.run_until(1.0 + 0.5 + 1e-6)  # restarted: recovery ran, its modeled time not over yet
    assert sim.crashed and sim.engine.restarting
    sim.close()
    DurableQueue.open(tmp_path / "q", durability="modeled").close()  # not locked


def test_a_fork_reseeds_every_stream_and_is_itself_reproducible() -> None:
    """``reseed`` at the same event gives the same future twice, and another one than the
    original seed (arrivals, outcomes and disk latencies all move)."""

    def forked(seed: int | None) -> list:
        with Simulation(Config(seed=3, arrival=Poisson(200), workers=16)) as sim:
            sim.run_until(1.0)
            if seed is not None:
                sim.reseed(seed)
            sim.run_until(2.0)
            return [e for e in sim.trace if e[0] > 1.0]

    assert forked(9) == forked(9)
    assert forked(9) != forked(None)
