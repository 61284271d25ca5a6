"""``simqueue demo``: the original plan's demo, done for real.

The published demo started the server, enqueued jobs, ``kill -9``-ed it after ``sleep 3``,
restarted it and printed a recovery time it had assumed. This one:

1. starts ``simqueue run`` as a child process on a fresh data directory (port 0);
2. enqueues the jobs with one ``POST /jobs`` (answered once every job is durable);
3. watches ``GET /status`` and sends SIGKILL while jobs are in flight;
4. restarts the server on the same directory and reads the recovery time *the server measured*
   (snapshot load + WAL replay, from its :class:`~simqueue.RecoveryReport`);
5. waits until every job is COMPLETED or DEAD, stops the server with SIGTERM;
6. opens the directory itself and checks that every acknowledged job is there and finished,
   and that the WAL verifies clean;
7. writes ``exports/demo_recovery.png`` (and a CSV timeline and a JSON summary).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

#: The folder that holds the ``simqueue`` package (the repository, for a checkout).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_JOBS = os.path.join(REPO_ROOT, "data", "jobs_demo.json")
POLL = 0.05
RECOVERY_TARGET = 3.0


class DemoError(Exception):
    """The demo could not be run (not: the demo found a problem, which it reports)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def generate_jobs(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Jobs in the original demo's format; each simulates 5-25 ms of work."""
    rng = random.Random(seed)
    width = max(4, len(str(count)))
    return [
        {
            "id": f"task-{i:0{width}d}",
            "payload": {"value": i, "sleep_ms": rng.randint(5, 25)},
            "timeout_ms": 3000,
        }
        for i in range(1, count + 1)
    ]


def _client():
    from simqueue.cli.status import format_status
    from simqueue.service.client import ClientError, http_json

    return ClientError, format_status, http_json


class _Demo:
    def __init__(self, echo: Callable[[str], None], deadline: float) -> None:
        self.echo = echo
        self.deadline = deadline
        self.t0 = time.monotonic()
        self.samples: list[tuple[float, str, int, int, int, int]] = []
        self.procs: list[subprocess.Popen] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def check_time(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise DemoError(f"timed out while {what}")

    def spawn(self, data_dir: str, log: Any, flags: list[str]) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIMQUEUE_")}
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "simqueue", "run", "--data-dir", data_dir, "--port", "0"]
        proc = subprocess.Popen(
            cmd + flags,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.procs.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen, data_dir: str, log_path: str) -> str:
        """The URL once the server (this pid) has recovered and listens."""
        from simqueue.service.server import SERVER_FILE

        path = os.path.join(data_dir, SERVER_FILE)
        while True:
            if proc.poll() is not None:
                raise DemoError(
                    f"the server exited with code {proc.returncode} before it was ready; "
                    f"see {log_path}:\n{_tail(log_path)}"
                )
            try:
                with open(path, encoding="utf-8") as fh:
                    info = json.load(fh)
                if info.get("pid") == proc.pid:
                    return str(info["url"])
            except (OSError, ValueError):
                pass
            self.check_time("waiting for the server to start")
            time.sleep(0.01)

    def status(self, url: str, phase: str) -> dict[str, Any]:
        CliError, _, http_json = _client()
        try:
            code, st = http_json(url, "GET", "/status", timeout=10)
        except CliError as exc:
            raise DemoError(str(exc)) from None
        if code != 200:
            raise DemoError(f"{url}/status answered HTTP {code}")
        c = st["counts"]
        self.samples.append(
            (self.now(), phase, c["pending"], c["in_flight"], c["completed"], c["dead"])
        )
        return st

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass


def _tail(path: str, lines: int = 8) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log)"


def run_demo(
    *,
    jobs_file: str | None = None,
    count: int | None = None,
    workers: int = 8,
    out_dir: str = "exports",
    data_dir: str | None = None,
    keep: bool = False,
    kill_at: float = 0.35,
    failure_rate: float = 0.05,
    timeout: float = 60.0,
    echo: Callable[[str], None] | None = None,
) -> bool:
    """Run the demo; True if every check passed. Raises :class:`DemoError` if it cannot run."""
    from simqueue.service.server import JobFileError, parse_jobs_text

    echo = echo or (lambda s: print(s, flush=True))
    if not 0 < kill_at <= 1:
        raise DemoError("--kill-at must be a fraction in (0, 1]", 2)
    if workers < 1:
        raise DemoError("--workers must be at least 1", 2)

    # -- the jobs ---------------------------------------------------------------------------
    if count is not None:
        if count < 1:
            raise DemoError("--count must be at least 1", 2)
        body = json.dumps(generate_jobs(count)).encode()
        source = f"{count} generated jobs"
    else:
        path = jobs_file or DEFAULT_JOBS
        if jobs_file is None and not os.path.exists(path):
            body = json.dumps(generate_jobs(2000)).encode()
            source = "2000 generated jobs"
        else:
            try:
                with open(path, "rb") as fh:
                    body = fh.read()
            except OSError as exc:
                raise DemoError(f"{path}: cannot read job file: {exc.strerror or exc}", 3) from None
            source = os.path.relpath(path) if not os.path.isabs(jobs_file or "") else path
    try:
        jobs = parse_jobs_text(body, source)
    except JobFileError as exc:
        raise DemoError(str(exc), 3) from None
    ids = [j.id for j in jobs]
    total = len(ids)

    # -- the data directory ---------------------------------------------------------------------
    made_tmp = data_dir is None
    if data_dir is None:
        data_dir = tempfile.mkdtemp(prefix="simqueue-demo-")
    elif os.path.exists(data_dir) and os.listdir(data_dir):
        raise DemoError(f"{data_dir}: not empty; the demo needs a fresh data directory", 3)
    data_dir = os.path.abspath(data_dir)
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, "demo_server.log")
    flags = [
        "--workers",
        str(workers),
        "--failure-rate",
        str(failure_rate),
        "--service-time",
        "constant(0.01)",
        "--task-timeout",
        "3s",
        "--max-retry",
        "3",
        "--fsync",
        "batch",
        "--flush-interval",
        "10ms",
        "--snapshot-interval",
        "0.5s",
        "--grace",
        "5s",
    ]
    CliError, format_status, http_json = _client()
    demo = _Demo(echo, time.monotonic() + timeout)
    ok = True
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            echo("simqueue demo: a real server, a real kill -9, a measured recovery")
            echo(f"[1/7] fresh data directory {data_dir}; {total} jobs from {source}")

            t_spawn = demo.now()
            p1 = demo.spawn(data_dir, log, flags)
            url = demo.wait_ready(p1, data_dir, log_path)
            echo(
                f"[2/7] server pid {p1.pid} listening on {url} after {demo.now() - t_spawn:.2f} s "
                f"({workers} workers, fsync=batch: group commit every 10 ms)"
            )

            t_enq = demo.now()
            try:
                code, ans = http_json(url, "POST", "/jobs", body, timeout=max(5.0, timeout))
            except CliError as exc:
                raise DemoError(str(exc)) from None
            if code != 200:
                raise DemoError(f"the server refused the jobs: HTTP {code}: {ans}")
            t_acked = demo.now()
            echo(
                f"[3/7] POST /jobs: {ans['accepted']} jobs acknowledged in "
                f"{(t_acked - t_enq) * 1000:.0f} ms, durable up to WAL seq {ans['durable_seq']} "
                f"({ans['accepted'] / max(t_acked - t_enq, 1e-9):,.0f} jobs/s)"
            )

            while True:
                st = demo.status(url, "before")
                c = st["counts"]
                done = c["completed"] + c["dead"]
                if done >= kill_at * total and (c["in_flight"] > 0 or done >= total):
                    break
                demo.check_time("waiting for jobs to run")
                time.sleep(POLL)
            p1.send_signal(signal.SIGKILL)
            p1.wait(10)
            t_kill = demo.now()
            before = c
            echo(
                f"[4/7] kill -9 {p1.pid} at t={t_kill - t_enq:.2f} s: {before['completed']} "
                f"completed, {before['dead']} dead, {before['in_flight']} in flight, "
                f"{before['pending']} pending (last status seen)"
            )

            p2 = demo.spawn(data_dir, log, flags)
            url = demo.wait_ready(p2, data_dir, log_path)
            t_ready = demo.now()
            st = demo.status(url, "after")
            rec = st.get("recovery")
            if not rec:
                raise DemoError("the restarted server reports no recovery")
            met = "met" if rec["wall_seconds"] < RECOVERY_TARGET else "MISSED"
            echo(
                f"[5/7] restarted as pid {p2.pid}: recovery measured by the server "
                f"{rec['wall_seconds'] * 1000:.1f} ms (target < {RECOVERY_TARGET:g} s: {met}); "
                f"{rec['description']}"
            )
            echo(
                f"      down for {t_ready - t_kill:.2f} s in all "
                "(new process, imports, recovery, listen)"
            )

            while True:
                st = demo.status(url, "after")
                c = st["counts"]
                if c["completed"] + c["dead"] >= total and not c["pending"] and not c["in_flight"]:
                    break
                demo.check_time("waiting for the remaining jobs")
                time.sleep(POLL)
            t_done = demo.now()
            echo(
                f"[6/7] all {total} jobs finished {t_done - t_ready:.2f} s after the restart: "
                f"{c['completed']} completed, {c['dead']} dead; {st['dispatches']} attempts in "
                f"all, {st['interruptions']} interrupted by the crash"
            )
            for line in format_status(st).splitlines():
                echo("      " + line)

            p2.send_signal(signal.SIGTERM)
            try:
                rc = p2.wait(20)
            except subprocess.TimeoutExpired:
                raise DemoError("the server did not stop within 20 s of SIGTERM") from None
            if rc != 0:
                ok = False
        verdict = _verify(data_dir, ids)
        ok = ok and verdict["ok"]
        echo(
            f"[7/7] stopped with SIGTERM (exit {rc}, final snapshot). Checked the directory: "
            f"{verdict['present']}/{total} acknowledged jobs present, {verdict['missing']} lost, "
            f"{verdict['unfinished']} unfinished; WAL verify: {verdict['wal']}"
        )
        summary = {
            "jobs": total,
            "source": source,
            "workers": workers,
            "enqueue_seconds": t_acked - t_enq,
            "killed_at_seconds": t_kill - t_enq,
            "before_kill": before,
            "recovery": rec,
            "recovery_seconds": rec["wall_seconds"],
            "downtime_seconds": t_ready - t_kill,
            "finished_after_restart_seconds": t_done - t_ready,
            "final_counts": c,
            "check": verdict,
            "server_exit_code": rc,
            "ok": ok,
        }
        files = _write_outputs(out_dir, demo.samples, summary, t_enq, t_kill, t_ready)
        echo("plot:    " + files[0])
        echo("also:    " + ", ".join(files[1:]) + f", {log_path}")
        echo(
            "result:  "
            + (
                "OK: nothing acknowledged was lost"
                if ok
                else "FAILED: see the lines above and " + log_path
            )
        )
        return ok
    finally:
        demo.cleanup()
        if made_tmp and not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif keep or not made_tmp:
            echo(f"data directory kept: {data_dir}")


def _verify(data_dir: str, ids: list[str]) -> dict[str, Any]:
    """Open the directory ourselves: every acknowledged job present and finished, WAL clean."""
    from simqueue.core import wal
    from simqueue.core.jobs import FINAL_STATES
    from simqueue.core.queue import DurableQueue

    q = DurableQueue.open(data_dir, durability="real")
    try:
        missing = [i for i in ids if i not in q]
        unfinished = [i for i in ids if i in q and q.state_of(i) not in FINAL_STATES]
        counts = q.counts()
    finally:
        q.close()
    report = wal.verify(data_dir)
    return {
        "ok": not missing and not unfinished and report.status == "clean",
        "present": len(ids) - len(missing),
        "missing": len(missing),
        "missing_ids": missing[:20],
        "unfinished": len(unfinished),
        "counts": counts,
        "wal": report.describe(),
    }


def _write_outputs(
    out_dir: str,
    samples: list[tuple],
    summary: dict[str, Any],
    t_enq: float,
    t_kill: float,
    t_ready: float,
) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    png = os.path.join(out_dir, "demo_recovery.png")
    csv = os.path.join(out_dir, "demo_timeline.csv")
    js = os.path.join(out_dir, "demo_summary.json")
    with open(csv, "w", encoding="utf-8") as fh:
        fh.write("time,phase,pending,in_flight,completed,dead\n")
        for t, phase, *rest in samples:
            fh.write(f"{t - t_enq:.4f},{phase}," + ",".join(map(str, rest)) + "\n")
    with open(js, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2, default=str)
        fh.write("\n")

    fig = Figure(figsize=(9, 6.5))
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for phase, style in (("before", "-"), ("after", "-")):
        pts = [s for s in samples if s[1] == phase]
        if not pts:
            continue
        t = [s[0] - t_enq for s in pts]
        for i, (name, color) in enumerate(
            (
                ("pending", "tab:orange"),
                ("in flight", "tab:blue"),
                ("completed", "tab:green"),
                ("dead", "tab:red"),
            )
        ):
            ax.plot(
                t,
                [s[2 + i] for s in pts],
                style,
                color=color,
                label=name if phase == "before" else None,
            )
    kill, ready = t_kill - t_enq, t_ready - t_enq
    rec_ms = summary["recovery_seconds"] * 1000
    for a in (ax, ax2):
        a.axvline(kill, color="black", linestyle="--", linewidth=1)
        a.axvspan(kill, ready, color="grey", alpha=0.2)
    ax.annotate(
        f"kill -9\nrecovery (measured): {rec_ms:.1f} ms\ndown {ready - kill:.2f} s "
        "(process restart)",
        xy=(kill, ax.get_ylim()[1] * 0.55),
        xytext=(8, 0),
        textcoords="offset points",
        fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85},
    )
    ax.set(ylabel="jobs", title=f"simqueue demo: {summary['jobs']} jobs, kill -9, restart")
    ax.legend(loc="center right")

    # finished jobs per second over a 0.25 s window (per phase, never across the crash)
    for phase in ("before", "after"):
        pts = [s for s in samples if s[1] == phase]
        xs, ys = [], []
        j = 0
        for b in pts:
            while j + 1 < len(pts) and b[0] - pts[j + 1][0] >= 0.25:
                j += 1
            a = pts[j]
            dt = b[0] - a[0]
            if dt >= 0.2:
                xs.append(b[0] - t_enq)
                ys.append(max(0.0, ((b[4] + b[5]) - (a[4] + a[5])) / dt))
        ax2.plot(xs, ys, color="tab:green", label="finished jobs/s" if phase == "before" else None)
    ax2.axhline(200, color="tab:red", linestyle=":", label="target 200 jobs/s")
    ax2.set(xlabel="seconds since the jobs were enqueued", ylabel="jobs/s")
    ax2.set_ylim(bottom=0)
    ax2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return [png, csv, js]


__all__ = ["run_demo", "generate_jobs", "DemoError", "DEFAULT_JOBS"]
