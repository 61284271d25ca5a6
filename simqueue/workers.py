"""The workers' side of the simulated world: how long an attempt takes and how it ends.

Each job's first attempt is drawn when the job arrives, in arrival order, from two dedicated
streams (``service`` and ``failure``), so changing the number of workers (which reorders
dispatches) does not change which jobs fail or how long they take; and changing the failure rate
does not change any service time. Later attempts draw from a stream derived from
``(seed, job id, attempt)``, again independent of everything else. The outcome belongs to the
simulated world, not to the queue, so it survives a crash of the queue.
"""

from __future__ import annotations

import random

from .config import Config

#: (service seconds, reports failure, hangs)
Outcome = tuple[float, bool, bool]


class WorkModel:
    """Draws attempt outcomes reproducibly from one seed."""

    def __init__(self, config: Config) -> None:
        self.seed = config.seed
        self.service = config.service_time
        self.failure_rate = config.failure_rate
        self.hang_rate = config.hang_rate
        self.service_rng = random.Random(f"{config.seed}:service")
        self.failure_rng = random.Random(f"{config.seed}:failure")
        self._first: dict[str, Outcome] = {}

    def draw_first(self, job_id: str) -> None:
        """Fix the first attempt's outcome when the job arrives."""
        fr = self.failure_rng.random
        self._first[job_id] = (
            self.service.sample(self.service_rng),
            fr() < self.failure_rate,
            fr() < self.hang_rate,
        )

    def outcome(self, job_id: str, attempt: int) -> Outcome:
        """How ``attempt`` of ``job_id`` goes: service time, failure, hang."""
        if attempt == 1:
            first = self._first.pop(job_id, None)
            if first is not None:
                return first
        rng = random.Random(f"{self.seed}:attempt:{job_id}:{attempt}")
        return (
            self.service.sample(rng),
            rng.random() < self.failure_rate,
            rng.random() < self.hang_rate,
        )
