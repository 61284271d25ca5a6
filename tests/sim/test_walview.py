"""The log as the step view reads it: cursors, record bytes, what a crash took and what
recovery replayed, checked against the engine's own account (no widgets here)."""

from __future__ import annotations

import pytest

from simqueue import Config, Poisson, Simulation
from simqueue.core.wal import iter_records
from simqueue.sim.walview import WalView


def _sim(**kw) -> Simulation:
    cfg = dict(seed=4, workers=2, failure_rate=0.2, arrival=Poisson(30), snapshot_interval=None)
    cfg.update(kw)
    return Simulation(Config(**cfg))


def _steps(sim: Simulation, view: WalView, n: int) -> None:
    for _ in range(n):
        sim.step()
        view.refresh()


def test_cursors_are_the_writers_and_states_follow_them():
    sim = _sim(fsync="batch", flush_interval=0.05)
    view = WalView(sim)
    seen = set()
    for _ in range(120):
        sim.step()
        view.refresh()
        c = view.cursors()
        q = sim.queue
        assert (c.appended, c.written, c.durable) == (q.last_seq, q.written_seq, q.durable_seq)
        for rec in view.strip():
            state = view.state_of(rec)
            seen.add(state)
            expect = (
                "durable"
                if rec.seq <= c.durable
                else "written"
                if rec.seq <= c.written
                else "appended"
            )
            assert state == expect
    assert {"appended", "durable"} <= seen
    assert [r.seq for r in view.strip()] == list(range(1, sim.queue.last_seq + 1))
    sim.close()


def test_records_match_the_log_on_disk_byte_for_byte():
    sim = _sim()
    view = WalView(sim)
    _steps(sim, view, 80)
    sim.queue.flush()
    view.refresh()
    on_disk = {r.seq: r for r in iter_records(sim.data_dir)}
    assert on_disk and len(view.strip()) == len(on_disk)
    for rec in view.strip():
        disk = on_disk[rec.seq]
        assert (rec.type_name, rec.job_id, rec.attempt) == (
            disk.type_name,
            disk.job_id,
            disk.attempt,
        )
        assert rec.header()["crc_ok"]
        assert rec.fields()["seq"] == rec.seq and rec.size == len(rec.raw)
    sim.close()


def test_a_process_crash_loses_exactly_the_buffered_records():
    sim = _sim(fsync="batch", flush_interval=0.05)
    view = WalView(sim)
    while True:  # stop with records in the buffer
        _steps(sim, view, 1)
        if sim.queue.last_seq > sim.queue.written_seq:
            break
    written, last = sim.queue.written_seq, sim.queue.last_seq
    view.crash("process")
    lost = [r.seq for r in view.strip() if r.mark == "lost"]
    assert lost == list(range(written + 1, last + 1))
    sim.close()


@pytest.mark.parametrize("tear", ["drop", "prefix", "garble", "zero"])
def test_a_power_cut_marks_what_it_took_and_recovery_what_it_replayed(tear):
    sim = _sim(fsync="never", seed=11)
    view = WalView(sim)
    _steps(sim, view, 150)
    durable = sim.queue.durable_seq
    info = view.crash("power", tear)
    assert info["durable_seq"] == durable
    records = view.strip()
    assert all(not r.mark for r in records if r.seq <= durable)
    marked = [r for r in records if r.mark]
    if tear != "prefix":  # a kept prefix may keep every record intact
        assert marked, "fsync=never left nothing unsynced?"
    for r in marked:
        assert r.seq > durable and r.mark in ("lost", "torn", "garbled")
        assert (r.kept == 0) == (r.mark == "lost")
    report = view.recover()
    old = [r for r in records if r.life == 0]
    replayed = [r.seq for r in old if r.mark == "replayed"]
    assert replayed == list(range(report.snapshot_last_seq + 1, report.next_seq))
    assert report.records_replayed == len(replayed)
    _steps(sim, view, 20)
    new = [r for r in view.strip() if r.life == 1]
    assert new and new[0].seq == report.next_seq
    sim.close()


def test_the_snapshot_covers_the_records_before_it():
    sim = _sim(snapshot_interval=1.0)
    view = WalView(sim)
    while sim.now < 1.5:
        _steps(sim, view, 1)
    view.crash("process")
    report = view.recover()
    assert report.snapshot_last_seq > 0
    covered = [r.seq for r in view.strip() if r.mark == "snapshot"]
    assert covered == list(range(1, report.snapshot_last_seq + 1))
    sim.close()
