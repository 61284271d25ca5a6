"""``python -m simqueue.testing.stress`` (``make crashtest``): the concurrency stress at scale.

Three parts, each checked against the independent decoder of the files: ``--thread-runs`` runs of
``--producers`` + ``--consumers`` threads on one queue in this process (fsync policies in turn);
``--thread-kills`` lifetimes of that workload in a child process, each ended by SIGKILL; and
``--processes`` x ``--client-threads`` HTTP clients (one job per POST, ``--jobs-per-thread``
each) against a ``simqueue run`` child SIGKILLed ``--kills`` times. Exit code 0 when nothing was
lost, duplicated or misread, 1 otherwise; ``--json`` writes the figures."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Any

from simqueue.core.queue import DurableQueue
from simqueue.testing.stress.decode import decode_dir
from simqueue.testing.stress.server import ServerStress, run_thread_kills
from simqueue.testing.stress.threads import check_acks, run_threads

log = logging.getLogger("simqueue.testing.stress")

#: The (fsync, durability) of the in-process thread runs, in turn.
POLICIES = (("batch", "real"), ("always", "real"), ("batch", "modeled"), ("never", "modeled"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simqueue.testing.stress", description=__doc__)
    p.add_argument("--work-dir", default=None, help="kept when given; else a temporary one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--producers", type=int, default=8)
    p.add_argument("--consumers", type=int, default=4)
    p.add_argument("--thread-jobs", type=int, default=500, help="jobs per producer")
    p.add_argument("--thread-runs", type=int, default=4)
    p.add_argument("--thread-kills", type=int, default=3)
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--client-threads", type=int, default=4)
    p.add_argument("--jobs-per-thread", type=int, default=50)
    p.add_argument("--kills", type=int, default=2)
    p.add_argument("--time-limit", type=float, default=900.0, help="seconds, per part")
    p.add_argument("--json", default=None, help="write the figures to this file")
    return p


def thread_runs(root: str, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"runs": 0, "acknowledged": 0, "completed": 0, "violations": []}
    for k in range(args.thread_runs):
        fsync, durability = POLICIES[k % len(POLICIES)]
        data_dir = os.path.join(root, f"threads-{k}")
        q = DurableQueue.open(data_dir, fsync=fsync, durability=durability, max_retry=3)
        run = run_threads(
            q,
            producers=args.producers,
            consumers=args.consumers,
            jobs_per_producer=args.thread_jobs,
            seed=args.seed + k,
            time_limit=args.time_limit,
        )
        q.close()
        bad = run.errors + check_acks(decode_dir(data_dir), run)
        figures["violations"] += [f"thread run {k} ({fsync}): {b}" for b in bad]
        figures["runs"] += 1
        figures["acknowledged"] += len(run.enqueued)
        figures["completed"] += len(run.completed)
        log.info(
            "thread run %d (%s, %s): %d enqueued, %d completed, %d failed attempts, %d "
            "snapshots: %s",
            k,
            fsync,
            durability,
            len(run.enqueued),
            len(run.completed),
            run.failed,
            run.snapshots,
            "ok" if not bad else f"{len(bad)} VIOLATION(S)",
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.work_dir or tempfile.mkdtemp(prefix="simqueue-stress-")
    os.makedirs(root, exist_ok=True)
    t0 = time.monotonic()
    out: dict[str, Any] = {"seed": args.seed}
    try:
        out["threads"] = thread_runs(root, args)
        if args.thread_kills:
            r = run_thread_kills(
                os.path.join(root, "thread-kills"),
                runs=args.thread_kills,
                producers=args.producers,
                consumers=args.consumers,
                jobs=args.thread_jobs,
                seed=args.seed,
                time_limit=args.time_limit,
            )
            out["thread_kills"] = vars(r)
            log.info(
                "thread kills: %d kills, %d acknowledged enqueues, %d violations",
                r.kills,
                r.acknowledged,
                len(r.violations),
            )
        s = ServerStress(
            os.path.join(root, "server"),
            processes=args.processes,
            threads=args.client_threads,
            jobs=args.jobs_per_thread,
            kills=args.kills,
            seed=args.seed,
            time_limit=args.time_limit,
        ).execute()
        out["server"] = vars(s)
        log.info(
            "server: %d kills, %d acknowledged, %d uncertain, %d refused, %d violations",
            s.kills,
            s.acknowledged,
            s.uncertain,
            len(s.refused),
            len(s.violations),
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    out["seconds"] = round(time.monotonic() - t0, 1)
    violations = out["threads"]["violations"] + out.get("thread_kills", {}).get("violations", [])
    violations += out["server"]["violations"] + out["server"]["refused"]
    out["ok"] = not violations
    print(_summary(out, violations))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
    return 0 if out["ok"] else 1


def _summary(out: dict[str, Any], violations: list[str]) -> str:
    th, sv = out["threads"], out["server"]
    lines = [
        f"concurrency stress, seed {out['seed']}, {out['seconds']} s",
        f"  threads on one queue: {th['runs']} runs, {th['acknowledged']} acknowledged "
        f"enqueues, {th['completed']} completions",
    ]
    if "thread_kills" in out:
        tk = out["thread_kills"]
        lines.append(
            f"  threads killed: {tk['kills']} SIGKILLs, {tk['acknowledged']} acknowledged enqueues"
        )
    lines.append(
        f"  server: {sv['kills']} SIGKILLs, {sv['acknowledged']} acknowledged POSTs, "
        f"{sv['uncertain']} cut off, {len(sv['refused'])} refused"
    )
    lines.append(f"  violations: {len(violations)}")
    lines += [f"    {v}" for v in violations[:20]]
    return "\n".join(lines)
