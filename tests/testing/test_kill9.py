"""A real ``kill -9``: a child process enqueues (and completes) jobs with ``fsync="always"`` and
real fsync, printing each acknowledgement; the parent kills it mid-stream and finds every
acknowledged job in the directory."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time

import simqueue
from simqueue import DurableQueue
from simqueue.core.jobs import COMPLETED

CHILD = textwrap.dedent(
    """
    import sys
    from simqueue import DurableQueue, Job
    q = DurableQueue.open(sys.argv[1], fsync="always", durability="real")
    print("ready", flush=True)
    for i in range(1_000_000):
        q.enqueue(Job(f"job-{i}", payload={"i": i}))
        print("enq", f"job-{i}", flush=True)
        if i % 5 == 0:
            job = q.dispatch(0)
            if q.complete(job.id, job.attempt):
                print("done", job.id, flush=True)
    """
)

WANT = 200
DEADLINE_S = 60.0  # generous bound so a stuck child cannot hang the suite


def read_until(proc: subprocess.Popen, want: int) -> tuple[list[str], list[str]]:
    """Acknowledged ids (enqueued, completed) printed before we have ``want`` enqueues."""
    enqueued: list[str] = []
    completed: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + DEADLINE_S
    assert proc.stdout.readline().strip() == "ready"
    while len(enqueued) < want:
        assert sel.select(timeout=max(0.0, end - time.monotonic())), "child stopped talking"
        line = proc.stdout.readline()
        assert line, f"child exited early: {proc.stderr.read()}"
        kind, job_id = line.split()
        (enqueued if kind == "enq" else completed).append(job_id)
    return enqueued, completed


def test_kill_9_loses_no_acknowledged_job(tmp_path) -> None:
    root = os.path.dirname(os.path.dirname(simqueue.__file__))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    d = tmp_path / "q"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(d)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        enqueued, completed = read_until(proc, WANT)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        # whole lines the child printed before it died were acknowledged too
        for line in proc.stdout.read().splitlines(keepends=True):
            if line.endswith("\n"):
                kind, job_id = line.split()
                (enqueued if kind == "enq" else completed).append(job_id)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    q = DurableQueue.open(d, durability="modeled")
    try:
        assert len(enqueued) >= WANT and completed
        missing = [i for i in enqueued if i not in q]
        assert missing == []
        for job_id in enqueued[:50]:
            assert q.job(job_id).payload == {"i": int(job_id.split("-")[1])}
        assert all(q.state_of(i) is COMPLETED for i in completed)
        assert q.recovery is not None and q.recovery.jobs_restored >= len(enqueued)
    finally:
        q.close()
