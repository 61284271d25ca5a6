"""Many client processes and threads against one ``simqueue run`` child, SIGKILLed under load
and restarted: after every kill the files are decoded independently
(:mod:`simqueue.testing.stress.decode`) and every job a client was answered 2xx for must be
there exactly once; the next server's own recovery must count the same jobs. At the end the
last server stops on SIGTERM and the files are checked once more against every answer.

Also :func:`run_thread_kills`: the threads of :mod:`simqueue.testing.stress.threads` in a child
process, SIGKILLed mid-run, the files checked against every acknowledgement it wrote down."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from simqueue.service.client import http_json
from simqueue.testing.killtest.servers import Deadline, Process, Servers, child_env
from simqueue.testing.stress.decode import audit, decode_dir
from simqueue.testing.stress.threads import ThreadRun, check_acks, read_acks

CHILD = [sys.executable, "-m", "simqueue.testing.stress.child"]


@dataclass
class StressRun:
    """The figures of a run, and every violation as a sentence."""

    kills: int = 0
    acknowledged: int = 0
    uncertain: int = 0
    refused: list[str] = field(default_factory=list)
    jobs_in_files: int = 0
    records_decoded: int = 0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and self.acknowledged > 0


def read_outcomes(paths: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(acknowledged ids, uncertain ids, refusals) from the clients' files."""
    acked: list[str] = []
    uncertain: list[str] = []
    refused: list[str] = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")[:-1]  # a last line cut short is left out
        for raw in lines:
            kind, rest = raw.decode().split(" ", 1)
            {"A": acked, "U": uncertain, "R": refused}[kind].append(rest)
    return acked, uncertain, refused


class ServerStress:
    """One run: ``processes`` x ``threads`` clients (one kept-alive connection each), ``jobs``
    jobs per thread, one per request, ``kills`` kills."""

    def __init__(
        self,
        root: str,
        *,
        processes: int = 4,
        threads: int = 4,
        jobs: int = 25,
        kills: int = 2,
        seed: int = 0,
        time_limit: float = 300.0,
        fsync: str | None = None,
    ) -> None:
        self.root, self.processes, self.threads, self.jobs = root, processes, threads, jobs
        self.fsync = fsync  # each server's policy; None: drawn per server from the seed
        self.kills, self.time_limit = kills, time_limit
        self.rng = random.Random(f"{seed}:stress-server")
        self.deadline = Deadline(time_limit)
        os.makedirs(root, exist_ok=True)
        self.servers = Servers(root, self.deadline, workers=2, snapshot_interval=0.2, max_retry=3)
        self.outs = [os.path.join(root, f"client-{p}.acks") for p in range(processes)]
        self.clients: list[Process] = []
        self.run = StressRun()

    def start_clients(self) -> None:
        for p, out in enumerate(self.outs):
            cmd = CHILD + ["post", "--data-dir", self.servers.data_dir, "--out", out]
            cmd += ["--prefix", f"c{p}-", "--threads", str(self.threads), "--jobs", str(self.jobs)]
            cmd += ["--time-limit", str(self.time_limit)]
            log = open(os.path.join(self.root, f"client-{p}.log"), "ab")  # noqa: SIM115
            self.clients.append(
                subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env())
            )
            log.close()

    def execute(self) -> StressRun:
        try:
            proc, url = self._spawn(expect=None)
            self.start_clients()
            total = self.processes * self.threads * self.jobs
            for k in range(1, self.kills + 1):
                self._wait_acks(total * k // (self.kills + 1))
                self.servers.reap(proc, signal.SIGKILL)
                self.run.kills += 1
                jobs = self._check(f"after kill {k}")
                proc, url = self._spawn(expect=jobs)
            self._wait_clients()
            rc = self.servers.reap(proc, signal.SIGTERM, wait=60)
            if rc != 0:
                self.run.violations.append(f"the last server exited {rc} after SIGTERM")
            self._check("at the end")
        finally:
            for c in self.clients:
                if c.poll() is None:
                    c.kill()
                c.wait(10)
            self.servers.kill_all()
        return self.run

    def _spawn(self, expect: int | None) -> tuple[Process, str]:
        proc = self.servers.spawn(self.fsync or self.rng.choice(("always", "batch")))
        url = self.servers.wait_ready(proc)
        if expect is not None:
            status, st = http_json(url, "GET", "/status", timeout=30)
            restored = (st.get("recovery") or {}).get("jobs_restored") if status == 200 else None
            if restored != expect:
                self.run.violations.append(
                    f"server pid {proc.pid} recovered {restored} jobs; the files hold {expect}"
                )
        return proc, url

    def _wait_acks(self, n: int) -> None:
        while len(read_outcomes(self.outs)[0]) < n and any(c.poll() is None for c in self.clients):
            self.deadline.check(f"waiting for {n} acknowledged jobs")
            time.sleep(0.01)

    def _wait_clients(self) -> None:
        for c in self.clients:
            while c.poll() is None:
                self.deadline.check("waiting for the clients to finish")
                time.sleep(0.02)
            if c.returncode != 0:
                self.run.violations.append(
                    f"client pid {c.pid} exited {c.returncode}; see {self.root}/client-*.log"
                )

    def _check(self, when: str) -> int:
        """Decode the files against every 2xx answer so far; the jobs they hold."""
        acked, uncertain, refused = read_outcomes(self.outs)
        d, bad = audit(self.servers.data_dir, acked)
        r = self.run
        r.violations += [f"{when}: {b}" for b in bad]
        r.notes += [f"{when}: {n}" for n in d.notes]
        r.acknowledged, r.uncertain, r.refused = len(acked), len(uncertain), refused
        r.jobs_in_files, r.records_decoded = len(d.jobs), len(d.records)
        return len(d.jobs)


def run_thread_kills(
    root: str,
    *,
    runs: int = 1,
    producers: int = 8,
    consumers: int = 4,
    jobs: int = 200,
    seed: int = 0,
    time_limit: float = 300.0,
    fsync: str = "always",
) -> StressRun:
    """``runs`` lifetimes of the thread workload in a child on one directory opened with
    ``fsync`` (``always`` or ``batch``), each SIGKILLed once it has acknowledged about half its
    work; the files checked after each kill."""
    out, deadline, seen = StressRun(), Deadline(time_limit), ThreadRun()
    data_dir = os.path.join(root, "q")
    for k in range(runs):
        acks = os.path.join(root, f"threads-{k}.acks")
        cmd = CHILD + ["threads", "--data-dir", data_dir, "--out", acks, "--seed", str(seed + k)]
        cmd += ["--producers", str(producers), "--consumers", str(consumers), "--jobs", str(jobs)]
        cmd += ["--prefix", f"r{k}-", "--time-limit", str(time_limit), "--fsync", fsync]
        proc = subprocess.Popen(cmd, env=child_env(), stderr=subprocess.PIPE)
        try:
            while proc.poll() is None and _lines(acks) < producers * jobs // 2:
                deadline.check("waiting for the thread workload's acknowledgements")
                time.sleep(0.005)
        finally:
            proc.kill()
            _, err = proc.communicate(timeout=30)
        if proc.returncode not in (0, -signal.SIGKILL):
            out.violations.append(f"threads child {k} exited {proc.returncode}: {err[-500:]!r}")
        out.kills += proc.returncode == -signal.SIGKILL
        acked = read_acks(acks)
        seen.enqueued.update(acked.enqueued)
        seen.completed.update(acked.completed)
        seen.dead.update(acked.dead)
        d = decode_dir(data_dir)
        out.violations += [f"after thread run {k}: {b}" for b in check_acks(d, seen)]
        out.acknowledged = len(seen.enqueued)
        out.jobs_in_files, out.records_decoded = len(d.jobs), len(d.records)
    return out


def _lines(path: str) -> int:
    try:
        with open(path, "rb") as fh:
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0
