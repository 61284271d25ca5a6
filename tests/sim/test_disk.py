"""The modeled disk: every fsync costs a latency drawn from a disk profile, in virtual time, so
the fsync policies differ in throughput ceiling and acknowledgement latency (docs/semantics.md,
"Disk profiles")."""

from __future__ import annotations

import random

import pytest

from simqueue import Config, Exponential, Poisson, Simulation
from simqueue.lab import frames
from simqueue.sim.disk import DEFAULT_DISK, PROFILES, DiskProfile, Latency, resolve_disk


def _loaded(fsync: str, **extra) -> Config:
    """300 jobs/s on 100 workers: only the disk can be the bottleneck."""
    settings = dict(
        seed=11,
        fsync=fsync,
        workers=100,
        arrival=Poisson(300),
        service_time=Exponential(0.05),
        failure_rate=0.0,
    )
    return Config(**{**settings, **extra})


def _run(cfg: Config, until: float = 10.0):
    with Simulation(cfg) as sim:
        sim.run_until(until)
        return sim.summary(), sim.trace


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_built_in_profile_rises_and_names_its_source(name) -> None:
    p = PROFILES[name]
    for lat in (p.fdatasync, p.fsync):
        qs = [lat.quantile(q / 20) for q in range(21)]
        assert qs == sorted(qs)
    assert p.source and p.name == name


def test_the_default_disk_is_a_consumer_ssd_with_a_millisecond_flush() -> None:
    cfg = Config()
    assert cfg.disk == DEFAULT_DISK == "sata-ssd"
    assert cfg.disk_model.fdatasync.median == pytest.approx(0.0016)


def test_draws_follow_the_quantiles_and_repeat_from_the_seed() -> None:
    lat = PROFILES["hdd"].fdatasync
    a = [lat.draw(random.Random(5)) for _ in range(3)]
    b = [lat.draw(random.Random(5)) for _ in range(3)]
    assert a == b
    rng = random.Random(1)
    draws = sorted(lat.draw(rng) for _ in range(4000))
    assert draws[2000] == pytest.approx(lat.median, rel=0.1)
    assert lat.quantile(0) <= draws[0] and draws[-1] <= lat.quantile(1)


def test_the_fsync_policies_differ_in_ceiling_and_acknowledgement_latency() -> None:
    always, _ = _run(_loaded("always"))
    batch, _ = _run(_loaded("batch"))
    never, _ = _run(_loaded("never"))
    # always: the controller waits for three fsyncs per job, so it falls behind 200 jobs/s
    assert always.throughput < 0.95 * batch.throughput
    assert always.pending > 10 * max(batch.pending, 1)
    assert batch.throughput == pytest.approx(never.throughput, rel=0.05)
    # never acknowledges on the write; the others wait for their fsync
    assert never.ack_p50 == 0.0
    assert always.ack_p50 > 0.001 and batch.ack_p50 > 0.001
    # a group commit waits at most the flush interval, then one fsync (a few ms on this disk)
    assert batch.ack_p99 < Config().flush_interval + 0.01


def test_with_a_free_disk_the_policies_tie() -> None:
    always, _ = _run(_loaded("always", disk="instant"))
    never, _ = _run(_loaded("never", disk="instant"))
    assert always.throughput == pytest.approx(never.throughput, rel=0.01)
    assert always.ack_p99 == 0.0


def test_a_slower_disk_lowers_the_always_ceiling() -> None:
    ssd, _ = _run(_loaded("always", disk="sata-ssd"))
    hdd, _ = _run(_loaded("always", disk="hdd"))
    nvme, _ = _run(_loaded("always", disk="nvme"))
    assert hdd.throughput < ssd.throughput < nvme.throughput


def test_fsync_latency_is_a_disk_of_constant_latency() -> None:
    cfg = Config(fsync_latency=0.002)
    assert cfg.disk_model.fdatasync.quantile(0.0) == cfg.disk_model.fdatasync.quantile(1.0) == 0.002
    assert Config(fsync_latency=0.0).disk_model is PROFILES[DEFAULT_DISK]  # 0: the disk decides


def test_a_json_profile_runs_exactly_like_the_profile_it_was_saved_from(tmp_path) -> None:
    path = tmp_path / "disk.json"
    PROFILES["network-block"].save(str(path))
    assert resolve_disk(str(path)) == PROFILES["network-block"]
    from_file = _run(_loaded("batch", disk=str(path)), 3.0)[1]
    from_name = _run(_loaded("batch", disk="network-block"), 3.0)[1]
    assert from_file == from_name


def test_a_profile_object_and_its_dict_are_accepted() -> None:
    p = DiskProfile(
        "mine", Latency.constant(0.001), Latency.constant(0.003), PROFILES["nvme"].recovery
    )
    assert Config(disk=p).disk_model is p
    assert Config(disk=p.to_dict()).disk_model == p
    assert Config.from_dict(Config(disk=p).to_dict()).disk_model == p


def test_every_acknowledgement_is_recorded_from_arrival_to_ack() -> None:
    with Simulation(_loaded("batch")) as sim:
        sim.run_until(2.0)
        acks = sim.acknowledgements()
        arrived = {e.job_id: e.time for e in sim.events("ARRIVE")}
        acked = {e.job_id: e.time for e in sim.events("ENQUEUED")}
        assert len(acks) == len(acked) > 300
        for job_id, at, ack in acks:
            assert (at, ack) == (arrived[job_id], acked[job_id])
        df = frames.acks_frame(sim)
        assert list(df.columns) == list(frames.ACK_COLUMNS)
        assert len(df) == len(acks) and (df["fsync"] == "batch").all()
        s = sim.summary()
        assert s.ack_p50 == pytest.approx(df["ack_latency"].median())
        per_job = frames.jobs_frame(sim).set_index("job_id")["ack_latency"]
        assert per_job[df["job_id"]].tolist() == df["ack_latency"].tolist()
        assert per_job.isna().sum() == len(per_job) - len(df)  # not acknowledged yet
        assert s.acknowledged == len(acks)


def test_disk_latency_is_reproducible_from_the_seed() -> None:
    a = _run(_loaded("always"), 3.0)[1]
    b = _run(_loaded("always"), 3.0)[1]
    assert a == b
    c = _run(_loaded("always", seed=12), 3.0)[1]
    assert a != c
