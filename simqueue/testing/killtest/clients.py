"""The load: client threads that POST job batches to whichever server is published, and remember
exactly which ids were acknowledged (2xx), refused (other answers) or cut off (uncertain). Each
thread keeps its connection alive across requests (:class:`~simqueue.service.client.Client`) and
opens a new one when a server is killed or replaced."""

from __future__ import annotations

import json
import random
import threading
import time

from simqueue.service.client import Client, ClientError


class Clients:
    """A job counts as *acknowledged* only once its ``POST /jobs`` answered 2xx. A request cut
    off by a kill is *uncertain*: its ids are never reused; they may or may not be in the
    queue."""

    def __init__(
        self, n: int, seed: int, batch: tuple[int, int], pause: tuple[float, float]
    ) -> None:
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
        """Send to ``url`` from now on (``None``: hold every new request)."""
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

    def _next_url(self) -> str | None:
        """Wait briefly for a published server; ``None`` to look again. Counts the request."""
        with self.cond:
            self.cond.wait_for(lambda: self.url is not None or self.stopping, 0.2)
            if self.stopping or self.url is None:
                return None
            self.busy += 1
            return self.url

    def _loop(self, c: int, seed: int) -> None:
        rng = random.Random(f"{seed}:client-{c}")
        n = 0
        client: Client | None = None
        while not self.stopping:
            url = self._next_url()
            if url is None:
                continue
            if client is None or client.url != url:
                if client is not None:
                    client.close()
                client = Client(url, timeout=15)
            size = rng.randint(*self.batch)
            ids = [f"c{c}-{n + i}" for i in range(size)]
            n += size
            body = [
                {"id": i, "payload": {"sleep_ms": rng.choice((0, 0, 1, 2, 5, 20))}} for i in ids
            ]
            outcome, detail = _post(client, json.dumps(body).encode())
            self._ended(ids, outcome, detail)
            time.sleep(rng.uniform(*self.pause))
        if client is not None:
            client.close()

    def _ended(self, ids: list[str], outcome: str, detail: str) -> None:
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


def _post(client: Client, body: bytes) -> tuple[str, str]:
    """POST one batch: ("acked", ""), ("refused", what the server said) or ("uncertain", why)."""
    try:
        status, answer = client.request("POST", "/jobs", body)
    except ClientError as exc:
        return "uncertain", str(exc)
    if 200 <= status < 300:
        return "acked", ""
    return "refused", f"HTTP {status}: {str(answer)[:200]!r}"
