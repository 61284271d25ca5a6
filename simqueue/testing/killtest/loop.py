"""The loop: one server lifetime after another, each ended by SIGKILL and checked, then a last
server that drains the queue and stops on SIGTERM.

One *lifetime*: start ``simqueue run`` with an fsync policy drawn per lifetime (``batch`` mostly,
also ``always`` and ``never``: each promises that an acknowledged job survives a process crash);
publish its URL to the clients; after a random delay, SIGKILL. Most kills land under load; some
are aimed at the start-up (before the server listens, often during recovery). Once every request
to that server has ended, :class:`~simqueue.testing.killtest.checks.Ledger` checks the directory;
the next server must agree with it.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import statistics
import time

from simqueue.core.jobs import COMPLETED, DEAD
from simqueue.service.client import http_json
from simqueue.testing.killtest.checks import Ledger
from simqueue.testing.killtest.clients import Clients
from simqueue.testing.killtest.results import KillTestError, Lifetime, Summary
from simqueue.testing.killtest.servers import Deadline, Process, Servers

log = logging.getLogger(__name__)

FSYNC_CHOICES = ("batch", "batch", "always", "never")


class KillLoop:
    """One run of the loop with the options of ``python -m simqueue.testing.killtest``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(f"{args.seed}:killtest")
        self.deadline = Deadline(args.time_limit)
        self.servers = Servers(
            args.work_dir,
            self.deadline,
            workers=args.workers,
            snapshot_interval=args.snapshot_interval,
            max_retry=args.max_retry,
        )
        self.summary = Summary()
        self.ledger = Ledger(
            self.servers.data_dir, self.servers.runs_path, self.summary, max_retry=args.max_retry
        )
        self.clients = Clients(
            args.clients, args.seed, (1, args.max_batch), (args.min_pause, args.max_pause)
        )
        self._ready_times: list[float] = []  # spawn -> listening, of every lifetime under load

    def run(self) -> Summary:
        a, s = self.args, self.summary
        t0 = time.monotonic()
        os.makedirs(a.work_dir, exist_ok=True)
        open(self.servers.runs_path, "a").close()
        log.info(
            "killtest: %d kills, %d clients, %d workers, seed %d; data dir %s",
            a.kills,
            a.clients,
            a.workers,
            a.seed,
            self.servers.data_dir,
        )
        self.clients.start()
        expect: int | None = None
        try:
            for i in range(1, a.kills + 1):
                expect = self.lifetime(i, expect)
            self.finish(expect)
        finally:
            self.clients.stop()
            self.servers.kill_all()
        s.seconds = time.monotonic() - t0
        return s

    def lifetime(self, i: int, expect: int | None) -> int:
        """Start server ``i``, kill it, check the directory; the number of jobs it holds."""
        fsync = self.rng.choice(FSYNC_CHOICES)
        early = self.rng.random() < self.args.early
        spawned = time.monotonic()
        proc = self.servers.spawn(fsync)
        life = Lifetime(i, proc.pid, fsync, early)
        self.ledger.pid_lifetime[proc.pid] = i
        self.summary.lifetimes.append(life)
        if early:
            self._run_start_up(proc, life, spawned)
        else:
            self._run_under_load(proc, life, spawned, expect)
        self._kill(proc, life)
        self.deadline.check("checking the directory")
        jobs = self.ledger.check_directory(life, self.clients.acked_snapshot())
        log.info("%s", life.describe(self.args.kills))
        return jobs

    def _run_start_up(self, proc: Process, life: Lifetime, spawned: float) -> None:
        """Let it start, to within the last ~80 ms before a server usually listens: recovery
        happens there."""
        times = self._ready_times
        m = statistics.median(times) if times else 0.3
        end = spawned + self.rng.uniform(max(0.0, m - 0.08), m * 1.05)
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(0.002)
        life.listened = self.servers.url_of(proc) is not None
        life.uptime = time.monotonic() - spawned

    def _run_under_load(
        self, proc: Process, life: Lifetime, spawned: float, expect: int | None
    ) -> None:
        url = self.servers.wait_ready(proc)
        listened = time.monotonic()
        life.listened, life.ready_seconds = True, listened - spawned
        self._ready_times.append(life.ready_seconds)
        self.ledger.after_start(life, url, expect, self._sample)
        self.clients.publish(url)
        end = listened + self.rng.uniform(self.args.min_uptime, self.args.max_uptime)
        while time.monotonic() < end and proc.poll() is None:
            time.sleep(0.005)
        life.uptime = time.monotonic() - listened

    def _sample(self) -> list[str]:
        """Acknowledged ids the next server must answer for."""
        acked = self.clients.acked_snapshot()
        return self.rng.sample(acked, min(len(acked), self.args.sample))

    def _kill(self, proc: Process, life: Lifetime) -> None:
        if proc.poll() is not None:
            raise KillTestError(
                f"server pid {proc.pid} died on its own (code {proc.returncode}); "
                f"see {self.servers.log_path}:\n{self.servers.log_tail()}"
            )
        rc = self.servers.reap(proc, signal.SIGKILL)
        self.clients.publish(None)
        if rc != -signal.SIGKILL:
            self.ledger.violation(f"lifetime {life.index}: server exited {rc}, not by SIGKILL")
        s = self.summary
        s.kills += 1
        s.start_up_kills += life.early
        s.kills_before_listening += not life.listened
        if not self.clients.wait_idle(30):
            raise KillTestError("client requests did not end after the kill")

    # -- the last lifetime -------------------------------------------------------------------
    def finish(self, expect: int | None) -> None:
        """The last lifetime: drain, SIGTERM, then open the directory and verify the WAL."""
        spawned = time.monotonic()
        proc = self.servers.spawn("batch")
        life = Lifetime(self.args.kills + 1, proc.pid, "batch")
        self.ledger.pid_lifetime[proc.pid] = life.index
        url = self.servers.wait_ready(proc)
        life.listened, life.ready_seconds = True, time.monotonic() - spawned
        self.summary.lifetimes.append(life)
        self.ledger.after_start(life, url, expect, self._sample)
        self._drain(url)
        rc = self.servers.reap(proc, signal.SIGTERM, wait=60)
        if rc != 0:
            self.ledger.violation(f"the last server exited {rc} after SIGTERM (expected 0)")
        log.info(
            "[final] pid %d: recovered %s jobs in %.1f ms, drained the queue, stopped by SIGTERM",
            proc.pid,
            life.jobs_restored,
            (life.recovery_seconds or 0) * 1000,
        )
        self._tally(life)

    def _drain(self, url: str) -> None:
        while True:
            status, st = http_json(url, "GET", "/status", timeout=30)
            if status != 200:
                raise KillTestError(f"GET /status answered {status} while draining")
            c = st["counts"]
            if not c["pending"] and not c["in_flight"]:
                return
            self.deadline.check(f"draining the queue ({c['pending']} pending)")
            time.sleep(0.05)

    def _tally(self, life: Lifetime) -> None:
        """The final figures: what the clients were told, the directory, the runs, the WAL."""
        s, ledger = self.summary, self.ledger
        ledger.read_acks()
        acked = self.clients.acked_snapshot()
        s.posts_acknowledged = self.clients.posts_acked
        s.jobs_acknowledged = len(acked)
        s.jobs_uncertain = len(self.clients.uncertain)
        s.refused = list(self.clients.refused)
        for r in s.refused:
            ledger.violation(f"a POST was refused: {r}")
        states = ledger.check_final(acked, life.index)
        s.jobs_total = len(states)
        s.completed = sum(1 for st, _ in states.values() if st is COMPLETED)
        s.dead = sum(1 for st, _ in states.values() if st is DEAD)
        ledger.check_runs()
        code, verdict = self.servers.verify_wal()
        s.wal_verify = verdict
        if code not in (0, 1):
            ledger.violation(f"simqueue wal verify exited {code}: {verdict}")
