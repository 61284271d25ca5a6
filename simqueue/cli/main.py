"""The ``simqueue`` command: run a durable job server, talk to it, replay the original demo for
real, run headless simulations, and inspect a write-ahead log.

Every command has ``--help``. Exit codes are named in :class:`ExitCode`; errors are one line on
stderr, never a traceback. ``main(argv)`` returns the exit code (the console script and
``python -m simqueue`` pass it to :func:`sys.exit`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from enum import IntEnum
from typing import Any

from simqueue import __version__
from simqueue.cli.status import format_status
from simqueue.service.client import ClientError, ServerUnavailableError, http_json

DEFAULT_URL = "http://127.0.0.1:8080"


class ExitCode(IntEnum):
    """What ``simqueue`` returns. ``wal verify`` uses 0/1/2 for clean/torn/corrupt."""

    OK = 0
    FAILURE = 1  # the command ran and something failed (a storage error, a demo check)
    USAGE = 2  # bad flags, config file or environment variable
    BAD_INPUT = 3  # a job file, request or directory the queue cannot use (or refused)
    UNAVAILABLE = 4  # no simqueue server answering at the URL
    LOCKED = 5  # the data directory is in use by another server
    INTERRUPTED = 130  # Ctrl+C in a client command

    # ``simqueue wal verify``
    WAL_CLEAN = 0
    WAL_TORN = 1
    WAL_CORRUPT = 2


class CliError(Exception):
    """A one-line error and the exit code to leave with."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------------------------- settings
#: Flags shared by ``run`` and ``simulate`` that map onto settings keys, with argparse types.
#: Durations and distributions stay strings; :mod:`simqueue.cli.settings` reads and checks them.
QUEUE_FLAGS: list[tuple[str, Any, str]] = [
    ("workers", int, "worker threads (simulated workers for simulate)"),
    ("failure_rate", float, "probability an attempt fails (simulated work)"),
    ("service_time", str, "simulated work time, e.g. 'uniform(0, 0.5)', 'constant(0.01)'"),
    ("task_timeout", str, "default per-attempt timeout, e.g. 3s or 500ms"),
    ("max_retry", int, "retries after the first attempt before a job is DEAD"),
    ("backoff", str, "retry backoff base (doubles per attempt), e.g. 100ms"),
    ("snapshot_interval", str, "seconds between snapshots, e.g. 10s"),
    ("fsync", str, "WAL fsync policy: always, batch (group commit) or never"),
    ("flush_interval", str, "group-commit interval for fsync=batch, e.g. 10ms"),
    ("batch_size", int, "group-commit size for fsync=batch (records)"),
    ("seed", int, "seed of every random stream"),
]


def _add_queue_flags(p: argparse.ArgumentParser, names: list[str] | None = None) -> None:
    for key, typ, text in QUEUE_FLAGS:
        if names is None or key in names:
            p.add_argument("--" + key.replace("_", "-"), dest=key, type=typ, help=text)


def _flags(args: argparse.Namespace, keys: list[str]) -> dict[str, Any]:
    return {k: getattr(args, k, None) for k in keys}


def _load_settings(args: argparse.Namespace, keys: list[str], base: dict | None = None):
    from simqueue.cli.settings import SettingsError, load_settings

    try:
        return load_settings(
            getattr(args, "config", None),
            flags=_flags(args, keys),
            base=base,
            warn=lambda w: print(f"simqueue: {w}", file=sys.stderr),
        )
    except SettingsError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def _print_config(settings: Any) -> None:
    import yaml

    print(yaml.safe_dump(settings.as_dict(), sort_keys=False).rstrip())


# ---------------------------------------------------------------------------------- HTTP client
def resolve_url(args: argparse.Namespace) -> str:
    """``--url``, else ``$SIMQUEUE_URL``, else the ``server.json`` of ``--data-dir``, else the
    default port on 127.0.0.1."""
    from simqueue.service.server import SERVER_FILE

    if getattr(args, "url", None):
        return args.url.rstrip("/")
    if os.environ.get("SIMQUEUE_URL"):
        return os.environ["SIMQUEUE_URL"].rstrip("/")
    data_dir = getattr(args, "data_dir", None)
    if data_dir:
        path = os.path.join(data_dir, SERVER_FILE)
        try:
            with open(path, encoding="utf-8") as fh:
                return str(json.load(fh)["url"]).rstrip("/")
        except FileNotFoundError:
            raise CliError(
                f"no simqueue server is running on {data_dir} (no {SERVER_FILE} there); "
                f"start one with: simqueue run --data-dir {data_dir}",
                ExitCode.UNAVAILABLE,
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(
                f"{path}: cannot read the server address: {exc}", ExitCode.FAILURE
            ) from None
    return DEFAULT_URL


# ---------------------------------------------------------------------------------- commands
RUN_KEYS = [k for k, _, _ in QUEUE_FLAGS] + [
    "data_dir",
    "host",
    "port",
    "handler",
    "max_body_bytes",
    "grace",
]


def cmd_run(args: argparse.Namespace) -> int:
    from simqueue.core.errors import DataDirLockedError, SimQueueError
    from simqueue.service.server import Server, load_handler, non_loopback_warning

    settings = _load_settings(args, RUN_KEYS)
    if args.print_config:
        _print_config(settings)
        return ExitCode.OK
    cfg, srv_cfg = settings.config, settings.server
    if not cfg.data_dir:
        raise CliError(
            "no data directory: pass --data-dir DIR (or data_dir in the config file, or "
            "SIMQUEUE_DATA_DIR)",
            ExitCode.USAGE,
        )
    handler = None
    if srv_cfg.handler:
        try:
            handler = load_handler(srv_cfg.handler)
        except ValueError as exc:
            raise CliError(f"--handler: {exc}", ExitCode.USAGE) from None
    warning = non_loopback_warning(srv_cfg.host)
    if warning:
        print(f"simqueue: {warning}", file=sys.stderr, flush=True)
    server = Server(
        cfg.data_dir,
        cfg,
        host=srv_cfg.host,
        port=srv_cfg.port,
        handler=handler,
        max_body_bytes=srv_cfg.max_body_bytes,
        grace=srv_cfg.grace,
        access_log=args.access_log,
    )
    try:
        server.start()
    except DataDirLockedError as exc:
        raise CliError(str(exc), ExitCode.LOCKED) from None
    except SimQueueError as exc:
        raise CliError(f"cannot open {cfg.data_dir}: {exc}", ExitCode.FAILURE) from None
    except OSError as exc:
        raise CliError(
            f"cannot listen on {srv_cfg.host}:{srv_cfg.port}: {exc.strerror or exc}",
            ExitCode.FAILURE,
        ) from None
    rec = server.q.recovery if server.q else None
    print(
        f"simqueue {__version__}: listening on {server.url} "
        f"(data dir {cfg.data_dir}, {cfg.workers} workers, fsync={cfg.fsync}"
        + (f" every {cfg.flush_interval * 1000:g} ms" if cfg.fsync == "batch" else "")
        + ")",
        flush=True,
    )
    print(
        "simqueue: " + (rec.describe() if rec else "fresh data directory (nothing to recover)"),
        flush=True,
    )
    code = server.serve_forever()
    c = server.final.get("counts") or {}
    print(
        f"simqueue: stopped; {c.get('completed', 0)} completed, {c.get('dead', 0)} dead, "
        f"{c.get('pending', 0)} pending, {c.get('in_flight', 0)} in flight"
        + (" (final snapshot written)" if server.fatal is None else ""),
        flush=True,
    )
    return code


def cmd_enqueue(args: argparse.Namespace) -> int:
    from simqueue.service.server import JobFileError, parse_jobs_text

    source = args.file
    try:
        if source == "-":
            raw = sys.stdin.buffer.read()
            source = "<stdin>"
        else:
            with open(source, "rb") as fh:
                raw = fh.read()
    except OSError as exc:
        raise CliError(f"{source}: cannot read job file: {exc.strerror or exc}", 3) from None
    try:
        parse_jobs_text(raw, source)  # check locally first: exact message, nothing sent
    except JobFileError as exc:
        raise CliError(str(exc), ExitCode.BAD_INPUT) from None
    url = resolve_url(args)
    t0 = time.perf_counter()
    status, answer = http_json(url, "POST", "/jobs", raw, timeout=args.timeout)
    elapsed = time.perf_counter() - t0
    if status != 200:
        msg = answer.get("error") if isinstance(answer, dict) else None
        msg = (msg or f"HTTP {status}").replace("request body", source)
        code = ExitCode.BAD_INPUT if 400 <= status < 500 else ExitCode.FAILURE
        raise CliError(f"{url} refused {source}: {msg}", code)
    print(
        f"enqueued {answer['accepted']} job(s) from {source} in {elapsed:.3f} s "
        f"(durable; their last WAL record is seq {answer['last_seq']})"
    )
    return ExitCode.OK


def cmd_status(args: argparse.Namespace) -> int:
    url = resolve_url(args)
    status, answer = http_json(url, "GET", "/status", timeout=args.timeout)
    if status != 200 or not isinstance(answer, dict):
        raise CliError(f"{url}/status answered HTTP {status}", ExitCode.FAILURE)
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        print(format_status(answer))
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace) -> int:
    from simqueue.cli.demo import DemoError, run_demo

    try:
        ok = run_demo(
            jobs_file=args.jobs,
            count=args.count,
            workers=args.workers,
            out_dir=args.out,
            data_dir=args.data_dir,
            keep=args.keep,
            kill_at=args.kill_at,
            failure_rate=args.failure_rate,
            timeout=args.timeout,
        )
    except DemoError as exc:
        raise CliError(f"demo: {exc}", exc.code) from None
    return ExitCode.OK if ok else ExitCode.FAILURE


SIM_KEYS = [k for k, _, _ in QUEUE_FLAGS] + ["duration", "jobs", "crash_at", "arrival"]


def cmd_simulate(args: argparse.Namespace) -> int:
    settings = _load_settings(args, SIM_KEYS)
    if args.print_config:
        _print_config(settings)
        return ExitCode.OK
    if not args.out:
        raise CliError("simulate needs --out DIR (where the CSV, JSON and PNG files go)", 2)
    from simqueue.core.errors import SimQueueError

    try:
        return _simulate(settings, args.out)
    except SimQueueError as exc:
        raise CliError(f"simulate: {exc}", ExitCode.FAILURE) from None


def _simulate(settings: Any, out: str) -> int:
    from simqueue.core.errors import SimQueueError
    from simqueue.sim.simulation import Simulation

    cfg, sc = settings.config, settings.scenario
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with Simulation(cfg) as sim:
        if sc.jobs:
            sim.enqueue(sc.jobs)
        if sc.crash_at is not None and sc.crash_at < sc.duration:
            sim.run_until(sc.crash_at)
            info = sim.crash(sc.crash_kind, sc.crash_tear)
            report = sim.recover()
            print(
                f"t={info.get('time', sc.crash_at):.3f}s {sc.crash_kind} crash; {report.describe()}"
            )
        if cfg.arrival is not None:
            sim.run_until(sc.duration)
        else:
            sim.run_until_idle(max_time=sc.duration)
        violations = "ok"
        try:
            sim.check_invariants()
        except SimQueueError as exc:
            violations = str(exc)
        summary = sim.summary()
        files = _write_sim_outputs(sim, settings, summary, out, violations)
    wall = time.perf_counter() - t0
    print(
        f"simulated {summary.elapsed:.2f} s in {wall:.2f} s (seed {cfg.seed}): "
        f"{summary.completed} completed, {summary.dead} dead, {summary.pending} pending, "
        f"{summary.in_flight} in flight"
    )
    print(
        f"throughput {summary.throughput:.1f} jobs/s (target >= 200), latency p50 "
        f"{_ms(summary.latency_p50)}, p99 {_ms(summary.latency_p99)}; {summary.fsyncs} fsyncs"
    )
    for r in summary.recoveries:
        print(f"recovery: {r.describe()}")
    print(f"invariants: {violations}")
    print(f"wrote {len(files)} files to {out}: {', '.join(os.path.basename(f) for f in files)}")
    return ExitCode.OK if violations == "ok" else ExitCode.FAILURE


def _ms(x: float) -> str:
    return "n/a" if x != x else f"{x * 1000:.1f} ms"


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def _write_sim_outputs(sim: Any, settings: Any, summary: Any, out: str, inv: str) -> list[str]:
    files = []
    from simqueue.lab.frames import jobs_frame, metrics_frame, trace_frame

    trace = trace_frame(sim)
    jobs = jobs_frame(sim)
    interval = max(sim.config.metrics_interval, round(max(summary.elapsed, 0.1) / 100, 3))
    metrics = metrics_frame(sim, interval)
    for name, df in (("trace.csv", trace), ("jobs.csv", jobs), ("metrics.csv", metrics)):
        path = os.path.join(out, name)
        df.to_csv(path, index=False)
        files.append(path)
    path = os.path.join(out, "summary.json")
    doc = {
        "summary": summary.as_dict(),
        "config": settings.config.to_dict(),
        "scenario": settings.as_dict()["scenario"],
        "invariants": inv,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_clean(doc), fh, indent=2, default=str)
        fh.write("\n")
    files.append(path)
    files += write_plots(sim, out, metrics, jobs, interval, len(trace))
    return files


def write_plots(
    sim: Any, out: str, metrics: Any, jobs: Any, interval: float, events: int
) -> list[str]:
    """The standard plots as PNG, drawn by :mod:`simqueue.lab.plots` (the notebooks' plots); if
    that layer is missing or fails, simple plots drawn here instead."""
    try:
        from simqueue.lab import plots  # the notebook layer
    except Exception as exc:
        msg = f"simqueue: simqueue.lab.plots unavailable ({exc!r}); drawing simple plots"
        print(msg, file=sys.stderr)
        return _simple_plots(metrics, jobs, out)
    wanted: list[tuple[str, Any]] = [
        ("throughput", lambda: plots.throughput(sim, interval=interval)),
        ("job_states", lambda: plots.job_states(sim)),
        ("wal_size", lambda: plots.wal_size(sim)),
    ]
    if sim.recoveries:
        wanted.append(("recovery_times", lambda: plots.recovery_times(sim)))
    if events <= 20_000:  # one bar per attempt: readable (and quick) only for small runs
        wanted.append(("worker_timeline", lambda: plots.worker_timeline(sim)))
    paths = []
    for name, draw in wanted:
        try:
            fig = draw()
            path = os.path.join(out, f"{name}.png")
            fig.savefig(path, dpi=100)
            paths.append(path)
        except Exception as exc:  # one plot failing must not cost the run's other outputs
            print(f"simqueue: plot {name} failed: {exc!r}", file=sys.stderr)
    return paths or _simple_plots(metrics, jobs, out)


def _simple_plots(metrics: Any, jobs: Any, out: str) -> list[str]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    paths = []

    def save(fig: Any, name: str) -> None:
        path = os.path.join(out, name)
        FigureCanvasAgg(fig)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        paths.append(path)

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    for col in ("pending", "in_flight", "completed", "dead"):
        ax.plot(metrics["time"], metrics[col].astype(float), label=col)
    ax.set(xlabel="simulated time (s)", ylabel="jobs", title="Queue state over time")
    ax.legend()
    save(fig, "queue.png")

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    ax.plot(metrics["time"], metrics["throughput"].astype(float), label="completions/s")
    ax.axhline(200, color="tab:red", linestyle="--", label="target 200 jobs/s")
    ax.set(xlabel="simulated time (s)", ylabel="jobs/s", title="Throughput")
    ax.legend()
    save(fig, "throughput.png")

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot()
    lat = jobs["latency"].dropna()
    if len(lat):
        ax.hist(lat, bins=50)
    ax.set(xlabel="enqueue to completion (s)", ylabel="jobs", title="Latency of completed jobs")
    save(fig, "latency.png")
    return paths


def _open_data_dir(path: str) -> None:
    if not os.path.isdir(path):
        raise CliError(f"{path}: no such directory", ExitCode.BAD_INPUT)
    if not os.path.isdir(os.path.join(path, "wal")):
        raise CliError(
            f"{path}: not a simqueue data directory (there is no wal/ inside)", ExitCode.BAD_INPUT
        )


def cmd_wal_dump(args: argparse.Namespace) -> int:
    from simqueue.core import wal
    from simqueue.core.errors import CorruptWALError

    _open_data_dir(args.dir)
    out = sys.stdout
    try:
        for rec in wal.iter_records(args.dir):
            f = rec.fields()
            if args.json:
                out.write(json.dumps(f) + "\n")
            else:
                rest = " ".join(
                    f"{k}={_fmt(v)}" for k, v in f.items() if k not in ("seq", "type", "job_id")
                )
                out.write(f"{f['seq']:>8} {f['type']:<8} {f['job_id']} {rest}\n")
    except CorruptWALError as exc:
        out.flush()
        raise CliError(str(exc), ExitCode.WAL_CORRUPT) from None
    report = wal.verify(args.dir)
    if report.status == "torn":
        out.flush()
        print(f"simqueue: note: {report.describe()}", file=sys.stderr)
    return ExitCode.OK


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6f}"
    if isinstance(v, str) and (" " in v or not v):
        return json.dumps(v)
    return str(v)


def cmd_wal_verify(args: argparse.Namespace) -> int:
    from simqueue.core import wal

    _open_data_dir(args.dir)
    report = wal.verify(args.dir)
    print(report.describe(), file=sys.stdout if report.status == "clean" else sys.stderr)
    return report.exit_code


# ---------------------------------------------------------------------------------- parser
EPILOG = """\
exit codes: 0 ok, 1 failure, 2 usage/config error, 3 bad input (job file, request, directory),
4 no server answering, 5 data directory in use; `wal verify`: 0 clean, 1 torn tail, 2 corrupt.
configuration: --config FILE (YAML, like configs/default.yaml), then SIMQUEUE_* environment
variables (e.g. SIMQUEUE_WORKERS=4), then flags; flags win. See docs/cli.md.
"""


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="simqueue",
        description="A durable job queue you can step through: run it as a server, kill it, "
        "watch it recover.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"simqueue {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    r = sub.add_parser(
        "run",
        help="run the durable job server (HTTP API on 127.0.0.1)",
        description="Run the queue on the wall clock with N worker threads and an HTTP API: "
        "POST /jobs, GET /status, GET /jobs/<id>, GET /metrics. SIGINT/SIGTERM stop gracefully "
        "(in-flight work finishes, final snapshot); a second signal cuts the grace period short.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    r.add_argument("--data-dir", dest="data_dir", help="data directory (created if missing)")
    r.add_argument("--config", help="YAML config file (default: $SIMQUEUE_CONFIG, if set)")
    r.add_argument("--host", help="address to bind (default 127.0.0.1)")
    r.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 8080)")
    r.add_argument("--handler", help="module:function called with each Job; raising means failure")
    r.add_argument("--max-body-bytes", dest="max_body_bytes", type=int, help="request size limit")
    r.add_argument("--grace", help="seconds running work may take to finish on stop (10s)")
    _add_queue_flags(r)
    r.add_argument("--access-log", action="store_true", help="log every HTTP request to stderr")
    r.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser(
        "enqueue",
        help="submit a job file to a running server",
        description='Submit jobs from a JSON file, [{"id", "payload", "timeout_ms"}, ...] (the '
        "original demo's format). The file is checked first; the server answers once every job "
        "is durable. All or nothing: a duplicate id rejects the whole file.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    e.add_argument("--file", "-f", required=True, help="job file ('-' reads stdin)")
    _add_client_flags(e)
    e.set_defaults(func=cmd_enqueue)

    s = sub.add_parser(
        "status",
        help="show a running server's counts, WAL position and last recovery",
        description="Show a running server's job counts, WAL sequence numbers, fsync count and "
        "the report of its last recovery.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    s.add_argument("--json", action="store_true", help="print the raw JSON of GET /status")
    _add_client_flags(s)
    s.set_defaults(func=cmd_status)

    d = sub.add_parser(
        "demo",
        help="the original demo, for real: kill -9 a running server and measure recovery",
        description="Start a server on a fresh data directory, enqueue jobs, kill -9 it while "
        "jobs are running, restart it, report the recovery time the server measured and the jobs "
        "completed, check that no acknowledged job was lost, and write a plot to exports/.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    d.add_argument("--jobs", help="job file (default: data/jobs_demo.json, else generated)")
    d.add_argument("--count", type=int, help="generate this many jobs instead of a file")
    d.add_argument("--workers", type=int, default=8, help="server worker threads (8)")
    d.add_argument("--failure-rate", dest="failure_rate", type=float, default=0.05)
    d.add_argument(
        "--kill-at",
        dest="kill_at",
        type=float,
        default=0.35,
        help="kill -9 once this fraction of the jobs has finished (0.35)",
    )
    d.add_argument("--out", default="exports", help="where the plot and summary go (exports/)")
    d.add_argument("--data-dir", dest="data_dir", help="use this (empty) directory, keep it")
    d.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    d.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser(
        "simulate",
        help="run a headless simulation; write CSV frames, summary JSON and plots",
        description="Run a scenario under the virtual clock (real WAL and snapshots, simulated "
        "time) and write trace.csv, jobs.csv, metrics.csv, summary.json and PNG plots to --out.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    m.add_argument("--config", help="YAML config/scenario file (e.g. data/scenarios/*.yaml)")
    m.add_argument("--duration", help="simulated seconds at most (60)")
    m.add_argument("--jobs", type=int, help="jobs enqueued at t=0 (1000)")
    m.add_argument("--crash-at", dest="crash_at", help="crash (and recover) at this time")
    m.add_argument(
        "--arrival",
        help="arrival process, e.g. 'poisson(200)' (with it, run for --duration; without, "
        "run the --jobs enqueued at t=0 until idle)",
    )
    _add_queue_flags(m)
    m.add_argument("--out", help="output directory (required)")
    m.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    m.set_defaults(func=cmd_simulate)

    w = sub.add_parser(
        "wal",
        help="inspect a write-ahead log (dump, verify)",
        description="Read a data directory's write-ahead log without changing it.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    wsub = w.add_subparsers(dest="wal_command", metavar="SUBCOMMAND", required=True)
    wd = wsub.add_parser(
        "dump",
        help="print every record, one per line",
        description="Print every valid record of DIR's WAL, one per line (oldest first). "
        "Exit 2 with the file and byte offset if the log is corrupt.",
    )
    wd.add_argument("dir", metavar="DIR", help="data directory")
    wd.add_argument("--json", action="store_true", help="one JSON object per line")
    wd.set_defaults(func=cmd_wal_dump)
    wv = wsub.add_parser(
        "verify",
        help="check every record: exit 0 clean, 1 torn tail, 2 corrupt",
        description="Check every segment and record of DIR's WAL. Exit 0: clean. Exit 1: a torn "
        "tail that recovery will cut (normal after a power loss). Exit 2: corruption, printed "
        "with file and byte offset.",
    )
    wv.add_argument("dir", metavar="DIR", help="data directory")
    wv.set_defaults(func=cmd_wal_verify)
    return p


def _add_client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"server URL (default: $SIMQUEUE_URL, else {DEFAULT_URL})")
    p.add_argument(
        "--data-dir", dest="data_dir", help="find the server's URL in DIR/server.json instead"
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for an answer")


def main(argv: list[str] | None = None) -> int:
    """Run the ``simqueue`` command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.USAGE
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"simqueue: error: {exc.message}", file=sys.stderr)
        return int(exc.code)
    except ServerUnavailableError as exc:
        print(f"simqueue: error: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except ClientError as exc:
        print(f"simqueue: error: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        print("simqueue: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # `simqueue wal dump DIR | head`: the reader left; that is not an error.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
