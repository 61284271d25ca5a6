"""The concurrency stress (:mod:`simqueue.testing.stress`), bounded: many threads on one
``DurableQueue``, in this process and in a child killed with SIGKILL; many client processes and
threads against a ``simqueue run`` child killed with SIGKILL twice. Every acknowledgement is
checked against the stress's own decoder of the files, which reads neither with the WAL's reader
nor with the snapshot's; the decoder is shown to catch what it exists for."""

from __future__ import annotations

import os

import pytest

from simqueue import DurableQueue, Job
from simqueue.core import wal
from simqueue.testing.stress import audit, check_acks, decode_dir, run_threads
from simqueue.testing.stress.server import ServerStress, run_thread_kills


@pytest.mark.parametrize(
    ("fsync", "durability", "jobs"),
    [("always", "real", 40), ("batch", "real", 100), ("batch", "modeled", 400)],
)
def test_eight_producers_and_four_consumers_on_one_queue_lose_and_duplicate_nothing(
    tmp_path, fsync, durability, jobs
) -> None:
    data_dir = str(tmp_path / "q")
    q = DurableQueue.open(data_dir, fsync=fsync, durability=durability, max_retry=3)
    run = run_threads(q, producers=8, consumers=4, jobs_per_producer=jobs, seed=7, time_limit=120)
    try:
        q.close()
    except Exception as exc:  # noqa: BLE001 - reported with the rest below
        run.errors.append(f"close: {exc!r}")
    d = decode_dir(data_dir)
    # What the threads were told against the files, both in one message when they fail.
    assert (check_acks(d, run), run.errors) == ([], [])
    assert len(run.enqueued) == 8 * jobs
    assert len(run.completed) + len(run.dead) == 8 * jobs
    assert run.snapshots == 3
    assert len(d.jobs) == 8 * jobs
    # The queue's own recovery agrees with the independent decoder, job by job.
    q = DurableQueue.open(data_dir, durability="modeled")
    try:
        assert {r.id: [r.state.value, r.attempt] for r in q.iter_jobs()} == d.jobs
    finally:
        q.close()


@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_threads_killed_with_sigkill_mid_run_keep_every_acknowledgement(tmp_path, fsync) -> None:
    # 8 producers and 4 consumers share each group commit; an acknowledgement is counted only
    # once wait_acknowledged returned, so under batch too it must be in the files.
    r = run_thread_kills(str(tmp_path), runs=2, jobs=40, seed=3, time_limit=120, fsync=fsync)
    assert r.violations == []
    assert r.kills >= 1 and r.acknowledged > 0


@pytest.mark.parametrize("fsync", ["always", "batch"])
def test_kept_alive_http_clients_sharing_group_commits_lose_and_duplicate_nothing_across_kill_9(
    tmp_path, fsync
) -> None:
    # 32 client threads, one job per request on kept-alive connections, so many requests wait
    # on each fsync when the server is killed; every 2xx answer must be in the files once.
    stress = ServerStress(
        str(tmp_path), processes=4, threads=8, jobs=15, kills=2, seed=11, time_limit=180,
        fsync=fsync,
    )  # fmt: skip
    r = stress.execute()
    assert r.violations == []
    assert r.refused == []
    assert r.kills == 2
    assert r.acknowledged + r.uncertain == 4 * 8 * 15
    assert r.acknowledged <= r.jobs_in_files <= r.acknowledged + r.uncertain


def test_client_processes_across_two_kill_9s_lose_and_duplicate_no_acknowledged_job(
    tmp_path,
) -> None:
    stress = ServerStress(
        str(tmp_path), processes=4, threads=4, jobs=20, kills=2, seed=5, time_limit=180
    )
    r = stress.execute()
    assert r.violations == []
    assert r.refused == []
    assert r.kills == 2
    assert r.acknowledged + r.uncertain == 4 * 4 * 20
    assert r.acknowledged <= r.jobs_in_files <= r.acknowledged + r.uncertain
    assert all(p.poll() is not None for p in stress.servers.procs)


# -- the decoder catches what it exists for ------------------------------------------------------
def _queue_with(data_dir: str, ids: list[str], snapshot: bool = False) -> None:
    q = DurableQueue.open(data_dir, durability="modeled")
    q.enqueue_many([Job(i, payload={"n": 1}) for i in ids])
    job = q.dispatch(0)
    assert job is not None
    q.complete(job.id, job.attempt)
    if snapshot:
        q.snapshot()
        q.enqueue(Job("after"))
    q.close()


def _append_record(data_dir: str, rtype: int, seq: int, job_id: str, attempt: int = -1) -> str:
    """Write one more record right after the last segment's records (before its unused
    space)."""
    wal_dir = os.path.join(data_dir, "wal")
    path = os.path.join(wal_dir, sorted(os.listdir(wal_dir))[-1])
    with open(path, "r+b") as fh:
        data = fh.read()
        fh.seek(len(data.rstrip(b"\0")))
        if attempt < 0:
            attempt = 1 if rtype == wal.ACK else 0
        fh.write(wal.encode_record(rtype, seq, job_id.encode(), 1.0, attempt))
    return path


def test_the_decoder_agrees_with_recovery_over_a_snapshot_and_the_log_after_it(tmp_path) -> None:
    data_dir = str(tmp_path / "q")
    _queue_with(data_dir, ["a", "b", "c"], snapshot=True)
    d, bad = audit(data_dir, ["a", "b", "c", "after"])
    assert bad == [] and d.snapshot_path is not None
    assert d.jobs == {
        "a": ["completed", 1],
        "b": ["pending", 0],
        "c": ["pending", 0],
        "after": ["pending", 0],
    }


def test_the_decoder_reports_a_missing_acknowledged_job(tmp_path) -> None:
    data_dir = str(tmp_path / "q")
    _queue_with(data_dir, ["a", "b"])
    _d, bad = audit(data_dir, ["a", "b", "never-stored"])
    assert len(bad) == 1 and "never-stored" in bad[0] and "1 acknowledged job(s)" in bad[0]


def test_the_decoder_reports_a_job_enqueued_twice_and_a_second_ack(tmp_path) -> None:
    data_dir = str(tmp_path / "q")
    _queue_with(data_dir, ["a", "b"])  # seqs 1, 2 ENQUEUE; 3 DISPATCH a; 4 ACK a
    path = _append_record(data_dir, wal.ENQUEUE, 5, "b")
    _append_record(data_dir, wal.ACK, 6, "a")
    _d, bad = audit(data_dir, ["a", "b"])
    assert any("job b enqueued twice: seq 2 and seq 5" in b and path in b for b in bad), bad
    assert any("job a has a second ACK at seq 6" in b for b in bad), bad


def test_the_decoder_reports_a_whole_record_out_of_sequence_with_its_offset(tmp_path) -> None:
    data_dir = str(tmp_path / "q")
    _queue_with(data_dir, ["a", "b"])
    path = _append_record(data_dir, wal.ACK, 7, "a")  # seq 5 expected
    d = decode_dir(data_dir)
    assert len(d.problems) == 1 and path in d.problems[0]
    assert "a whole record with seq 7 where seq 5 was expected" in d.problems[0]
    assert "byte " in d.problems[0]


def test_the_decoder_reports_a_finished_job_dispatched_again(tmp_path) -> None:
    data_dir = str(tmp_path / "q")
    _queue_with(data_dir, ["a", "b"])  # a: COMPLETED at attempt 1 (seq 4)
    _append_record(data_dir, wal.DISPATCH, 5, "a", attempt=2)
    d = decode_dir(data_dir)
    assert len(d.problems) == 1, d.problems
    assert "DISPATCH of job a attempt 2, but the job is completed at attempt 1" in d.problems[0]
