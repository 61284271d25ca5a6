"""``python -m simqueue.testing.killtest``: ``kill -9`` real ``simqueue run`` servers under load,
again and
again, and check every restart against what the clients were told.

One *lifetime* of the loop:

1. start ``simqueue run`` as a child process (data directory in a temporary directory, port 0,
   the URL read from ``server.json``), with :func:`handle` as the job handler and an fsync policy
   drawn per lifetime (``batch`` mostly, also ``always`` and ``never``: each promises that an
   acknowledged job survives a process crash);
2. client threads POST batches of jobs with fresh ids; a job counts as *acknowledged* only once
   its ``POST /jobs`` answered 2xx. A request cut off by the kill is *uncertain*: its ids are never
   reused, and they may or may not be in the queue;
3. after a random delay, SIGKILL. Most kills land under load; some are aimed at the start-up
   (before the server listens, often during recovery);
4. once every request to that server has ended: read the WAL
(:func:`simqueue.core.wal.iter_records`,
   read-only) for ACK records, copy the directory and recover the copy with
   :meth:`DurableQueue.open <simqueue.DurableQueue.open>` (the same bytes the next server will
   recover). Checks: every acknowledged job is there (*lost*); every job seen COMPLETED after an
   earlier kill is still COMPLETED with the same attempt; attempts never decrease;
5. the next lifetime's server must agree: its own recovery report (``GET /status``) restored the
   same number of jobs, and a sample of acknowledged ids answers ``GET /jobs/<id>`` with 200.

:func:`handle` appends ``pid job-id attempt`` to a run log before it works (``O_APPEND``, so a
line survives the kill). A *double completion* is a run of a job in a lifetime after a kill that
found it durably COMPLETED, a run with an attempt above the one that completed it, or a job with
two ACK records in the WAL.

At the end the last server drains the queue and is stopped with SIGTERM; the directory is opened
with ``DurableQueue.open`` (every acknowledged job COMPLETED or DEAD), and ``simqueue wal verify``
must say clean or torn. Only 127.0.0.1, every wait bounded, every child reaped.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

RUNS_ENV = "SQ_KILLTEST_RUNS"  # where handle() logs its runs (not SIMQUEUE_*: not a setting)
HANDLER = "simqueue.testing.killtest:handle"
#: The folder that holds the ``simqueue`` package (the repository, for a checkout).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FSYNC_CHOICES = ("batch", "batch", "always", "never")

# ---------------------------------------------------------------------------------- the handler
_runs_lock = threading.Lock()
_runs_fd: int | None = None


def handle(job: Any) -> None:
    """The job handler the killed servers run: log ``pid id attempt``, then sleep
    ``payload.sleep_ms``. One ``os.write`` on an ``O_APPEND`` descriptor: the line reaches the
    OS before the work starts, so it survives ``kill -9``."""
    global _runs_fd
    with _runs_lock:
        if _runs_fd is None:
            _runs_fd = os.open(os.environ[RUNS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_runs_fd, f"{os.getpid()} {job.id} {job.attempt}\n".encode())
    ms = (job.payload or {}).get("sleep_ms") or 0
    if ms > 0:
        time.sleep(ms / 1000.0)


# ---------------------------------------------------------------------------------- results
class KillTestError(Exception):
    """The loop could not run (a server that would not start, the time bound). Not a finding."""


@dataclass
class Lifetime:
    """One server process, from start to SIGKILL (or, for the last one, SIGTERM)."""

    index: int
    pid: int
    fsync: str
    early: bool = False  # a start-up kill: aimed at the end of start-up (recovery), no load
    listened: bool = False
    ready_seconds: float | None = None  # spawn -> server.json written (interpreter start too)
    recovery_seconds: float | None = None  # the server's own RecoveryReport.wall_seconds
    jobs_restored: int | None = None
    uptime: float = 0.0  # seconds from listening (or spawn, if it never listened) to the kill
    acked_total: int = 0
    jobs_in_dir: int = 0
    lost: int = 0


@dataclass
class Summary:
    kills: int = 0
    start_up_kills: int = 0
    kills_before_listening: int = 0
    lifetimes: list[Lifetime] = field(default_factory=list)
    posts_acknowledged: int = 0
    jobs_acknowledged: int = 0
    jobs_uncertain: int = 0
    refused: list[str] = field(default_factory=list)
    jobs_total: int = 0
    completed: int = 0
    dead: int = 0
    lost: int = 0
    double_completions: int = 0
    runs: int = 0
    jobs_run_more_than_once: int = 0
    ack_records: int = 0
    wal_verify: str = ""
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def recovery_stats(self) -> dict[str, Any]:
        rec = [x.recovery_seconds for x in self.lifetimes if x.recovery_seconds is not None]
        ready = [x.ready_seconds for x in self.lifetimes if x.ready_seconds is not None]
        return {"recovery_seconds": _stats(rec), "ready_seconds": _stats(ready)}

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(self.recovery_stats(), ok=self.ok)
        return out


def _stats(xs: list[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "min": min(xs), "median": statistics.median(xs), "max": max(xs)}


# ---------------------------------------------------------------------------------- clients
class Clients:
    """Threads that POST job batches to whichever server is published, and remember exactly
    which ids were acknowledged (2xx), refused (other answers) or cut off (uncertain)."""

    def __init__(self, n: int, seed: int, batch: tuple[int, int], pause: tuple[float, float]):
        self.cond = threading.Condition()
        self.url: str | None = None
        self.busy = 0
        self.stopping = False
        self.acked: list[str] = []
        self.posts_acked = 0
        self.uncertain: list[str] = []
        self.refused: list[str] = []
        self.batch = batch
        self.pause = pause
        self.threads = [
            threading.Thread(target=self._loop, args=(c, seed), name=f"client-{c}", daemon=True)
            for c in range(n)
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def publish(self, url: str | None) -> None:
        with self.cond:
            self.url = url
            self.cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Every request already sent has ended (answered or cut off)."""
        with self.cond:
            return self.cond.wait_for(lambda: self.busy == 0, timeout)

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.url = None
            self.cond.notify_all()
        for t in self.threads:
            t.join(15)

    def acked_snapshot(self) -> list[str]:
        with self.cond:
            return list(self.acked)

    def _loop(self, c: int, seed: int) -> None:
        rng = random.Random(f"{seed}:client-{c}")
        n = 0
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.url is not None or self.stopping, 0.2)
                if self.stopping:
                    return
                if self.url is None:
                    continue
                url = self.url
                self.busy += 1
            size = rng.randint(*self.batch)
            ids = [f"c{c}-{n + i}" for i in range(size)]
            n += size
            body = [
                {"id": i, "payload": {"sleep_ms": rng.choice((0, 0, 1, 2, 5, 20))}} for i in ids
            ]
            outcome, detail = _post(url, json.dumps(body).encode())
            with self.cond:
                if outcome == "acked":
                    self.acked.extend(ids)
                    self.posts_acked += 1
                elif outcome == "refused":
                    self.refused.append(detail)
                else:
                    self.uncertain.extend(ids)
                self.busy -= 1
                self.cond.notify_all()
            time.sleep(rng.uniform(*self.pause))


def _post(url: str, body: bytes) -> tuple[str, str]:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    try:
        conn.request("POST", "/jobs", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    except (OSError, http.client.HTTPException) as exc:
        return "uncertain", repr(exc)
    finally:
        conn.close()
    if 200 <= resp.status < 300:
        return "acked", ""
    return "refused", f"HTTP {resp.status}: {raw[:200]!r}"


# ---------------------------------------------------------------------------------- the loop
class KillLoop:
    def __init__(self, args: argparse.Namespace, echo: Any = print) -> None:
        self.args = args
        self.echo = echo
        self.rng = random.Random(f"{args.seed}:killtest")
        self.root = args.work_dir
        self.data_dir = os.path.join(self.root, "q")
        self.runs_path = os.path.join(self.root, "runs.log")
        self.log_path = os.path.join(self.root, "servers.log")
        self.deadline = time.monotonic() + args.time_limit
        self.summary = Summary()
        self.procs: list[subprocess.Popen] = []
        self.pid_lifetime: dict[int, int] = {}
        self.completed: dict[str, tuple[int, int]] = {}  # id -> (attempt, lifetime seen after)
        self.attempts: dict[str, int] = {}
        self.acks: dict[int, tuple[str, int]] = {}  # WAL seq -> (job id, attempt) of ACKs
        self.doubled: set[str] = set()  # jobs that completed twice (or un-completed)
        self.clients = Clients(
            args.clients, args.seed, (1, args.max_batch), (args.min_pause, args.max_pause)
        )

    # -- plumbing ----------------------------------------------------------------------------
    def violation(self, text: str) -> None:
        self.summary.violations.append(text)
        self.echo(f"VIOLATION: {text}")

    def check_time(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise KillTestError(f"time limit ({self.args.time_limit:g} s) reached while {what}")

    def spawn(self, fsync: str) -> subprocess.Popen:
        env = _child_env()
        env[RUNS_ENV] = self.runs_path
        cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", self.data_dir]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--handler", HANDLER]
        cmd += ["--workers", str(self.args.workers), "--fsync", fsync]
        cmd += ["--snapshot-interval", f"{self.args.snapshot_interval}s"]
        cmd += ["--max-retry", str(self.args.max_retry), "--task-timeout", "10s"]
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        self.procs.append(proc)
        return proc

    def server_url(self, proc: subprocess.Popen) -> str | None:
        from simqueue.service.server import SERVER_FILE

        try:
            with open(os.path.join(self.data_dir, SERVER_FILE), encoding="utf-8") as fh:
                info = json.load(fh)
        except (OSError, ValueError):
            return None
        return str(info["url"]) if info.get("pid") == proc.pid else None

    def wait_ready(self, proc: subprocess.Popen) -> str:
        while True:
            url = self.server_url(proc)
            if url:
                return url
            if proc.poll() is not None:
                raise KillTestError(
                    f"the server exited with code {proc.returncode} before it listened; "
                    f"see {self.log_path}:\n{_tail(self.log_path)}"
                )
            self.check_time("waiting for a server to listen")
            time.sleep(0.005)

    def reap(self, proc: subprocess.Popen, sig: int = signal.SIGKILL, wait: float = 30) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise KillTestError(f"server pid {proc.pid} did not stop after signal {sig}") from None

    def cleanup(self) -> None:
        self.clients.stop()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)

    # -- checks ------------------------------------------------------------------------------
    def after_start(self, life: Lifetime, url: str, expect_jobs: int | None) -> None:
        """The new server's own view: its recovery report, and acknowledged jobs by id."""
        from simqueue.service.client import http_json

        status, st = http_json(url, "GET", "/status", timeout=30)
        if status != 200:
            self.violation(f"lifetime {life.index}: GET /status answered {status}")
            return
        rec = st.get("recovery")
        if rec is not None:
            life.recovery_seconds = float(rec["wall_seconds"])
        life.jobs_restored = int(rec["jobs_restored"]) if rec else 0  # None: a fresh directory
        if expect_jobs is not None and life.jobs_restored != expect_jobs:
            self.violation(
                f"lifetime {life.index}: the server restored {life.jobs_restored} jobs; "
                f"recovering a copy of the same directory gave {expect_jobs}"
            )
        acked = self.clients.acked_snapshot()
        for job_id in self.rng.sample(acked, min(len(acked), self.args.sample)):
            status, answer = http_json(url, "GET", f"/jobs/{job_id}", timeout=30)
            if status != 200:
                self.violation(f"acknowledged job {job_id}: GET /jobs/{job_id} answered {status}")

    def check_directory(self, life: Lifetime) -> int:
        """After a kill: WAL ACKs, then a recovered copy against everything acknowledged."""
        from simqueue.core.errors import SimQueueError
        from simqueue.core.jobs import COMPLETED
        from simqueue.core.queue import DurableQueue

        self.read_acks()
        acked = self.clients.acked_snapshot()
        states: dict[str, tuple[Any, int]] = {}
        scratch = tempfile.mkdtemp(prefix="copy-", dir=self.root)
        try:
            copy = os.path.join(scratch, "q")
            if os.path.isdir(self.data_dir):  # else killed before it made the directory
                shutil.copytree(self.data_dir, copy)
                try:
                    q = DurableQueue.open(copy, durability="modeled", max_retry=self.args.max_retry)
                except SimQueueError as exc:
                    self.violation(f"lifetime {life.index}: the directory does not recover: {exc}")
                else:
                    try:
                        states = {r.id: (r.state, r.attempt) for r in q.iter_jobs()}
                    finally:
                        q.close()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        missing = [i for i in acked if i not in states]
        life.acked_total, life.jobs_in_dir, life.lost = len(acked), len(states), len(missing)
        if missing:
            self.violation(
                f"lifetime {life.index} (pid {life.pid}): {len(missing)} acknowledged job(s) "
                f"missing after the kill, e.g. {missing[:5]}"
            )
        self.observe(states, life.index, COMPLETED)
        return len(states)

    def observe(self, states: dict[str, tuple[Any, int]], lifetime: int, completed: Any) -> None:
        for job_id, (state, attempt) in states.items():
            before = self.attempts.get(job_id, 0)
            if attempt < before:
                self.violation(f"job {job_id}: attempt went from {before} down to {attempt}")
            self.attempts[job_id] = attempt
            seen = self.completed.get(job_id)
            if seen is not None and (state is not completed or attempt != seen[0]):
                self.doubled.add(job_id)
                self.violation(
                    f"job {job_id}: COMPLETED at attempt {seen[0]} after lifetime {seen[1]}, "
                    f"now {state.value} at attempt {attempt}"
                )
            elif seen is None and state is completed:
                self.completed[job_id] = (attempt, lifetime)

    def read_acks(self) -> None:
        from simqueue.core import wal
        from simqueue.core.errors import CorruptWALError

        try:
            for rec in wal.iter_records(self.data_dir):
                if rec.type == wal.ACK:
                    prev = self.acks.setdefault(rec.seq, (rec.job_id, rec.attempt))
                    if prev != (rec.job_id, rec.attempt):
                        self.violation(f"WAL seq {rec.seq} was ACK {prev}, now {rec.job_id}")
        except CorruptWALError as exc:
            self.violation(f"the WAL does not read after a kill: {exc}")

    def check_runs(self) -> None:
        """The handler's run log against every durable completion seen."""
        runs: dict[str, int] = {}
        with open(self.runs_path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        for line in lines:
            pid_s, job_id, attempt_s = line.split()
            pid, attempt = int(pid_s), int(attempt_s)
            runs[job_id] = runs.get(job_id, 0) + 1
            life = self.pid_lifetime.get(pid)
            seen = self.completed.get(job_id)
            if seen is None:
                continue
            if attempt > seen[0] or (life is not None and life > seen[1]):
                self.doubled.add(job_id)
                self.violation(
                    f"job {job_id} ran again (attempt {attempt}, lifetime {life}) after it "
                    f"was durably COMPLETED at attempt {seen[0]} (seen after lifetime {seen[1]})"
                )
        self.summary.runs = len(lines)
        self.summary.jobs_run_more_than_once = sum(1 for n in runs.values() if n > 1)
        by_job: dict[str, list[int]] = {}
        for seq, (job_id, _) in self.acks.items():
            by_job.setdefault(job_id, []).append(seq)
        self.summary.ack_records = len(self.acks)
        for job_id, seqs in by_job.items():
            if len(seqs) > 1:
                self.doubled.add(job_id)
                self.violation(f"job {job_id} has {len(seqs)} ACK records (seqs {sorted(seqs)})")
        self.summary.double_completions = len(self.doubled)

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> Summary:
        a, s = self.args, self.summary
        t0 = time.monotonic()
        os.makedirs(self.root, exist_ok=True)
        open(self.runs_path, "a").close()
        self.echo(
            f"killtest: {a.kills} kills, {a.clients} clients, {a.workers} workers, seed {a.seed}; "
            f"data dir {self.data_dir}"
        )
        self.clients.start()
        expect: int | None = None
        ready_times: list[float] = []
        try:
            for i in range(1, a.kills + 1):
                fsync = self.rng.choice(FSYNC_CHOICES)
                early = self.rng.random() < a.early
                spawned = time.monotonic()
                proc = self.spawn(fsync)
                life = Lifetime(i, proc.pid, fsync, early)
                self.pid_lifetime[proc.pid] = i
                s.lifetimes.append(life)
                if early:
                    # the last ~80 ms before a server usually listens: recovery happens there
                    m = statistics.median(ready_times) if ready_times else 0.3
                    end = spawned + self.rng.uniform(max(0.0, m - 0.08), m * 1.05)
                    while time.monotonic() < end and proc.poll() is None:
                        time.sleep(0.002)
                    life.listened = self.server_url(proc) is not None
                    life.uptime = time.monotonic() - spawned
                else:
                    url = self.wait_ready(proc)
                    listened = time.monotonic()
                    life.listened, life.ready_seconds = True, listened - spawned
                    ready_times.append(life.ready_seconds)
                    self.after_start(life, url, expect)
                    self.clients.publish(url)
                    end = listened + self.rng.uniform(a.min_uptime, a.max_uptime)
                    while time.monotonic() < end and proc.poll() is None:
                        time.sleep(0.005)
                    life.uptime = time.monotonic() - listened
                if proc.poll() is not None:
                    raise KillTestError(
                        f"server pid {proc.pid} died on its own (code {proc.returncode}); "
                        f"see {self.log_path}:\n{_tail(self.log_path)}"
                    )
                rc = self.reap(proc, signal.SIGKILL)
                self.clients.publish(None)
                if rc != -signal.SIGKILL:
                    self.violation(f"lifetime {i}: server exited {rc}, not by SIGKILL")
                s.kills += 1
                s.start_up_kills += life.early
                s.kills_before_listening += not life.listened
                if not self.clients.wait_idle(30):
                    raise KillTestError("client requests did not end after the kill")
                self.check_time("checking the directory")
                expect = self.check_directory(life)
                self.echo(self.progress(life))
            self.finish(expect)
        finally:
            self.cleanup()
        s.seconds = time.monotonic() - t0
        return s

    def progress(self, life: Lifetime) -> str:
        if life.recovery_seconds is not None:
            start = (
                f"recovered {life.jobs_restored} jobs in {life.recovery_seconds * 1000:.1f} ms, "
                f"listened after {life.ready_seconds:.2f} s"
            )
        elif life.ready_seconds is not None:
            start = f"fresh directory, listened after {life.ready_seconds:.2f} s"
        else:
            start = "start-up kill"
        if life.early:
            when = "after" if life.listened else "before"
            kill = f"SIGKILL {life.uptime:.2f} s after the start, {when} it listened"
        else:
            kill = f"SIGKILL after {life.uptime:.2f} s under load"
        return (
            f"[{life.index:>3}/{self.args.kills}] pid {life.pid} fsync={life.fsync}: {start}; "
            f"{kill}; acknowledged {life.acked_total}, in the directory {life.jobs_in_dir}, "
            f"lost {life.lost}"
        )

    def finish(self, expect: int | None) -> None:
        """The last lifetime: drain, SIGTERM, then open the directory and verify the WAL."""
        from simqueue.core.jobs import COMPLETED, DEAD
        from simqueue.core.queue import DurableQueue
        from simqueue.service.client import http_json

        a, s = self.args, self.summary
        spawned = time.monotonic()
        proc = self.spawn("batch")
        life = Lifetime(a.kills + 1, proc.pid, "batch")
        self.pid_lifetime[proc.pid] = life.index
        url = self.wait_ready(proc)
        life.listened, life.ready_seconds = True, time.monotonic() - spawned
        s.lifetimes.append(life)
        self.after_start(life, url, expect)
        while True:
            status, st = http_json(url, "GET", "/status", timeout=30)
            if status != 200:
                raise KillTestError(f"GET /status answered {status} while draining")
            c = st["counts"]
            if not c["pending"] and not c["in_flight"]:
                break
            self.check_time(f"draining the queue ({c['pending']} pending)")
            time.sleep(0.05)
        rc = self.reap(proc, signal.SIGTERM, wait=60)
        if rc != 0:
            self.violation(f"the last server exited {rc} after SIGTERM (expected 0)")
        self.echo(
            f"[final] pid {proc.pid}: recovered {life.jobs_restored} jobs in "
            f"{(life.recovery_seconds or 0) * 1000:.1f} ms, drained the queue, stopped by SIGTERM"
        )
        self.read_acks()
        acked = self.clients.acked_snapshot()
        s.posts_acknowledged = self.clients.posts_acked
        s.jobs_acknowledged = len(acked)
        s.jobs_uncertain = len(self.clients.uncertain)
        s.refused = list(self.clients.refused)
        for r in s.refused:
            self.violation(f"a POST was refused: {r}")
        q = DurableQueue.open(self.data_dir, durability="real", max_retry=a.max_retry)
        try:
            states = {r.id: (r.state, r.attempt) for r in q.iter_jobs()}
        finally:
            q.close()
        missing = [i for i in acked if i not in states]
        s.lost = len(missing)
        if missing:
            self.violation(f"{len(missing)} acknowledged job(s) missing at the end: {missing[:5]}")
        unfinished = [i for i, (st, _) in states.items() if st not in (COMPLETED, DEAD)]
        if unfinished:
            self.violation(f"{len(unfinished)} job(s) not finished at the end: {unfinished[:5]}")
        self.observe(states, life.index, COMPLETED)
        s.jobs_total = len(states)
        s.completed = sum(1 for st, _ in states.values() if st is COMPLETED)
        s.dead = sum(1 for st, _ in states.values() if st is DEAD)
        self.check_runs()
        proc_v = subprocess.run(
            [sys.executable, "-m", "simqueue", "wal", "verify", self.data_dir],
            capture_output=True,
            text=True,
            timeout=120,
            env=_child_env(),
        )
        verdict = (proc_v.stdout + proc_v.stderr).strip()
        s.wal_verify = verdict
        if proc_v.returncode not in (0, 1):
            self.violation(f"simqueue wal verify exited {proc_v.returncode}: {verdict}")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def format_summary(s: Summary) -> str:
    st = s.recovery_stats()

    def ms(d: dict[str, Any]) -> str:
        if not d["n"]:
            return "n/a"
        return (
            f"min {d['min'] * 1000:.1f} ms, median {d['median'] * 1000:.1f} ms, "
            f"max {d['max'] * 1000:.1f} ms (n={d['n']})"
        )

    lines = [
        f"kills (SIGKILL):           {s.kills}: {s.kills - s.start_up_kills} under load, "
        f"{s.start_up_kills} aimed at start-up ({s.kills_before_listening} before it listened)",
        f"jobs acknowledged (2xx):   {s.jobs_acknowledged} in {s.posts_acknowledged} POSTs "
        f"({s.jobs_uncertain} more in requests cut off by a kill)",
        f"jobs at the end:           {s.jobs_total}: {s.completed} completed, {s.dead} dead",
        f"lost acknowledged jobs:    {s.lost}",
        f"double completions:        {s.double_completions} ({s.ack_records} ACK records read, "
        f"{s.runs} handler runs; {s.jobs_run_more_than_once} jobs ran more than once: "
        "interrupted attempts, at-least-once)",
        f"recovery (server report):  {ms(st['recovery_seconds'])}",
        f"start to listening:        {ms(st['ready_seconds'])}",
        f"wal verify at the end:     {s.wal_verify}",
        f"violations:                {len(s.violations)}",
        f"took {s.seconds:.1f} s",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simqueue.testing.killtest",
        description="kill -9 real `simqueue run` servers under load, again and again; check "
        "every restart against the jobs the clients saw acknowledged.",
    )
    p.add_argument("--kills", type=int, default=50, help="SIGKILLs to send (50)")
    p.add_argument("--seed", type=int, default=1, help="seed of every random choice (1)")
    p.add_argument("--clients", type=int, default=3, help="client threads POSTing batches (3)")
    p.add_argument("--workers", type=int, default=4, help="server worker threads (4)")
    p.add_argument("--max-batch", type=int, default=20, help="jobs per POST, at most (20)")
    p.add_argument("--min-pause", type=float, default=0.01, help="client pause, s (0.01)")
    p.add_argument("--max-pause", type=float, default=0.06, help="client pause, s (0.06)")
    p.add_argument("--min-uptime", type=float, default=0.3, help="s under load, at least (0.3)")
    p.add_argument("--max-uptime", type=float, default=1.5, help="s under load, at most (1.5)")
    p.add_argument(
        "--early", type=float, default=0.15, help="fraction of kills aimed at start-up (0.15)"
    )
    p.add_argument("--snapshot-interval", type=float, default=0.5, help="seconds (0.5)")
    p.add_argument("--max-retry", type=int, default=10, help="server --max-retry (10)")
    p.add_argument("--sample", type=int, default=20, help="acked ids to GET per restart (20)")
    p.add_argument("--time-limit", type=float, default=900.0, help="give up after (900 s)")
    p.add_argument("--work-dir", help="use this directory (kept); default: a temporary one")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", help="also write the summary as JSON to this file")
    return p


def run_killtest(argv: list[str] | None = None, echo: Any = print) -> Summary:
    """Parse ``argv`` and run the loop; returns the :class:`Summary` (``.ok``)."""
    args = build_parser().parse_args(argv)
    keep = args.keep or args.work_dir is not None
    if args.work_dir is None:
        args.work_dir = tempfile.mkdtemp(prefix="simqueue-killtest-")
    try:
        return KillLoop(args, echo).run()
    finally:
        if keep:
            echo(f"killtest: kept {args.work_dir}")
        else:
            shutil.rmtree(args.work_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = run_killtest(argv)
    except KillTestError as exc:
        print(f"killtest: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("killtest: interrupted", file=sys.stderr)
        return 130
    print(format_summary(summary))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2, default=str)
            fh.write("\n")
    print("killtest: OK" if summary.ok else f"killtest: FAILED ({len(summary.violations)})")
    return 0 if summary.ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
