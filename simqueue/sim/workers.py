"""The workers' side of the simulated world: how long an attempt takes and how it ends.

Each job's first attempt is drawn when the job arrives, in arrival order, from two dedicated
streams (``service`` and ``failure``), so changing the number of workers (which reorders
dispatches) does not change which jobs fail or how long they take; and changing the failure rate
does not change any service time. Later attempts draw from uniforms derived by hashing
``(seed, job id, attempt)`` (see :class:`KeyedDraws`), again independent of everything else. The
outcome belongs to the simulated world, not to the queue, so it survives a crash of the queue.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct

from simqueue.sim.config import Config

#: (service seconds, reports failure, hangs)
Outcome = tuple[float, bool, bool]

_FOUR_U64 = struct.Struct("<4Q")
_TO_UNIT = 2.0**-53
_blake2b = hashlib.blake2b


def _uniforms(digest: bytes) -> list[float]:
    """Four 53-bit uniforms from 32 bytes, last one first (``pop`` hands them out in order)."""
    a, b, c, d = _FOUR_U64.unpack(digest)
    return [(d >> 11) * _TO_UNIT, (c >> 11) * _TO_UNIT, (b >> 11) * _TO_UNIT, (a >> 11) * _TO_UNIT]


class KeyedDraws:
    """Uniform draws in [0, 1) that depend only on a key: BLAKE2b of the key gives four 53-bit
    uniforms, the next block hashes the key with a counter, and so on.

    A retry's outcome must not depend on when it runs, so it cannot come from a shared stream;
    seeding a fresh ``random.Random`` (a 624-word Mersenne Twister state) per attempt would give
    that too, at the cost of a tenth of a whole simulated job. Offers the two methods the
    distributions use (``random`` and ``expovariate``, the latter with ``random.Random``'s
    arithmetic)."""

    __slots__ = ("_key", "_block", "_values")

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._block = 0
        self._values = _uniforms(_blake2b(self._key, digest_size=32).digest())

    def random(self) -> float:
        if not self._values:  # past the first four: hash the key again with a block number
            self._block += 1
            salt = self._block.to_bytes(16, "little")
            self._values = _uniforms(_blake2b(self._key, digest_size=32, salt=salt).digest())
        return self._values.pop()

    def expovariate(self, lambd: float = 1.0) -> float:
        return -math.log(1.0 - self.random()) / lambd


class WorkModel:
    """Draws attempt outcomes reproducibly from one seed."""

    def __init__(self, config: Config) -> None:
        self.seed = config.seed
        self.service = config.service_time
        self.failure_rate = config.failure_rate
        self.hang_rate = config.hang_rate
        self.service_rng = random.Random(f"{config.seed}:service")
        self.failure_rng = random.Random(f"{config.seed}:failure")
        self.first_outcomes: dict[str, Outcome] = {}
        self._sample_service = self.service.sampler(self.service_rng)

    def reseed(self, seed: int) -> None:
        """Draw every outcome still to come from ``seed``'s streams."""
        self.seed = seed
        self.service_rng.seed(f"{seed}:service")
        self.failure_rng.seed(f"{seed}:failure")

    def draw_first(self, job_id: str) -> None:
        """Fix the first attempt's outcome when the job arrives."""
        fr = self.failure_rng.random
        self.first_outcomes[job_id] = (
            self._sample_service(),
            fr() < self.failure_rate,
            fr() < self.hang_rate,
        )

    def outcome(self, job_id: str, attempt: int) -> Outcome:
        """How ``attempt`` of ``job_id`` goes: service time, failure, hang."""
        if attempt == 1:
            first = self.first_outcomes.pop(job_id, None)
            if first is not None:
                return first
        draws = KeyedDraws(f"{self.seed}:attempt:{job_id}:{attempt}")
        return (
            self.service.sample(draws),  # type: ignore[arg-type]  # duck-typed like Random
            draws.random() < self.failure_rate,
            draws.random() < self.hang_rate,
        )
