"""The fault model: every disk state a power cut at one crash point may leave, by family.

``drop``
    Every unsynced byte and every directory change since the last directory fsync is lost.
``process``
    Everything written survives (a ``kill -9``; also a power cut that happened to flush it all).
    Here every record that reached the OS is promised, not only the fsynced ones.
``prefix`` / ``torn``
    One file keeps its unsynced bytes up to a cut point: at a record or write boundary
    (``prefix``) or inside a record (``torn``). Small unsynced regions are cut at every byte,
    larger ones at every record boundary plus sampled points inside records.
``garble`` / ``zero``
    The file grew, but the new bytes are garbage or zeros (the size reached the disk, the data
    did not).
``reorder``
    The disk persisted a later unsynced 512-byte sector and lost an earlier one: a hole of zeros
    or garbage with valid records after it. Recovery refuses such a segment by default
    (:class:`~simqueue.core.errors.CorruptWALError`); the campaign counts it as *needs salvage*
    and checks that ``DurableQueue.open(..., salvage=True)`` then loses nothing acknowledged.
``dir-prefix`` / ``dir-reorder``
    Directory operations not yet made durable by a directory fsync survive as a prefix of their
    order, or independently of each other (one dropped, the others kept; or only one kept), with
    file data either all kept or all dropped.

Every random choice (garbage bytes, sampled cut points) is seeded from the crash point and the
file, so the same states come out on every run. ``docs/reliability.md`` tabulates the families.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from simqueue.core import wal
from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.disk import DirOp, Disk, Files

#: The unit a disk may persist out of order (a sector; see the ``reorder`` family).
SECTOR = 512

FAMILIES = (
    "drop",
    "process",
    "prefix",
    "torn",
    "garble",
    "zero",
    "reorder",
    "dir-prefix",
    "dir-reorder",
)

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """One disk state a power cut may leave, with the family and a sentence saying how."""

    family: str
    label: str
    files: Files


@dataclass(frozen=True)
class _Unsynced:
    """One file's bytes past its last fsync: ``buf[synced:]`` may survive in part or not at all."""

    ino: int
    path: str
    buf: bytes
    synced: int
    records: list[tuple[int, int]]  # WAL records that end in the unsynced region
    bounds: set[int]  # record and write boundaries strictly inside it

    @property
    def head(self) -> bytes:
        return self.buf[: self.synced]


def record_spans(buf: bytes | bytearray) -> list[tuple[int, int]]:
    """(start, end) of the records in a WAL segment's bytes (by their size fields)."""
    spans: list[tuple[int, int]] = []
    if bytes(buf[: len(wal.MAGIC)]) != wal.MAGIC:
        return spans
    off = wal.HEADER_SIZE
    while off + 8 <= len(buf):
        (size,) = struct.unpack_from("<I", buf, off + 4)
        end = off + 8 + size
        if size < 36 or end > len(buf):
            break
        spans.append((off, end))
        off = end
    return spans


def spread(items: list[T], n: int) -> list[T]:
    """At most ``n`` items, evenly spread, first and last included."""
    if len(items) <= n:
        return list(items)
    if n <= 1:
        return items[-1:]
    step = (len(items) - 1) / (n - 1)
    return [items[round(i * step)] for i in range(n)]


def outcomes(disk: Disk, k: int, budget: Budget) -> Iterator[Outcome]:
    """Every disk state (by family) a power cut after ``k`` operations may leave."""
    yield Outcome(
        "drop", "unsynced bytes and directory changes lost", disk.materialize(False, False)
    )
    yield Outcome("process", "everything written kept", disk.materialize(True, True))
    for ino, path in disk.unsynced_files():
        region = _unsynced(disk, ino, path)
        rng = random.Random(f"{k}/{path}")
        yield from _cut_outcomes(disk, region, budget, rng)
        yield from _garbage_outcomes(disk, region, rng)
        yield from _hole_outcomes(disk, region, budget, rng)
    for d in disk.pending_dirs():
        yield from _dir_outcomes(disk, d, budget)


def _unsynced(disk: Disk, ino: int, path: str) -> _Unsynced:
    buf = bytes(disk.data[ino])
    ds, cs = disk.synced[ino], len(buf)
    records = [(s, e) for s, e in record_spans(buf) if e > ds and s < cs]
    bounds = {e for _, e in disk.spans[ino]} | {e for _, e in records}
    return _Unsynced(ino, path, buf, ds, records, {b for b in bounds if ds < b < cs})


def _cut_points(region: _Unsynced, budget: Budget, rng: random.Random) -> list[int]:
    ds, cs = region.synced, len(region.buf)
    if cs - ds <= budget.every_byte_up_to:
        return list(range(ds + 1, cs))
    inside: set[int] = set()
    for s, e in region.records:
        inside |= {s + 1, s + 8, s + 20, (s + e) // 2, e - 1}
    inside = {c for c in inside if ds < c < cs} - region.bounds
    cuts = spread(sorted(region.bounds), max(1, budget.cuts // 2))
    cuts += spread(sorted(inside), budget.cuts - len(cuts))
    if not region.records:  # not a WAL segment: sample the region
        cuts += sorted(rng.sample(range(ds + 1, cs), min(budget.cuts, cs - ds - 1)))
    return cuts


def _cut_outcomes(
    disk: Disk, region: _Unsynced, budget: Budget, rng: random.Random
) -> Iterator[Outcome]:
    ds, cs = region.synced, len(region.buf)
    for c in sorted(set(_cut_points(region, budget, rng))):
        yield Outcome(
            "prefix" if c in region.bounds else "torn",
            f"{region.path}: kept {c - ds} of {cs - ds} unsynced bytes",
            disk.materialize(True, False, contents={region.ino: region.buf[:c]}),
        )


def _garbage_outcomes(disk: Disk, region: _Unsynced, rng: random.Random) -> Iterator[Outcome]:
    ds, cs = region.synced, len(region.buf)
    ends = sorted({cs, ds + (cs - ds + 1) // 2} | set(spread(sorted(region.bounds), 2)))
    for c in ends:
        n = c - ds
        yield Outcome(
            "garble",
            f"{region.path}: {n} unsynced bytes came back as garbage",
            disk.materialize(True, False, contents={region.ino: region.head + rng.randbytes(n)}),
        )
        yield Outcome(
            "zero",
            f"{region.path}: {n} unsynced bytes came back as zeros",
            disk.materialize(True, False, contents={region.ino: region.head + bytes(n)}),
        )


def _hole_outcomes(
    disk: Disk, region: _Unsynced, budget: Budget, rng: random.Random
) -> Iterator[Outcome]:
    """Sectors of the unsynced region; losing one while a later one survives leaves a hole."""
    buf, ds, cs, ino = region.buf, region.synced, len(region.buf), region.ino
    edges = [ds] + list(range((ds // SECTOR + 1) * SECTOR, cs, SECTOR)) + [cs]
    sectors = list(zip(edges, edges[1:], strict=False))
    for i in spread(list(range(len(sectors) - 1)), budget.holes):
        a, b = sectors[i]
        tail = buf[b:cs]
        for fill in ("zeros", "garbage"):
            hole = bytes(b - a) if fill == "zeros" else rng.randbytes(b - a)
            yield Outcome(
                "reorder",
                f"{region.path}: unsynced bytes {a}..{b} lost ({fill}), later ones kept",
                disk.materialize(True, False, contents={ino: buf[:a] + hole + tail}),
            )
        yield Outcome(
            "reorder",
            f"{region.path}: unsynced bytes {ds}..{b} lost (zeros), later ones kept",
            disk.materialize(True, False, contents={ino: region.head + bytes(b - ds) + tail}),
        )


def _dir_outcomes(disk: Disk, d: str, budget: Budget) -> Iterator[Outcome]:
    ops = disk.pending[d]
    n = len(ops)
    where = d or "."
    variants: list[tuple[str, str, list[DirOp]]] = []
    for j in range(1, n):
        variants.append(("dir-prefix", f"first {j} of {n} changes in {where}", ops[:j]))
    if n >= 2:
        for i in range(n):
            kept = ops[:i] + ops[i + 1 :]
            variants.append(("dir-reorder", f"{where}: all but {ops[i].describe()}", kept))
            variants.append(("dir-reorder", f"{where}: only {ops[i].describe()}", [ops[i]]))
    for family, label, chosen in spread(variants, budget.dir_variants):
        for data in (True, False):
            yield Outcome(
                family,
                f"{label}; file data {'kept' if data else 'dropped'}",
                disk.materialize(data, data, dir_ops={d: chosen}),
            )
