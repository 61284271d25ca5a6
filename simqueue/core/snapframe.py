"""The header line of snapshot and chunk files (:mod:`simqueue.core.snapshot`).

``<magic> <schema> <last_seq> <body_bytes> <body crc32 hex> <head crc32 hex>\\n``: the body's
CRC-32, then the CRC-32 of the header text before the last space, so a damaged header (a flipped
schema digit included) is corruption and the fallback is used; only a header that checks out may
claim a newer schema. Schema 1 headers lack the last field; they are still read, as schema 1
only.
"""

from __future__ import annotations

import zlib

from simqueue.core.errors import CorruptSnapshotError

SCHEMA_VERSION = 2


class NewerSchemaError(CorruptSnapshotError):
    """A snapshot from a newer simqueue. Never fall back past it: that could lose its data."""


def frame(
    magic: str, last_seq: int, body: bytes, crc: int | None = None, schema: int = SCHEMA_VERSION
) -> bytes:
    if crc is None:
        crc = zlib.crc32(body)
    head = f"{magic} {schema} {last_seq} {len(body)} {crc:08x}".encode()
    return head + f" {zlib.crc32(head):08x}\n".encode() + body


def unframe(path: str, data: bytes, magic: str) -> tuple[int, bytes, int]:
    """Check a header line and checksum; return (last_seq, body, crc)."""
    nl = data.find(b"\n", 0, 200)
    if nl < 0:
        raise CorruptSnapshotError(path, "missing header line (file cut short?)")
    schema, parts = _header_fields(path, data[:nl], magic)
    if schema > SCHEMA_VERSION:
        raise NewerSchemaError(
            path,
            f"written with schema version {schema}; this simqueue reads up to {SCHEMA_VERSION}",
        )
    try:
        last_seq, size, crc = int(parts[2]), int(parts[3]), int(parts[4], 16)
    except ValueError:
        raise CorruptSnapshotError(path, f"bad header {data[:nl][:60]!r}") from None
    body = data[nl + 1 :]
    if len(body) != size:
        raise CorruptSnapshotError(path, f"body is {len(body)} bytes, header says {size}")
    if zlib.crc32(body) != crc:
        raise CorruptSnapshotError(path, "checksum mismatch")
    return last_seq, body, crc


def _header_fields(path: str, line: bytes, magic: str) -> tuple[int, list[str]]:
    """The schema and fields of a header line, checked. Since schema 2 the line ends with the
    CRC-32 of everything before its last space: a damaged header (a flipped schema digit
    included) is corruption, and only a header that checks out can claim a newer schema.
    Schema 1 headers carry no such CRC and are accepted only as schema 1."""
    parts = line.decode("ascii", "replace").split(" ")
    bad = CorruptSnapshotError(path, f"bad header {line[:60]!r}")
    if len(parts) < 5 or parts[0] != magic or not parts[1].isdigit():
        raise bad
    if len(parts) == 5:  # schema 1: the header is covered by no checksum
        if parts[1] != "1":
            raise CorruptSnapshotError(
                path, f"header without a header checksum claims schema {parts[1][:10]!r} (damaged)"
            )
        return 1, parts
    head, _, own = line.rpartition(b" ")
    if own != b"%08x" % zlib.crc32(head):
        raise CorruptSnapshotError(path, f"header line checksum mismatch (header {line[:60]!r})")
    schema = int(parts[1])
    if schema <= SCHEMA_VERSION and (len(parts) != 6 or schema < 2):
        raise bad
    return schema, parts


__all__ = ["SCHEMA_VERSION", "NewerSchemaError", "frame", "unframe"]
