"""The systems simqueue is measured against, each in a fresh directory under the system temp
dir (or ``base``).

For :mod:`benchmarks.bench_queue`, N jobs (enqueue, dispatch, complete) one call at a time:
persist-queue's ``SQLiteAckQueue``, a plain ``sqlite3`` queue table, and the disk's own limit (a
bare write-and-sync loop). Each returns ``{"seconds", "fsyncs"}`` (``fsyncs`` None where the
system does not count them).

For :mod:`benchmarks.bench_server`, producers only: ``clients`` threads each submitting its share
of N jobs one at a time and timing each submission until it returned durable
(:func:`produce_huey`, :func:`produce_persist_queue`), and the latency of one bare
overwrite-and-``fdatasync`` (:func:`bare_sync_latencies`), the write pattern of simqueue's log.
Each producer run returns ``{"seconds", "latencies"}``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from .common import temp_dir


# ------------------------------------------------------------------------------- persist-queue
def run_persist_queue(n: int) -> dict[str, Any]:
    import persistqueue

    with temp_dir() as d:
        q = persistqueue.SQLiteAckQueue(os.path.join(d, "pq"), auto_commit=True)
        try:
            t0 = time.perf_counter()
            for i in range(n):
                q.put({"id": f"job-{i:08d}", "payload": {"n": i}})
                item = q.get(block=False)
                q.ack(item)
            dt = time.perf_counter() - t0
            done = q.acked_count()
        finally:
            q.close()
    if done != n:
        raise RuntimeError(f"SQLiteAckQueue acked {done} of {n} jobs")
    return {"seconds": dt, "fsyncs": None}


# ------------------------------------------------------------------------------- sqlite3 table
SCHEMA = """
CREATE TABLE jobs (
    qid INTEGER PRIMARY KEY,          -- FIFO order
    id TEXT NOT NULL UNIQUE,
    payload TEXT,
    state INTEGER NOT NULL,           -- 0 pending, 1 in flight, 2 completed
    attempt INTEGER NOT NULL,
    worker INTEGER,
    deadline REAL
);
CREATE INDEX pending ON jobs(qid) WHERE state = 0;
"""
SQL_ENQUEUE = "INSERT INTO jobs (id, payload, state, attempt) VALUES (?, ?, 0, 0)"
SQL_DISPATCH = (
    "UPDATE jobs SET state = 1, attempt = attempt + 1, worker = ?, deadline = ? "
    "WHERE qid = (SELECT qid FROM jobs WHERE state = 0 ORDER BY qid LIMIT 1) "
    "RETURNING id, attempt, payload"
)
SQL_COMPLETE = "UPDATE jobs SET state = 2 WHERE id = ? AND attempt = ? AND state = 1"


def open_table(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit: we say BEGIN ourselves
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise RuntimeError(f"sqlite refused WAL mode ({mode})")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(SCHEMA)
    return conn


def run_sqlite(n: int, group_jobs: int | None, synchronous: str = "FULL") -> dict[str, Any]:
    """``group_jobs=None``: autocommit, every statement its own durable transaction. Otherwise
    one ``BEGIN ... COMMIT`` per ``group_jobs`` jobs (all their statements)."""
    with temp_dir() as d:
        conn = open_table(os.path.join(d, "queue.db"), synchronous)
        try:
            ex = conn.execute
            group = group_jobs or 0  # 0: autocommit
            t0 = time.perf_counter()
            in_txn = False
            for i in range(n):
                if group and not in_txn:
                    ex("BEGIN")
                    in_txn = True
                ex(SQL_ENQUEUE, (f"job-{i:08d}", json.dumps({"n": i})))
                # fetchall: the statement must run to completion to commit (autocommit)
                job_id, attempt, _payload = ex(SQL_DISPATCH, (0, time.time() + 3.0)).fetchall()[0]
                ex(SQL_COMPLETE, (job_id, attempt))
                if in_txn and (i + 1) % group == 0:
                    ex("COMMIT")
                    in_txn = False
            if in_txn:
                ex("COMMIT")
            dt = time.perf_counter() - t0
            done = ex("SELECT count(*) FROM jobs WHERE state = 2").fetchone()[0]
        finally:
            conn.close()
    if done != n:
        raise RuntimeError(f"sqlite3 table completed {done} of {n} jobs")
    return {"seconds": dt, "fsyncs": None}


# ------------------------------------------------------------------------------- bare fsync
def run_bare_fsync(n: int, mode: str = "append+fsync") -> dict[str, Any]:
    """The disk's own limit: ``n`` times write 64 bytes and sync.

    ``append+fsync`` (the reference: what a growing log does), ``append+fdatasync``, and
    ``overwrite+fdatasync``: ``pwrite`` into a file written and synced beforehand, so no write
    changes its size (roughly what SQLite does with a WAL file it reuses; SQLite syncs with
    ``fdatasync`` on Linux)."""
    with temp_dir() as d:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("append") else 0)
        fd = os.open(os.path.join(d, "bare.log"), flags, 0o644)
        chunk = b"x" * 64
        try:
            if mode.startswith("overwrite"):
                os.write(fd, b"\0" * (64 * n + 4096))
            os.fsync(fd)
            write, pwrite = os.write, os.pwrite
            sync = os.fdatasync if mode.endswith("fdatasync") else os.fsync
            t0 = time.perf_counter()
            if mode.startswith("append"):
                for _ in range(n):
                    write(fd, chunk)
                    sync(fd)
            else:
                for i in range(n):
                    pwrite(fd, chunk, 64 * i)
                    sync(fd)
            dt = time.perf_counter() - t0
        finally:
            os.close(fd)
    return {"seconds": dt, "fsyncs": n}


# ------------------------------------------------------------------------------- producers
def run_producers(
    clients: int,
    n: int,
    submit: Callable[[int, int], object],
    prepare: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """``clients`` threads, thread ``c`` calling ``submit(c, i)`` for its share of ``n`` jobs,
    all released at once (after ``prepare(c)``: opening a connection is not timed); the wall
    time from the release to the last return, and every call's latency in seconds."""
    shares = [n // clients + (c < n % clients) for c in range(clients)]
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    gate = threading.Barrier(clients + 1)

    def body(c: int) -> None:
        out, clock = lat[c], time.perf_counter
        try:
            if prepare is not None:
                prepare(c)
        except BaseException as exc:  # reported after the join; the gate still opens
            errors.append(exc)
        gate.wait()
        if errors:
            return
        try:
            base = sum(shares[:c])
            for i in range(base, base + shares[c]):
                t0 = clock()
                submit(c, i)
                out.append(clock() - t0)
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} producer(s) failed, first: {errors[0]!r}")
    return {"seconds": dt, "latencies": [x for per in lat for x in per]}


def produce_huey(clients: int, n: int, base: str | None = None) -> dict[str, Any]:
    """huey's ``SqliteHuey(fsync=True)`` (journal_mode=WAL, synchronous=FULL: each enqueue is
    a committed, fsynced transaction before the call returns); no consumer runs."""
    from huey import SqliteHuey

    with temp_dir(base) as d:
        huey = SqliteHuey("bench", filename=os.path.join(d, "huey.db"), fsync=True)

        @huey.task()
        def noop(i: int) -> None:  # never runs: only the enqueue is measured
            pass

        try:
            out = run_producers(clients, n, lambda c, i: noop(i))
            queued = huey.pending_count()
        finally:
            huey.storage.close()
    if queued != n:
        raise RuntimeError(f"SqliteHuey holds {queued} of {n} jobs")
    return out


def produce_persist_queue(clients: int, n: int, base: str | None = None) -> dict[str, Any]:
    """persist-queue ``SQLiteAckQueue(auto_commit=True, multithreading=True)``: each ``put``
    its own transaction (journal_mode=WAL, SQLite's default synchronous=FULL, checked)."""
    import persistqueue

    with temp_dir(base) as d:
        q = persistqueue.SQLiteAckQueue(
            os.path.join(d, "pq"), auto_commit=True, multithreading=True
        )
        try:
            putter = q._putter  # the connection its puts commit on
            assert putter is not None
            sync = putter.execute("PRAGMA synchronous").fetchone()[0]
            if sync != 2:
                raise RuntimeError(f"SQLiteAckQueue runs with synchronous={sync}, not FULL (2)")
            out = run_producers(clients, n, lambda c, i: q.put({"id": f"job-{i}", "n": i}))
            queued = q.qsize()
        finally:
            q.close()
    if queued != n:
        raise RuntimeError(f"SQLiteAckQueue holds {queued} of {n} jobs")
    return out


def bare_sync_latencies(n: int, base: str | None = None, size: int = 128) -> list[float]:
    """``n`` times: ``pwrite`` ``size`` bytes into space written and synced beforehand, then
    ``fdatasync`` (what simqueue's log does with its preallocated segment); each pair's
    latency in seconds."""
    with temp_dir(base) as d:
        fd = os.open(os.path.join(d, "bare.log"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.write(fd, b"\0" * (size * n + 4096))
            os.fsync(fd)
            chunk, out, clock = b"x" * size, [], time.perf_counter
            for i in range(n):
                t0 = clock()
                os.pwrite(fd, chunk, size * i)
                os.fdatasync(fd)
                out.append(clock() - t0)
        finally:
            os.close(fd)
    return out
