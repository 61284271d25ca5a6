"""``simqueue run``: the durable job server on the wall clock, until SIGINT or SIGTERM.

The command reads the settings, builds a :class:`~simqueue.service.server.Server`, starts it
(opening the data directory is recovery) and reports, on stdout, where it listens, what recovery
found and, once stopped, the final counts. While it serves, a status line on stderr every few
seconds (``--status-every``) says how many jobs are pending, in flight and done, and the rate they
finish at; ``--quiet`` turns it off. Start-up failures become one-line errors with the exit code
that names them (a locked directory is 5, an unusable address is 1).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from simqueue import __version__
from simqueue.cli.client import read_token
from simqueue.cli.errors import CliError, ExitCode
from simqueue.cli.help import Subparsers, add_command
from simqueue.cli.options import (
    QUEUE_KEYS,
    add_print_config,
    add_queue_flags,
    load_command_settings,
    print_config,
)

if TYPE_CHECKING:
    from simqueue.cli.settings import ServerSettings, Settings
    from simqueue.service.server import Server
    from simqueue.service.work import Handler
    from simqueue.sim.config import Config

#: Seconds between two status lines while the server runs.
STATUS_EVERY = 5.0

#: The settings keys ``run`` has flags for.
RUN_KEYS = [
    *QUEUE_KEYS,
    "data_dir",
    "host",
    "port",
    "handler",
    "max_body_bytes",
    "grace",
    "token_file",
]


def add_parser(subparsers: Subparsers) -> None:
    """``simqueue run`` and its flags."""
    p = add_command(
        subparsers,
        "run",
        help="run the durable job server (HTTP API on 127.0.0.1)",
        description="Run the queue on the wall clock with N worker threads and an HTTP API: "
        "POST /jobs, GET /status, GET /jobs/<id>, GET /metrics. SIGINT/SIGTERM stop gracefully "
        "(in-flight work finishes, final snapshot); a second signal cuts the grace period short.",
    )
    p.add_argument("--data-dir", dest="data_dir", help="data directory (created if missing)")
    p.add_argument("--config", help="YAML config file (default: $SIMQUEUE_CONFIG, if set)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind; 0 picks a free one (default 8080)")
    p.add_argument("--handler", help="module:function called with each Job; raising means failure")
    p.add_argument("--max-body-bytes", dest="max_body_bytes", type=int, help="request size limit")
    p.add_argument("--grace", help="seconds running work may take to finish on stop (10s)")
    p.add_argument(
        "--token-file",
        dest="token_file",
        help="POST /jobs needs the token in this file (not readable by every user)",
    )
    add_queue_flags(p)
    p.add_argument("--access-log", action="store_true", help="log every HTTP request to stderr")
    p.add_argument(
        "--any-cpu",
        dest="any_cpu",
        action="store_true",
        help="let the server's threads run on any CPU (default: all on one, which halves the "
        "CPU a request costs; a handler always runs on any)",
    )
    p.add_argument("--quiet", action="store_true", help="no status line on stderr while serving")
    p.add_argument(
        "--status-every",
        dest="status_every",
        type=float,
        default=STATUS_EVERY,
        metavar="SECONDS",
        help=f"seconds between status lines ({STATUS_EVERY:g})",
    )
    add_print_config(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """Serve until a signal; the exit code is the server's (0, or 1 after a storage error)."""
    settings = load_command_settings(args, RUN_KEYS)
    if args.print_config:
        print_config(settings)
        return ExitCode.OK
    if not args.status_every > 0:
        raise CliError(f"--status-every must be above 0; got {args.status_every}", ExitCode.USAGE)
    server = _build_server(settings, access_log=args.access_log, one_cpu=not args.any_cpu)
    _start(server, settings)
    _report_started(server, settings.config)
    with _status_lines(server, None if args.quiet else args.status_every):
        code = server.serve_forever()
    _report_stopped(server)
    return code


def status_line(before: dict[str, int], now: dict[str, int], seconds: float) -> str:
    """One status line from the queue's counts ``seconds`` apart: pending, in flight, done
    (completed and dead) and how fast jobs were done in between."""
    done = now.get("completed", 0) + now.get("dead", 0)
    was = before.get("completed", 0) + before.get("dead", 0)
    rate = (done - was) / seconds if seconds > 0 else 0.0
    return (
        f"simqueue: {now.get('pending', 0)} pending, {now.get('in_flight', 0)} in flight, "
        f"{done} done ({now.get('completed', 0)} completed, {now.get('dead', 0)} dead), "
        f"{rate:.1f} jobs/s"
    )


@contextlib.contextmanager
def _status_lines(server: Server, every: float | None) -> Iterator[None]:
    """A thread printing :func:`status_line` on stderr every ``every`` seconds while inside
    (none when ``every`` is None)."""
    if every is None:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_print_status, args=(server, every, stop), name="status-line", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(every + 1.0)


def _print_status(server: Server, every: float, stop: threading.Event) -> None:
    from simqueue.core.errors import SimQueueError
    from simqueue.service.http_api import ApiError

    before: dict[str, Any] | None = None
    t0 = time.monotonic()
    while before is None or not stop.wait(every):
        try:
            counts = server.status()["counts"]
        except (SimQueueError, ApiError, RuntimeError):
            return  # the queue is closing: the final counts follow on stdout
        t1 = time.monotonic()
        if before is not None:
            print(status_line(before, counts, t1 - t0), file=sys.stderr, flush=True)
        before, t0 = counts, t1


def _build_server(settings: Settings, *, access_log: bool, one_cpu: bool = True) -> Server:
    from simqueue.service.network import non_loopback_warning
    from simqueue.service.server import Server

    cfg, srv = settings.config, settings.server
    if not cfg.data_dir:
        raise CliError(
            "no data directory: pass --data-dir DIR (or data_dir in the config file, or "
            "SIMQUEUE_DATA_DIR)",
            ExitCode.USAGE,
        )
    handler = _load_handler(srv)
    token = read_token(srv.token_file)  # read now: a bad file fails before recovery
    warning = non_loopback_warning(srv.host)
    if warning:
        print(f"simqueue: {warning}", file=sys.stderr, flush=True)
    return Server(
        cfg.data_dir,
        cfg,
        host=srv.host,
        port=srv.port,
        handler=handler,
        max_body_bytes=srv.max_body_bytes,
        grace=srv.grace,
        access_log=access_log,
        token=token,
        one_cpu=one_cpu,
    )


def _load_handler(srv: ServerSettings) -> Handler | None:
    """The ``--handler module:function``, imported now so a typo fails before recovery."""
    from simqueue.service.work import load_handler

    if not srv.handler:
        return None
    try:
        return load_handler(srv.handler)
    except ValueError as exc:
        raise CliError(f"--handler: {exc}", ExitCode.USAGE) from None


def _start(server: Server, settings: Settings) -> None:
    """Recover the data directory and listen, or a :class:`CliError` saying which failed."""
    from simqueue.core.errors import DataDirLockedError, SimQueueError

    cfg, srv = settings.config, settings.server
    try:
        server.start()
    except DataDirLockedError as exc:
        raise CliError(str(exc), ExitCode.LOCKED) from None
    except SimQueueError as exc:
        raise CliError(f"cannot open {cfg.data_dir}: {exc}", ExitCode.FAILURE) from None
    except OSError as exc:
        raise CliError(
            f"cannot listen on {srv.host}:{srv.port}: {exc.strerror or exc}", ExitCode.FAILURE
        ) from None


def _report_started(server: Server, cfg: Config) -> None:
    batch = f" every {cfg.flush_interval * 1000:g} ms" if cfg.fsync == "batch" else ""
    print(
        f"simqueue {__version__}: listening on {server.url} "
        f"(data dir {cfg.data_dir}, {cfg.workers} workers, fsync={cfg.fsync}{batch})",
        flush=True,
    )
    rec = server.q.recovery  # None: the directory was fresh (an empty queue may be recovered)
    found = rec.describe() if rec else "fresh data directory (nothing to recover)"
    print(f"simqueue: {found}", flush=True)


def _report_stopped(server: Server) -> None:
    c = server.final.get("counts") or {}
    snapshot = " (final snapshot written)" if server.fatal is None else ""
    print(
        f"simqueue: stopped; {c.get('completed', 0)} completed, {c.get('dead', 0)} dead, "
        f"{c.get('pending', 0)} pending, {c.get('in_flight', 0)} in flight{snapshot}",
        flush=True,
    )


__all__ = ["RUN_KEYS", "STATUS_EVERY", "add_parser", "cmd_run", "status_line"]
