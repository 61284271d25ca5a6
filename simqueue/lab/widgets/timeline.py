"""What the user did in a step view, recorded so that any moment can be rebuilt.

A run is reproducible from its seed (docs/semantics.md), so a step view keeps no copies of past
states: it records the user's actions (step, run to a time, crash, recover, reseed), each with
the event position it started at and reached, and rewinding to event ``k`` is a fresh
simulation from the same config with those actions applied again up to ``k``. The position is
the number of trace events since the run began (every step, crash and recovery adds one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from simqueue.sim.config import Config
from simqueue.sim.kernel import EmptySchedule
from simqueue.sim.simulation import Simulation
from simqueue.sim.walview import WalView

__all__ = ["Action", "Replay", "Timeline", "reseed"]


@dataclass(frozen=True)
class Action:
    """One thing the user did: ``kind`` is step, run, crash, recover or reseed."""

    kind: str
    start: int  # the event position it began at
    end: int  # the position it reached
    time: float = 0.0  # run: the time run to
    crash_kind: str = ""
    tear: str = ""
    seed: int = 0


def reseed(sim: Simulation, seed: int) -> None:
    """Draw everything still to come from ``seed``'s streams: arrivals, first attempts,
    retries and crash tears. What has happened stays; a fork branches here."""
    sim.reseed(seed)


@dataclass
class Replay:
    """A simulation, the view of its log, and how many trace events it has seen."""

    sim: Simulation
    wal: WalView
    base: int  # trace events before position 0 (the jobs enqueued at the start)
    read: int = 0  # trace events handed out so far (one engine event may add several)

    def __post_init__(self) -> None:
        self.read = max(self.read, self.base)

    @property
    def position(self) -> int:
        return self.read - self.base

    def caught_up(self) -> None:
        """Every trace event so far has been seen (after a run, a crash or a recovery)."""
        self.read = len(self.sim.trace)

    def step(self) -> bool:
        """One event; ``False`` when nothing is left to happen."""
        try:
            self.sim.step()
        except EmptySchedule:
            return False
        self.read += 1
        return True

    def step_to(self, k: int, refresh: bool = True) -> None:
        """Step until position ``k`` (or until nothing is left)."""
        while self.position < k and self.step():
            pass
        if refresh:
            self.wal.refresh()


@dataclass
class Timeline:
    """A config, the jobs enqueued at the start, and the actions since."""

    config: Config
    jobs: int = 0
    actions: list[Action] = field(default_factory=list)

    @property
    def end(self) -> int:
        """The last position the actions reached."""
        return self.actions[-1].end if self.actions else 0

    def start(self) -> Replay:
        sim = Simulation(self.config)
        if self.jobs:
            sim.enqueue(self.jobs)
        return Replay(sim, WalView(sim), len(sim.trace))

    def record(self, action: Action) -> None:
        """Keep ``action``; actions after its start (a rewound future) are dropped."""
        self.actions = [a for a in self.actions if a.end <= action.start]
        self.actions.append(action)

    def rebuild(self, k: int, on_step: Callable[[Replay], None] | None = None) -> Replay:
        """A fresh simulation brought to position ``k`` by the recorded actions."""
        r = self.start()
        for a in self.actions:
            if r.position >= k and not (a.kind == "reseed" and a.start == k):
                break
            if a.end > k:  # the action went past k: step up to it
                r.step_to(k, refresh=False)
                break
            apply(r, a)
        r.step_to(k)
        return r

    def truncated(self, k: int) -> list[Action]:
        """The actions that brought the run to position ``k``, for a fork from there."""
        return [a for a in self.actions if a.end <= k]


def apply(r: Replay, a: Action) -> None:
    """Do ``a`` again on ``r``."""
    if a.kind == "step":
        r.step_to(a.end, refresh=False)
    elif a.kind == "run":
        r.sim.run_until(a.time)
    elif a.kind == "crash":
        r.wal.crash(a.crash_kind, a.tear)
    elif a.kind == "recover":
        r.wal.recover()
    elif a.kind == "reseed":
        reseed(r.sim, a.seed)
    if a.kind in ("run", "crash", "recover"):
        r.caught_up()
    r.wal.refresh()
