"""Disk profiles: how long the modeled disk takes for each fsync, and what a recovery costs, in
virtual time.

A :class:`DiskProfile` holds two latency distributions, ``fdatasync`` (what the WAL and the
snapshot files use: data and size, :mod:`simqueue.core.storage.filesystem`) and ``fsync`` (a
directory fsync, which also commits metadata), and the :class:`RecoveryCost` coefficients that
turn what a recovery did into the virtual seconds it takes. Each distribution is a quantile
function given at a few points and linear between them; a draw inverts one uniform number from
the simulation's own seeded stream, so one seed gives the same latencies every run.

The built-in profiles and where their figures come from (docs/semantics.md, "Disk profiles"):

``nvme``
    A datacenter NVMe drive with power-loss protection: its cache counts as durable, so a flush
    costs tens of microseconds. Measured 16 KiB sync-write latencies of 12-58 us on such drives
    (M. Callaghan, "SSDs, power loss protection and fsync latency", smalldatum.blogspot.com,
    January 2026); a Micron 7400 in write-through mode in T. Poder's pg_test_fsync runs
    (tanelpoder.com, "Using Postgres pg_test_fsync tool for testing low latency writes", 2025).
``sata-ssd`` (the default)
    A consumer SSD without power-loss protection, the disk of most laptops and desktops: every
    flush waits for the flash. pg_test_fsync on a Samsung 990 Pro: fdatasync 1643 us/op, fsync
    5636 us/op (Poder, 2025); a Samsung 960 Pro: fsync 3.5 ms (P. Zaitsev, "Why consumer SSD
    reviews are useless for database performance use case", percona.com, July 2018). The
    figures were measured on NVMe consumer drives; a SATA drive's flush is no faster.
``network-block``
    Network block storage such as AWS EBS gp3, "single-digit millisecond" latency per AWS's
    documentation (docs.aws.amazon.com, "Amazon EBS volume types"); about 1.8 ms per WAL write
    reported for PostgreSQL on gp3 (earezki.com, "Fast by design", chapter 28).
``hdd``
    A 7200 rpm disk with its write cache flushed: a commit waits on average for the platter, one
    revolution being 8.3 ms, "no single client can commit more than 120 transactions/second"
    (G. Smith, "PostgreSQL 9.0 High Performance", Packt 2010, chapter "Disk setup"); a seek
    adds 8-10 ms on average (Seagate Barracuda 7200.12 datasheet).
``instant``
    No latency at all: a RAM disk (tmpfs fsync returns at once), for runs that must not charge
    durability anything.

The built-ins' recovery cost per replayed record and per snapshot job is this repository's
recovery benchmark (docs/performance.md, section 3: 0.88 us per record, 1.43 us per snapshot
job); per byte read, each profile charges its medium's sequential read rate (NVMe 3 GB/s, SATA
550 MB/s under the SATA III limit of 600 MB/s, gp3's 125 MiB/s baseline, a 7200 rpm disk
160 MB/s). ``simqueue calibrate`` measures all of it on the machine at hand.
"""

from __future__ import annotations

import bisect
import json
import os
import random
from dataclasses import dataclass, field
from typing import Any

from simqueue.core.checks import number

#: Profile names ``Config(disk=...)`` knows; anything else is read as a path to a JSON profile.
DEFAULT_DISK = "sata-ssd"
PROFILE_KEYS = ("name", "fdatasync", "fsync", "recovery")
RECOVERY_KEYS = ("per_record", "per_snapshot_job", "per_byte")


@dataclass(frozen=True)
class Latency:
    """A latency distribution: ``points`` of its quantile function, ``(q, seconds)`` with ``q``
    rising from 0 to 1 and seconds never falling; linear in between."""

    points: tuple[tuple[float, float], ...]
    _qs: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pts = tuple((float(q), float(s)) for q, s in self.points)
        if len(pts) < 2 or pts[0][0] != 0.0 or pts[-1][0] != 1.0:
            raise ValueError("latency points must run from quantile 0 to quantile 1")
        for (q0, s0), (q1, s1) in zip(pts, pts[1:], strict=False):
            if q1 <= q0 or s1 < s0:
                raise ValueError("latency points must rise: quantiles strictly, seconds never down")
        for _, s in pts:
            number("latency", s)
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "_qs", tuple(q for q, _ in pts))

    @classmethod
    def constant(cls, seconds: float) -> Latency:
        s = number("latency", seconds)
        return cls(((0.0, s), (1.0, s)))

    @classmethod
    def from_samples(
        cls, samples: list[float], quantiles: tuple[float, ...] = (0, 0.1, 0.5, 0.9, 0.99, 1)
    ) -> Latency:
        """The distribution of measured ``samples`` at ``quantiles`` (0 and 1 included)."""
        if not samples:
            raise ValueError("latency needs at least one sample")
        xs = sorted(samples)
        pts = []
        for q in quantiles:
            k = (len(xs) - 1) * q
            lo = int(k)
            hi = min(lo + 1, len(xs) - 1)
            pts.append((float(q), xs[lo] + (xs[hi] - xs[lo]) * (k - lo)))
        return cls(tuple(pts))

    def quantile(self, q: float) -> float:
        """Seconds at quantile ``q`` (0 to 1)."""
        qs = self._qs
        i = min(max(bisect.bisect_right(qs, q), 1), len(qs) - 1)
        (q0, s0), (q1, s1) = self.points[i - 1], self.points[i]
        return s0 + (s1 - s0) * (q - q0) / (q1 - q0)

    def draw(self, rng: random.Random) -> float:
        """One latency, from one uniform number of ``rng``."""
        return self.quantile(rng.random())

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    def to_list(self) -> list[list[float]]:
        return [[q, s] for q, s in self.points]


@dataclass(frozen=True)
class RecoveryCost:
    """Virtual seconds a recovery takes besides its fsyncs (each charged from the profile):
    ``per_record`` WAL record replayed, ``per_snapshot_job`` job loaded from the snapshot and
    ``per_byte`` of WAL scanned."""

    per_record: float
    per_snapshot_job: float
    per_byte: float = 0.0

    def __post_init__(self) -> None:
        for key in RECOVERY_KEYS:
            number(f"recovery.{key}", getattr(self, key))

    def seconds(self, records: int, snapshot_jobs: int, wal_bytes: int) -> float:
        return (
            self.per_record * records
            + self.per_snapshot_job * snapshot_jobs
            + self.per_byte * wal_bytes
        )


@dataclass(frozen=True)
class DiskProfile:
    """One disk: its fdatasync and fsync latency and its recovery cost model."""

    name: str
    fdatasync: Latency
    fsync: Latency
    recovery: RecoveryCost
    source: str = ""

    @classmethod
    def constant(cls, seconds: float) -> DiskProfile:
        """A disk whose every fsync takes ``seconds`` (``Config.fsync_latency``)."""
        lat = Latency.constant(seconds)
        return cls(f"constant {seconds:g} s", lat, lat, _CPU_COST, "a fixed latency")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "fdatasync": self.fdatasync.to_list(),
            "fsync": self.fsync.to_list(),
            "recovery": {k: getattr(self.recovery, k) for k in RECOVERY_KEYS},
        }

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "disk profile") -> DiskProfile:
        """A profile from plain values; a missing or bad field is a one-line error naming it."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: must be a JSON object; got {type(data).__name__}")
        for key in PROFILE_KEYS:
            if key not in data:
                raise ValueError(f"{where}: missing field {key!r}")
        rec = data["recovery"]
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: field 'recovery' must be an object")
        missing = [k for k in RECOVERY_KEYS[:2] if k not in rec]
        if missing:
            raise ValueError(f"{where}: missing field 'recovery.{missing[0]}'")
        try:
            return cls(
                name=str(data["name"]),
                fdatasync=_latency(data["fdatasync"], "fdatasync"),
                fsync=_latency(data["fsync"], "fsync"),
                recovery=RecoveryCost(*(rec.get(k, 0.0) for k in RECOVERY_KEYS)),
                source=str(data.get("source", "")),
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")


def _latency(value: Any, field: str) -> Latency:
    if not isinstance(value, list) or not all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        raise ValueError(f"field {field!r} must be a list of [quantile, seconds] pairs")
    try:
        return Latency(tuple((p[0], p[1]) for p in value))
    except ValueError as exc:
        raise ValueError(f"field {field!r}: {exc}") from None


def load_profile(path: str) -> DiskProfile:
    """Read a JSON profile (``simqueue calibrate --out``)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ValueError(f"disk: cannot read profile {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"disk: {path} is not JSON ({exc.msg} at line {exc.lineno})") from None
    return DiskProfile.from_dict(data, where=f"disk: {path}")


def resolve_disk(value: Any) -> DiskProfile:
    """What ``Config(disk=...)`` takes: a built-in name, a path to a JSON profile, a profile
    or its dict."""
    if isinstance(value, DiskProfile):
        return value
    if isinstance(value, dict):
        return DiskProfile.from_dict(value, where="disk")
    if isinstance(value, str | os.PathLike):
        name = os.fspath(value)
        if name in PROFILES:
            return PROFILES[name]
        if os.path.exists(name) or name.endswith(".json"):
            return load_profile(name)
        raise ValueError(
            f"disk must be one of {', '.join(PROFILES)} or a path to a JSON profile; got {name!r}"
        )
    raise ValueError(f"disk must be a profile name, a path or a DiskProfile; got {value!r}")


def _ms(*points: tuple[float, float]) -> Latency:
    """A latency given in milliseconds."""
    return Latency(tuple((q, ms / 1000.0) for q, ms in points))


#: Replay and snapshot loading as ``python -m benchmarks.bench_core`` measured them on this
#: repository's machine (docs/performance.md, section 3): CPU-bound, whatever the disk.
_CPU_COST = RecoveryCost(per_record=0.88e-6, per_snapshot_job=1.43e-6)


def _cost(read_bytes_per_second: float) -> RecoveryCost:
    return RecoveryCost(_CPU_COST.per_record, _CPU_COST.per_snapshot_job, 1 / read_bytes_per_second)


PROFILES: dict[str, DiskProfile] = {
    "nvme": DiskProfile(
        "nvme",
        _ms((0, 0.012), (0.5, 0.030), (0.9, 0.045), (0.99, 0.058), (1, 0.2)),
        _ms((0, 0.02), (0.5, 0.05), (0.9, 0.08), (0.99, 0.12), (1, 0.4)),
        _cost(3e9),
        "datacenter NVMe with power-loss protection (smalldatum 2026; Poder 2025)",
    ),
    "sata-ssd": DiskProfile(
        "sata-ssd",
        _ms((0, 0.45), (0.5, 1.6), (0.9, 2.6), (0.99, 3.5), (1, 8.0)),
        _ms((0, 0.9), (0.5, 5.0), (0.9, 5.6), (0.99, 9.0), (1, 20.0)),
        _cost(550e6),
        "consumer SSD without power-loss protection (Poder 2025; Zaitsev 2018)",
    ),
    "network-block": DiskProfile(
        "network-block",
        _ms((0, 0.5), (0.5, 1.8), (0.9, 3.0), (0.99, 6.0), (1, 9.5)),
        _ms((0, 0.8), (0.5, 2.5), (0.9, 4.0), (0.99, 8.0), (1, 12.0)),
        _cost(125 * 2**20),
        "network block storage, AWS EBS gp3 (AWS documentation; earezki.com)",
    ),
    "hdd": DiskProfile(
        "hdd",
        _ms((0, 1.0), (0.5, 8.3), (0.9, 14.0), (0.99, 22.0), (1, 30.0)),
        _ms((0, 8.3), (0.5, 16.6), (0.9, 25.0), (0.99, 35.0), (1, 45.0)),
        _cost(160e6),
        "7200 rpm disk, write cache flushed (Smith 2010; Seagate datasheet)",
    ),
    "instant": DiskProfile(
        "instant", Latency.constant(0.0), Latency.constant(0.0), _CPU_COST, "a RAM disk"
    ),
}

__all__ = [
    "DEFAULT_DISK",
    "PROFILES",
    "DiskProfile",
    "Latency",
    "RecoveryCost",
    "load_profile",
    "resolve_disk",
]
