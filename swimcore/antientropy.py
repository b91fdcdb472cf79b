"""Anti-entropy that costs little when nothing changed: a digest of the table goes first.

A periodic push-pull sends a node's whole table and gets the peer's back: O(members) bytes,
decoding and merging on both sides, even in a cluster where every table is already the same
(the usual case).  On the native wire a periodic push-pull therefore starts with a digest
exchange: the requester sends the number of rows and a 64-bit digest of its table; the peer
compares it with its own and answers ``match`` (nothing more happens) or ``differ`` (the
requester then runs the full push-pull exchange, as before).  Joins and reconnects always
exchange full state.  On the memberlist wire there is no digest message (memberlist peers
would not understand it), so push-pull stays the full exchange memberlist speaks.

The digest is the sum, modulo 2^64, of a 64-bit hash (BLAKE2b) of each row's native encoding
(name, address, incarnation, state, metadata): independent of the order of the rows, equal
exactly when the rows are (up to hash collisions, which only delay repair to the next
differing digest), and cheap: the row encodings and their hashes are cached by value, and a
table over a shared roster (the simulator's) adds the roster's sum, computed once, to the
changes it holds itself (:meth:`~swimcore.members.MemberTable.row_parts`).  A node sums its
table a slice of records per step (:class:`DigestWriter`): with cold caches, or a table larger
than they are, a digest of 60,000 rows took 0.5 s.

A digest frame is ``MAGIC``, a kind byte (request, match, differ), the cluster label
(length-prefixed), the row count (u32), the digest (u64) and a CRC-32 of all that.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable

import attrs

try:  # CPython's own BLAKE2, without hashlib's OpenSSL bindings (3.5 MiB of a member's RSS)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

from swimcore.errors import DecodeError
from swimcore.members import Member, MemberTable
from swimcore.messages import RowFields
from swimcore.wire.native import codec

#: Distinct from the native codec's magic, so a digest frame is never read as a packet.
MAGIC = b"SWDG"
REQUEST, MATCH, DIFFER = 1, 2, 3
_KINDS = (REQUEST, MATCH, DIFFER)
_TAIL = struct.Struct(">IQ")
_CRC = struct.Struct(">I")
_MASK = (1 << 64) - 1
#: Row hashes by row encoding (immutable values; cleared when full: speed, never results).
_ROW_HASHES: dict[bytes, int] = {}
_ROW_HASHES_SIZE = 1 << 16


@attrs.frozen(slots=True)
class Digest:
    """One digest frame: what a table holds, in 12 bytes."""

    kind: int
    label: str
    count: int
    digest: int


def row_hash(member: RowFields) -> int:
    """The 64-bit hash of one row's native encoding."""
    row = codec.row_bytes(member)
    value = _ROW_HASHES.get(row)
    if value is None:
        value = int.from_bytes(blake2b(row, digest_size=8).digest(), "big")
        if len(_ROW_HASHES) >= _ROW_HASHES_SIZE:
            _ROW_HASHES.clear()
        _ROW_HASHES[row] = value
    return value


def table_digest(rows: Iterable[RowFields]) -> tuple[int, int]:
    """``(number of rows, digest)`` of a member table (see the module docstring)."""
    total = count = 0
    for member in rows:
        total += row_hash(member)
        count += 1
    return count, total & _MASK


def digest_of(table: MemberTable) -> tuple[int, int]:
    """:func:`table_digest` of ``table``'s records, through its
    :meth:`~swimcore.members.MemberTable.row_parts` (a table over a shared roster sums only
    the records it changed)."""
    count, rows, partial = table.row_parts(row_hash)
    return count, (partial + sum(map(row_hash, rows))) & _MASK


class DigestWriter:
    """A digest frame of a table, its rows summed a slice at a time (the shape of a
    :class:`~swimcore.wire.SnapshotWriter`): a request, or the answer to ``asked``."""

    __slots__ = ("_asked", "_count", "_label", "_total")

    def __init__(self, label: str, count: int, partial: int, asked: Digest | None) -> None:
        self._label, self._count, self._total, self._asked = label, count, partial, asked

    def add(self, rows: Iterable[RowFields]) -> None:
        """Sum the next rows."""
        self._total += sum(map(row_hash, rows))

    def finish(self) -> bytes:
        """The request frame; or, answering, ``match`` when this table's digest is the one
        asked about, else ``differ``."""
        count, value, asked = self._count, self._total & _MASK, self._asked
        if asked is None:
            return encode(Digest(REQUEST, self._label, count, value))
        same = count == asked.count and value == asked.digest
        return encode(Digest(MATCH if same else DIFFER, asked.label, count, value))


def writer(
    table: MemberTable, label: str, asked: Digest | None
) -> tuple[list[Member], DigestWriter]:
    """The records of ``table`` still to sum, and the :class:`DigestWriter` to sum them into:
    a request (``asked`` is ``None``) or the answer to ``asked``."""
    count, rows, partial = table.row_parts(row_hash)
    return rows, DigestWriter(label, count, partial, asked)


def encode(digest: Digest) -> bytes:
    """The frame for ``digest``."""
    label = digest.label.encode()
    body = b"".join(
        (MAGIC, bytes((digest.kind, len(label))), label, _TAIL.pack(digest.count, digest.digest))
    )
    return body + _CRC.pack(zlib.crc32(body))


def is_digest(data: bytes) -> bool:
    """Whether ``data`` claims to be a digest frame (decode it to know whether it is one)."""
    return data[:4] == MAGIC


def decode(data: bytes) -> Digest:
    """The digest frame in ``data``; raises :class:`DecodeError` (only) when malformed."""
    if len(data) < 4 + 2 + _TAIL.size + _CRC.size or not is_digest(data):
        raise DecodeError("not a digest frame")
    body = data[: -_CRC.size]
    if _CRC.unpack_from(data, len(body))[0] != zlib.crc32(body):
        raise DecodeError("bad checksum")
    kind, size = body[4], body[5]
    if kind not in _KINDS:
        raise DecodeError(f"unknown digest kind {kind}")
    if 6 + size + _TAIL.size != len(body):
        raise DecodeError("bad digest frame length")
    try:
        label = body[6 : 6 + size].decode()
    except UnicodeDecodeError:
        raise DecodeError("label is not UTF-8") from None
    count, value = _TAIL.unpack_from(body, 6 + size)
    return Digest(kind, label, count, value)
