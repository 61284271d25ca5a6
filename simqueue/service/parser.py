"""Large request bodies parsed on a thread of their own, so the HTTP loop serves every other
connection meanwhile: 16 MiB of jobs take seconds to parse, and the loop is the only thread
reading connections."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

#: Bytes: a request body at least this long (about 1,500 jobs, 5 ms of parsing) is parsed on
#: the parser thread, not in the loop.
PARSE_ELSEWHERE = 64 * 1024

T = TypeVar("T")  # what the caller attaches to a body (the loop: its connection and request)
R = TypeVar("R")  # what parsing gives


class Parser(Generic[T, R]):
    """One parser thread (started with the first large body); ``ready`` is called, from that
    thread, after each body is parsed, and :meth:`finished` yields what is done."""

    def __init__(self, ready: Callable[[], None]) -> None:
        self._ready = ready
        self._pool: ThreadPoolExecutor | None = None
        self._done: deque[tuple[T, Callable[[], R]]] = deque()
        self._lock = threading.Lock()

    def parse(self, tag: T, parse: Callable[[bytes, int], R], body: bytes, length: int) -> None:
        """``parse(body, length)`` on the parser thread; its outcome comes back with ``tag``."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="http-parse")
            future = self._pool.submit(parse, body, length)

        def done(f: Future[R]) -> None:
            self._done.append((tag, f.result))
            self._ready()

        future.add_done_callback(done)

    def finished(self) -> Iterator[tuple[T, Callable[[], R]]]:
        """Each parsed body's tag and its outcome (a call that returns it, or raises what the
        parse raised), oldest first."""
        while self._done:
            yield self._done.popleft()

    def close(self) -> None:
        """Wait for the bodies being parsed; no more are taken."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


__all__ = ["PARSE_ELSEWHERE", "Parser"]
