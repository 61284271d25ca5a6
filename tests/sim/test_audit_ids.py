"""Audit of simulation job ids: the arrival process never makes an id a user already enqueued."""

from __future__ import annotations

from simqueue import Config, Exponential, Poisson, Simulation


def _config() -> Config:
    return Config(
        arrival=Poisson(50.0),
        workers=2,
        service_time=Exponential(1 / 100),
        seed=3,
        snapshot_interval=0.5,
    )


def test_arrivals_skip_an_id_the_user_enqueued_and_recovery_succeeds() -> None:
    sim = Simulation(_config())
    sim.enqueue(["job-5", "job-3"])
    sim.run_until(2.0)
    ids = [j.id for j in sim.queue.jobs_info()]
    assert len(ids) == len(set(ids))
    assert sim.summary().arrived == len(ids)
    sim.crash()
    sim.recover()  # replays one ENQUEUE per id; the clients that waited enqueue after it
    after = [j.id for j in sim.queue.jobs_info()]
    assert set(ids) <= set(after) and len(after) == len(set(after))
    assert len(after) - len(ids) == len(sim.events("WAITING")) > 0
    sim.run_until(4.0)
    final = [j.id for j in sim.queue.jobs_info()]
    assert len(final) == len(set(final))
    sim.check_invariants()
    sim.close()


def test_arrivals_after_recovery_skip_ids_taken_before_the_crash() -> None:
    sim = Simulation(_config())
    sim.enqueue([f"job-{i}" for i in range(2, 12)])
    sim.run_until(1.0)
    assert len(sim.queue.jobs_info()) == sim.summary().arrived
    sim.crash()
    sim.recover()
    sim.run_until(3.0)
    ids = [j.id for j in sim.queue.jobs_info()]
    assert len(ids) == len(set(ids))
    sim.crash()
    sim.recover()
    sim.check_invariants()
    sim.close()


def test_a_count_of_new_jobs_skips_ids_the_arrivals_shifted_into() -> None:
    sim = Simulation(_config())
    sim.enqueue(["job-2"])
    sim.run_until(0.5)  # arrivals after the first are shifted past job-2
    sim.enqueue(5)
    sim.run_until(1.0)
    ids = [j.id for j in sim.queue.jobs_info()]
    assert len(ids) == len(set(ids)) == sim.summary().arrived
    sim.check_invariants()
    sim.close()
