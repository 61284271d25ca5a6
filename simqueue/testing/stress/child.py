"""The child processes of the stress, ``python -m simqueue.testing.stress.child KIND ...``:

* ``post``: client threads, each POSTing one job per request to the server published in the
  data directory's ``server.json``. Each outcome is one line of the ``--out`` file, written when
  it is known (``A id``: answered 2xx, acknowledged; ``R id status``: refused; ``U id``: cut off,
  uncertain), one ``os.write`` on an ``O_APPEND`` descriptor each. An id is sent once, never
  again; after a cut-off request the thread waits for a server that answers.
  Each thread keeps one connection alive across its requests and opens a new one after a cut.
* ``threads``: :func:`~simqueue.testing.stress.threads.run_threads` on one queue opened with
  ``--fsync`` (``always`` or ``batch``), acknowledgements to ``--out``; the parent kills it with
  SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

from simqueue.service.client import Client, ClientError

SERVER_JSON = "server.json"


def _url(data_dir: str) -> str | None:
    try:
        with open(os.path.join(data_dir, SERVER_JSON), encoding="utf-8") as fh:
            return str(json.load(fh)["url"])
    except (OSError, ValueError, KeyError):
        return None


def _wait_for_server(data_dir: str, give_up: float) -> Client:
    """A client of a server that answers ``GET /status``."""
    while time.monotonic() < give_up:
        url = _url(data_dir)
        if url is not None:
            client = Client(url, timeout=30)
            try:
                if client.request("GET", "/status")[0] == 200:
                    return client
            except ClientError:
                pass
            client.close()
        time.sleep(0.01)
    raise TimeoutError("no server answered before the time limit")


def _post_loop(args: argparse.Namespace, t: int, fd: int, give_up: float) -> None:
    client = _wait_for_server(args.data_dir, give_up)
    for i in range(args.jobs):
        job_id = f"{args.prefix}t{t}-{i}"
        body = json.dumps([{"id": job_id, "payload": {"sleep_ms": i % 3}}]).encode()
        try:
            status = client.request("POST", "/jobs", body)[0]
        except ClientError:
            os.write(fd, f"U {job_id}\n".encode())
            client.close()
            client = _wait_for_server(args.data_dir, give_up)
            continue
        line = f"A {job_id}" if 200 <= status < 300 else f"R {job_id} {status}"
        os.write(fd, line.encode() + b"\n")
    client.close()


def post(args: argparse.Namespace) -> int:
    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    give_up = time.monotonic() + args.time_limit
    errors: list[str] = []

    def body(t: int) -> None:
        try:
            _post_loop(args, t, fd, give_up)
        except Exception as exc:  # noqa: BLE001 - reported on stderr, exit code 1
            errors.append(f"thread {t}: {exc!r}")

    threads = [threading.Thread(target=body, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


def threads(args: argparse.Namespace) -> int:
    from simqueue.core.queue import DurableQueue
    from simqueue.testing.stress.threads import run_threads

    q = DurableQueue.open(args.data_dir, fsync=args.fsync, max_retry=3)
    run = run_threads(
        q,
        producers=args.producers,
        consumers=args.consumers,
        jobs_per_producer=args.jobs,
        snapshots=args.snapshots,
        seed=args.seed,
        ack_path=args.out,
        prefix=args.prefix,
        time_limit=args.time_limit,
    )
    q.close()
    for e in run.errors:
        print(e, file=sys.stderr)
    return 1 if run.errors else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simqueue.testing.stress.child")
    p.add_argument("kind", choices=("post", "threads"))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True, help="the acknowledgement file")
    p.add_argument("--prefix", default="c0-")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--jobs", type=int, default=25, help="jobs per thread (per producer)")
    p.add_argument("--producers", type=int, default=8)
    p.add_argument("--consumers", type=int, default=4)
    p.add_argument("--snapshots", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fsync", choices=("always", "batch"), default="always")
    p.add_argument("--time-limit", type=float, default=300.0)
    args = p.parse_args(argv)
    return post(args) if args.kind == "post" else threads(args)


if __name__ == "__main__":
    sys.exit(main())
