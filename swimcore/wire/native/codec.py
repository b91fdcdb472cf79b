"""The native wire format.

Every datagram is::

    magic "SW" | version u8 | flags u8 | label (u8 length + UTF-8)
    | message kind u8 | message body | update count u8 | updates (kind u8 + body each)
    | CRC-32 of everything before it (u32)

and a reliable-exchange payload uses the same header followed by the push-pull kind and body,
and the same trailer.  The checksum makes a damaged payload (a flipped bit, a cut) a decode
error instead of a member with a garbled name: UDP's own checksum is optional and weak.
Integers are big-endian; strings are UTF-8 with a one-byte length, metadata and payloads carry a
two-byte length; addresses are a family byte (4 or 6), the packed IP and a port.  Every length
is checked against what remains before it is used, and the decoder raises only
:class:`~swimcore.errors.DecodeError`.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from collections.abc import Iterable

from swimcore._frozen import new, slot_setters
from swimcore.address import Address
from swimcore.errors import DecodeError
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    DirectMessage,
    Exchange,
    Gossip,
    IndirectPing,
    Left,
    MemberState,
    Message,
    Nack,
    Packet,
    Ping,
    PushPull,
    RowFields,
    State,
    StreamPing,
    Suspect,
    Update,
    UserBroadcast,
    UserMessage,
)

MAGIC = b"SW"
VERSION = 1
MAX_NAME_BYTES = 255
MAX_BLOB_BYTES = 65535
MAX_UPDATES = 255

# Message kinds.
PING, INDIRECT_PING, ACK, NACK, GOSSIP, USER_MESSAGE = 1, 2, 3, 4, 5, 6
PUSH_PULL, DIRECT_MESSAGE, EXCHANGE_ACK, STREAM_PING, STREAM_ACK = 16, 17, 18, 19, 20
# Update kinds.
U_ALIVE, U_SUSPECT, U_DEAD, U_LEFT, U_USER = 1, 2, 3, 4, 5
_TAG_ALIVE, _TAG_SUSPECT, _TAG_DEAD, _TAG_LEFT, _TAG_USER = (
    bytes((kind,)) for kind in (U_ALIVE, U_SUSPECT, U_DEAD, U_LEFT, U_USER)
)

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PORT = _U16
_KIND_U32 = struct.Struct(">BI")
_U64_U16 = struct.Struct(">QH")
_U64_U8_U16 = struct.Struct(">QBH")

MESSAGE_NAMES = {
    PING: "ping",
    INDIRECT_PING: "indirect_ping",
    ACK: "ack",
    NACK: "nack",
    GOSSIP: "gossip",
    USER_MESSAGE: "user_message",
}


# Encoding -----------------------------------------------------------------------------------


def _str(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > MAX_NAME_BYTES:
        raise ValueError(f"string of {len(raw)} bytes exceeds {MAX_NAME_BYTES}: {text[:40]!r}")
    return bytes((len(raw),)) + raw


def _blob(data: bytes) -> bytes:
    if len(data) > MAX_BLOB_BYTES:
        raise ValueError(f"blob of {len(data)} bytes exceeds {MAX_BLOB_BYTES}")
    return _U16.pack(len(data)) + data


def _addr(address: Address) -> bytes:
    ip = address.ip
    return b"".join((bytes((ip.version,)), ip.packed, _PORT.pack(address.port)))


def header(label: str) -> bytes:
    """The fixed prefix of every packet of a cluster labelled ``label``."""
    return MAGIC + bytes((VERSION, 0)) + _str(label)


def encode_message(message: Message) -> bytes:
    """Kind byte and body of a primary message."""
    if isinstance(message, Ack):
        return _KIND_U32.pack(ACK, message.seq)
    if isinstance(message, Ping):
        return _KIND_U32.pack(PING, message.seq) + _str(message.target) + _str(message.source)
    if isinstance(message, Nack):
        return _KIND_U32.pack(NACK, message.seq)
    if isinstance(message, IndirectPing):
        return b"".join(
            (
                _KIND_U32.pack(INDIRECT_PING, message.seq),
                _str(message.target),
                _addr(message.address),
                _str(message.source),
                b"\x01" if message.want_nack else b"\x00",
            )
        )
    if isinstance(message, UserMessage):
        return bytes((USER_MESSAGE,)) + _str(message.origin) + _blob(message.payload)
    return bytes((GOSSIP,))


def encode_ack(seq: int) -> bytes:
    """``encode_message(Ack(seq))``, with no :class:`Ack` made first (a node answers a ping)."""
    return _KIND_U32.pack(ACK, seq)


def encode_update(update: Update) -> bytes:
    """Kind byte and body of one piggybacked update."""
    if isinstance(update, Alive):
        meta = update.meta
        if len(meta) > MAX_BLOB_BYTES:
            raise ValueError(f"blob of {len(meta)} bytes exceeds {MAX_BLOB_BYTES}")
        return b"".join(
            (
                _TAG_ALIVE,
                _str(update.name),
                _addr(update.address),
                _U64_U16.pack(update.incarnation, len(meta)),
                meta,
            )
        )
    if isinstance(update, Suspect):
        return b"".join(
            (_TAG_SUSPECT, _str(update.name), _U64.pack(update.incarnation), _str(update.by))
        )
    if isinstance(update, Dead):
        return b"".join(
            (_TAG_DEAD, _str(update.name), _U64.pack(update.incarnation), _str(update.by))
        )
    if isinstance(update, Left):
        return _TAG_LEFT + _str(update.name) + _U64.pack(update.incarnation)
    return b"".join(
        (
            _TAG_USER,
            _str(update.origin),
            _str(update.key),
            _U64.pack(update.version),
            _blob(update.payload),
        )
    )


#: Bytes the checksum trailer adds to every payload.
CHECKSUM_SIZE = 4


def _checksummed(body: bytes) -> bytes:
    return body + _U32.pack(zlib.crc32(body))


def assemble(prefix: bytes, message: bytes, updates: Iterable[bytes]) -> bytes:
    """Join an encoded header, message and already encoded updates into one datagram."""
    parts = list(updates)
    if len(parts) > MAX_UPDATES:
        raise ValueError(f"at most {MAX_UPDATES} updates fit one packet, got {len(parts)}")
    return _checksummed(b"".join((prefix, message, _U8.pack(len(parts)), *parts)))


def encode_packet(packet: Packet) -> bytes:
    """Encode a whole :class:`Packet`."""
    return assemble(
        header(packet.label),
        encode_message(packet.message),
        [encode_update(u) for u in packet.updates],
    )


#: Encoded push-pull rows by value: a member's row is the same bytes in every snapshot until
#: it changes, so a stable table of N members is encoded once, not once per exchange (and the
#: simulator's thousands of nodes share one cache).  Cleared when full: speed, never bytes.
#: The address is compared, not hashed (hashing an IP address object is slow).
_ROW_CACHE: dict[tuple[str, int, int, bytes], tuple[Address, bytes]] = {}
_ROW_CACHE_SIZE = 1 << 16


def row_bytes(m: RowFields) -> bytes:
    """The native encoding of one push-pull row (cached by value)."""
    return _row(m)


def _row(m: RowFields) -> bytes:
    key = (m.name, m.incarnation, m.state, m.meta)
    cached = _ROW_CACHE.get(key)
    if cached is not None and (cached[0] is m.address or cached[0] == m.address):
        return cached[1]
    row = (
        _str(m.name)
        + _addr(m.address)
        + _U64.pack(m.incarnation)
        + bytes((m.state,))
        + _blob(m.meta)
    )
    if len(_ROW_CACHE) >= _ROW_CACHE_SIZE:
        _ROW_CACHE.clear()
    _ROW_CACHE[key] = (m.address, row)
    return row


def encode_push_pull(snapshot: PushPull) -> bytes:
    """Encode a full-state snapshot for the reliable exchange."""
    members = snapshot.members
    writer = SnapshotWriter(snapshot.label, snapshot.join, len(members), snapshot.user_state)
    writer.add(members)
    return writer.finish()


class SnapshotWriter:
    """A push-pull of ``count`` rows, encoded a slice at a time from rows as they stand (a
    table's records need no copy first): :meth:`add` the rows, then :meth:`finish`."""

    __slots__ = ("_count", "_parts", "_user_state")

    def __init__(self, label: str, join: bool, count: int, user_state: bytes = b"") -> None:
        self._count = count
        self._parts = [header(label), bytes((PUSH_PULL, 1 if join else 0)), _U32.pack(count)]
        self._user_state = user_state

    def add(self, rows: Iterable[RowFields]) -> None:
        """Encode the next rows."""
        self._parts += map(_row, rows)

    def finish(self) -> bytes:
        """The push-pull; ``ValueError`` unless exactly ``count`` rows were added."""
        parts = self._parts
        if len(parts) != 3 + self._count:
            raise ValueError(f"a snapshot of {self._count} rows was given {len(parts) - 3}")
        if self._user_state:
            # The application's state follows the rows, length first; absent (not even the
            # length) when empty, so a snapshot without it is byte for byte what it always was.
            parts += (_U32.pack(len(self._user_state)), self._user_state)
        return _checksummed(b"".join(parts))


# Decoding -----------------------------------------------------------------------------------
#
# Each reader takes the bytes and a position and returns (value, next position), checking the
# length of every field against what remains before touching it.


def _truncated() -> DecodeError:
    return DecodeError("truncated")


def _verified(data: bytes) -> bytes:
    """``data`` without its checksum trailer, once the checksum matches."""
    if len(data) < CHECKSUM_SIZE:
        raise _truncated()
    body = data[:-CHECKSUM_SIZE]
    if _U32.unpack_from(data, len(body))[0] != zlib.crc32(body):
        raise DecodeError("bad checksum")
    return body


def _text(data: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(data):
        raise _truncated()
    end = pos + 1 + data[pos]
    if end > len(data):
        raise _truncated()
    try:
        return data[pos + 1 : end].decode(), end
    except UnicodeDecodeError:
        raise DecodeError("string is not UTF-8") from None


def _blob_at(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise _truncated()
    end = pos + 2 + (data[pos] << 8 | data[pos + 1])
    if end > len(data):
        raise _truncated()
    return data[pos + 2 : end], end


def _u32_at(data: bytes, pos: int) -> tuple[int, int]:
    if pos + 4 > len(data):
        raise _truncated()
    return _U32.unpack_from(data, pos)[0], pos + 4


def _u64_at(data: bytes, pos: int) -> tuple[int, int]:
    if pos + 8 > len(data):
        raise _truncated()
    return _U64.unpack_from(data, pos)[0], pos + 8


def _byte_at(data: bytes, pos: int) -> int:
    if pos >= len(data):
        raise _truncated()
    return data[pos]


#: Decoded addresses by their encoding.  Members' addresses recur in nearly every datagram and
#: building one (IP object, validation) costs more than the rest of an update, so the first
#: ``_ADDRESS_CACHE_SIZE`` distinct ones are kept (immutable values: this changes speed, never
#: output; admitting no more once full keeps memory bounded without eviction churn).  The
#: size covers a 10,000-member simulation in one process (the cache is per process); full, it
#: holds about 4 MiB.
_ADDRESS_CACHE: dict[bytes, Address] = {}
_ADDRESS_CACHE_SIZE = 1 << 14


#: Decoded alive, suspect and dead updates by their encoding.  Gossip repeats each update
#: several times (retransmission, several senders), and a stable cluster's alive updates are
#: the same bytes until an incarnation or address changes, so most arrive already decoded once
#: (as does each suspicion and death, from every member that passes it on).  Values are
#: immutable (this changes speed, never output); the cache is emptied when full, since unlike
#: addresses the updates a cluster gossips change over its life.
_UPDATE_CACHE: dict[bytes, Update] = {}
_UPDATE_CACHE_SIZE = 1 << 10


def _remember(raw: bytes, update: Update) -> None:
    """Keep ``update`` as the decoding of ``raw`` (the cache emptied first when full)."""
    if len(_UPDATE_CACHE) >= _UPDATE_CACHE_SIZE:
        _UPDATE_CACHE.clear()
    _UPDATE_CACHE[raw] = update


def _address_from(raw: bytes) -> Address:
    """The address encoded as ``raw`` (family, packed IP, port), already length-checked."""
    address = _ADDRESS_CACHE.get(raw)
    if address is None:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address
        ip = ipaddress.IPv4Address(raw[1:5]) if raw[0] == 4 else ipaddress.IPv6Address(raw[1:17])
        address = Address(ip, raw[-2] << 8 | raw[-1])
        if len(_ADDRESS_CACHE) < _ADDRESS_CACHE_SIZE:
            _ADDRESS_CACHE[raw] = address
    return address


def interned(address: Address) -> Address:
    """The decoder's own object for ``address``: ``address`` itself, kept for the decoder, when
    it has none yet (and there is room).

    Records made from addresses the application gives (a node's starting members, a roster)
    then hold the objects the updates about them decode to, and compare with them by
    identity (see ``Node._receive``) rather than by a call of ``Address.__eq__``.  An IPv6
    address with a scope (``fe80::1%eth0``) is left as it is: the wire carries no scope.
    """
    ip = address.ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return address
    raw = _addr(address)
    known = _ADDRESS_CACHE.get(raw)
    if known is not None:
        return known
    if len(_ADDRESS_CACHE) < _ADDRESS_CACHE_SIZE:
        _ADDRESS_CACHE[raw] = address
    return address


def _address_at(data: bytes, pos: int) -> tuple[Address, int]:
    family = _byte_at(data, pos)
    if family == 4:
        end = pos + 7
    elif family == 6:
        end = pos + 19
    else:
        raise DecodeError(f"unknown address family {family}")
    if end > len(data):
        raise _truncated()
    return _address_from(data[pos:end]), end


def _header_at(data: bytes) -> tuple[str, int]:
    """The label and the position after the header."""
    if data[:2] != MAGIC:
        raise _truncated() if len(data) < 2 else DecodeError("bad magic")
    version = _byte_at(data, 2)
    if version != VERSION:
        raise DecodeError(f"unsupported version {version}")
    if _byte_at(data, 3) != 0:
        raise DecodeError("unknown flags")
    return _text(data, 4)


def read_label(data: bytes) -> str:
    """The label of a packet, checking only the header (to drop foreign packets cheaply)."""
    return _header_at(data)[0]


def _message_at(data: bytes, pos: int) -> tuple[Message, int]:
    kind = _byte_at(data, pos)
    pos += 1
    if kind == ACK:
        seq, pos = _u32_at(data, pos)
        return Ack(seq), pos
    if kind == PING:
        seq, pos = _u32_at(data, pos)
        target, pos = _text(data, pos)
        source, pos = _text(data, pos)
        return Ping(seq, target, source), pos
    if kind == NACK:
        seq, pos = _u32_at(data, pos)
        return Nack(seq), pos
    if kind == INDIRECT_PING:
        seq, pos = _u32_at(data, pos)
        target, pos = _text(data, pos)
        address, pos = _address_at(data, pos)
        source, pos = _text(data, pos)
        flag = _byte_at(data, pos)
        if flag > 1:
            raise DecodeError("bad nack flag")
        return IndirectPing(seq, target, address, source, bool(flag)), pos + 1
    if kind == GOSSIP:
        return Gossip(), pos
    if kind == USER_MESSAGE:
        origin, pos = _text(data, pos)
        payload, pos = _blob_at(data, pos)
        return UserMessage(origin, payload), pos
    raise DecodeError(f"unknown message kind {kind}")


def _update_at(data: bytes, pos: int) -> tuple[Update, int]:
    kind = _byte_at(data, pos)
    if not U_ALIVE <= kind <= U_USER:
        raise DecodeError(f"unknown update kind {kind}")
    name, pos = _text(data, pos + 1)  # every update starts with a name (or origin)
    if kind == U_ALIVE:
        address, pos = _address_at(data, pos)
        end = pos + 10
        if end > len(data):
            raise _truncated()
        incarnation, size = _U64_U16.unpack_from(data, pos)
        if end + size > len(data):
            raise _truncated()
        return Alive(name, address, incarnation, data[end : end + size]), end + size
    if kind in (U_SUSPECT, U_DEAD):
        incarnation, pos = _u64_at(data, pos)
        by, pos = _text(data, pos)
        return (Suspect if kind == U_SUSPECT else Dead)(name, incarnation, by), pos
    if kind == U_LEFT:
        incarnation, pos = _u64_at(data, pos)
        return Left(name, incarnation), pos
    key, pos = _text(data, pos)  # U_USER
    version, pos = _u64_at(data, pos)
    payload, pos = _blob_at(data, pos)
    return UserBroadcast(name, key, version, payload), pos


def decode_packet(data: bytes) -> Packet:
    """Decode a datagram; raises :class:`DecodeError` (only) on anything malformed.

    The packet keeps each update's bytes as received (``Packet.raw_updates``): they are the
    update's encoding, which a node queues for retransmission without encoding it again.
    """
    label, message, updates, raw = read_packet(data)
    return Packet(label, message, tuple(updates), tuple(raw))


def read_packet(data: bytes) -> tuple[str, Message, list[Update], list[bytes]]:
    """:func:`decode_packet`'s label, message, updates and the updates' bytes, without a
    :class:`Packet` around them: what a node's receive path reads, once a datagram."""
    data = _verified(data)
    try:
        # The common case read inline: a header seen before, a ping or an ack, alive updates.
        pos = 5 + data[4]
        label = _LABELS.get(data[:pos])
        if label is None:
            raise _Unusual
        kind = data[pos]
        seq = _U32.unpack_from(data, pos + 1)[0]
        pos += 5
        message: Message
        if kind == ACK:
            message = Ack(seq)
        elif kind == PING:
            end = pos + 1 + data[pos]
            target = data[pos + 1 : end].decode()
            pos = end + 1 + data[end]
            message = _ping(seq, target, data[end + 1 : pos].decode())
        else:
            raise _Unusual
        count = data[pos]
        updates, raw, pos = _updates_fast(data, pos + 1, count)
    except (IndexError, struct.error, UnicodeDecodeError, _Unusual):
        # Something is off (or merely rare): the careful reader says exactly what.
        label, message, updates, raw, pos = _read_carefully(data)
    if pos != len(data):
        raise DecodeError("trailing bytes")
    return label, message, updates, raw


#: Labels by their encoded header, for headers read before (a cluster has one).
_LABELS: dict[bytes, str] = {}
_LABELS_SIZE = 64


def _read_carefully(data: bytes) -> tuple[str, Message, list[Update], list[bytes], int]:
    """A checksummed datagram read field by field, each length checked before use."""
    label, pos = _header_at(data)
    if len(_LABELS) < _LABELS_SIZE:
        _LABELS[data[:pos]] = label
    message, pos = _message_at(data, pos)
    count = _byte_at(data, pos)
    pos += 1
    try:
        updates, raw, pos = _updates_fast(data, pos, count)
    except (IndexError, struct.error, UnicodeDecodeError, _Unusual):
        updates, raw = [], []
        for _ in range(count):
            update, end = _update_at(data, pos)
            updates.append(update)
            raw.append(data[pos:end])
            pos = end
    return label, message, updates, raw, pos


# The messages the decoder makes most, a Ping per probe received and an Alive per fresh update,
# are made with their slots set directly (see swimcore._frozen): by _ping, and in _updates_fast.
_SET_PING = slot_setters(Ping, "seq", "target", "source")
_SET_ALIVE = slot_setters(Alive, "name", "address", "incarnation", "meta")


def _ping(seq: int, target: str, source: str) -> Ping:
    """``Ping(seq, target, source)``, its slots set directly."""
    ping = new(Ping)
    set_seq, set_target, set_source = _SET_PING
    set_seq(ping, seq)
    set_target(ping, target)
    set_source(ping, source)
    return ping


class _Unusual(Exception):
    """Raised by the fast reader for anything it leaves to the careful one."""


def _updates_fast(data: bytes, pos: int, count: int) -> tuple[list[Update], list[bytes], int]:
    """The updates of a well-formed packet, alive ones read inline (they are most of the
    traffic); a short or odd packet raises, and :func:`_update_at` reads it again."""
    updates: list[Update] = []
    raws: list[bytes] = []
    addresses = _ADDRESS_CACHE
    cache = _UPDATE_CACHE
    set_name, set_address, set_incarnation, set_meta = _SET_ALIVE
    size = len(data)
    for _ in range(count):
        kind = data[pos]
        if kind == U_ALIVE:
            at = pos + 2 + data[pos + 1]
            family = data[at]
            if family == 4:
                after = at + 7
            elif family == 6:
                after = at + 19
            else:
                raise _Unusual
            end = after + 10 + (data[after + 8] << 8 | data[after + 9])
            if end > size:
                raise _Unusual
            raw = data[pos:end]
            raws.append(raw)
            known = cache.get(raw)
            if known is None:
                packed = data[at:after]
                address = addresses.get(packed)
                if address is None:
                    address = _address_from(packed)
                # Alive(name, address, incarnation, meta), its slots set directly.
                known = new(Alive)
                set_name(known, data[pos + 2 : at].decode())
                set_address(known, address)
                set_incarnation(known, _U64.unpack_from(data, after)[0])
                set_meta(known, data[after + 10 : end])
                if len(cache) >= _UPDATE_CACHE_SIZE:  # _remember, inline
                    cache.clear()
                cache[raw] = known
            updates.append(known)
            pos = end
        elif kind in (U_SUSPECT, U_DEAD):
            # Kind, name, incarnation and accuser: the accuser's length byte gives the end.
            at = pos + 10 + data[pos + 1]
            raw = data[pos : at + 1 + data[at]]
            raws.append(raw)
            known = cache.get(raw)
            if known is None:
                known, end = _update_at(data, pos)
                if end != pos + len(raw):
                    raise _Unusual
                _remember(raw, known)
            updates.append(known)
            pos += len(raw)
        else:
            update, end = _update_at(data, pos)
            raws.append(data[pos:end])
            updates.append(update)
            pos = end
    return updates, raws, pos


def encode_direct_message(message: DirectMessage) -> bytes:
    """Encode a reliable application message for the exchange."""
    return _checksummed(
        b"".join(
            (
                header(message.label),
                bytes((DIRECT_MESSAGE,)),
                _str(message.origin),
                _U32.pack(len(message.payload)),
                message.payload,
            )
        )
    )


def encode_exchange_ack(label: str) -> bytes:
    """The reply to a delivered :class:`DirectMessage`."""
    return _checksummed(header(label) + bytes((EXCHANGE_ACK,)))


def encode_stream_ping(ping: StreamPing) -> bytes:
    """Encode a probe for the reliable exchange (the TCP fallback of a failed UDP probe)."""
    return _checksummed(
        b"".join(
            (
                header(ping.label),
                _KIND_U32.pack(STREAM_PING, ping.seq),
                _str(ping.target),
                _str(ping.source),
            )
        )
    )


def encode_stream_ack(label: str, seq: int) -> bytes:
    """The reply to a :class:`StreamPing` with sequence number ``seq``."""
    return _checksummed(header(label) + _KIND_U32.pack(STREAM_ACK, seq))


def read_stream_ack(data: bytes, label: str) -> int | None:
    """The sequence number of the stream ack ``data`` in cluster ``label``, or ``None`` when it
    is anything else (never raises)."""
    prefix = header(label) + bytes((STREAM_ACK,))
    if len(data) != len(prefix) + 4 + CHECKSUM_SIZE or not data.startswith(prefix):
        return None
    try:
        body = _verified(data)
    except DecodeError:
        return None
    seq: int = _U32.unpack_from(body, len(prefix))[0]
    return seq


def open_exchange(data: bytes) -> DirectMessage | StreamPing | PushPullRows:
    """A reliable-exchange request, with a snapshot's rows left to decode on demand.

    The checksum, the header, the kind and (for a snapshot) the join flag and the row count are
    checked here, at once; a snapshot's rows are then decoded by :meth:`PushPullRows.take`, a
    few at a time, so that a large one never holds the caller for long.
    """
    end, label, pos, kind = _exchange_head(data)
    if kind == PUSH_PULL:
        return PushPullRows(data, end, pos + 1, label)
    if kind == DIRECT_MESSAGE:
        body = data[:end]
        origin, pos = _text(body, pos + 1)
        size, pos = _u32_at(body, pos)
        if pos + size > len(body):
            raise _truncated()
        if pos + size != len(body):
            raise DecodeError("trailing bytes")
        return DirectMessage(label, origin, body[pos:])
    if kind == STREAM_PING:
        body = data[:end]
        seq, pos = _u32_at(body, pos + 1)
        target, pos = _text(body, pos)
        source, pos = _text(body, pos)
        if pos != len(body):
            raise DecodeError("trailing bytes")
        return StreamPing(label, seq, target, source)
    raise DecodeError(f"unknown exchange kind {kind}")


def decode_exchange(data: bytes) -> Exchange:
    """Decode a reliable-exchange request: a snapshot, a direct message or a stream ping."""
    opened = open_exchange(data)
    return opened if isinstance(opened, DirectMessage | StreamPing) else opened.read_all()


def is_exchange_ack(data: bytes, label: str) -> bool:
    """Whether ``data`` is the acknowledgement of a direct message in cluster ``label``."""
    return data == encode_exchange_ack(label)


def decode_push_pull(data: bytes) -> PushPull:
    """Decode a reliable-exchange payload; raises :class:`DecodeError` (only) when malformed."""
    end, label, pos, kind = _exchange_head(data)
    if kind != PUSH_PULL:
        raise DecodeError("not a push-pull payload")
    return PushPullRows(data, end, pos + 1, label).read_all()


def _exchange_head(data: bytes) -> tuple[int, str, int, int]:
    """Where the body ends, the label, and the position and value of the kind byte."""
    end = _verified_end(data)
    head = data[: min(end, _HEAD_MAX)]
    label, pos = _header_at(head)
    return end, label, pos, _byte_at(head, pos)


#: Decoded push-pull rows by their bytes (immutable values; cleared when full).
_DECODED_ROWS: dict[bytes, MemberState] = {}
#: Bytes the header of an exchange can take: magic, version, flags, label, kind, join, count.
_HEAD_MAX = 2 + 2 + 1 + MAX_NAME_BYTES + 1 + 1 + 4


def _verified_end(data: bytes) -> int:
    """Where the body of ``data`` ends (its checksum trailer begins), once the checksum matches.

    The checksum is computed over a view of the bytes: no copy of a large payload.
    """
    end = len(data) - CHECKSUM_SIZE
    if end < 0:
        raise _truncated()
    if _U32.unpack_from(data, end)[0] != zlib.crc32(memoryview(data)[:end]):
        raise DecodeError("bad checksum")
    return end


def _row_from(raw: bytes) -> MemberState:
    """One push-pull row that fills ``raw`` exactly (its extent is already known)."""
    name, pos = _text(raw, 0)
    address, pos = _address_at(raw, pos)
    incarnation, raw_state, _ = _U64_U8_U16.unpack_from(raw, pos)
    if raw_state > State.LEFT:
        raise DecodeError(f"unknown member state {raw_state}")
    return MemberState(name, address, incarnation, State(raw_state), raw[pos + 11 :])


class PushPullRows:
    """A snapshot whose rows are decoded on demand, from where the last :meth:`take` stopped.

    Holds the payload and a position in it (slices copy one row's bytes, never the payload).
    A malformed row ends the reading: :meth:`take` returns the rows before it and sets
    :attr:`error`; what was returned before stays valid (each row is checked whole).
    """

    __slots__ = ("_data", "_end", "_pos", "count", "error", "join", "label", "left")

    def __init__(self, data: bytes, end: int, pos: int, label: str) -> None:
        if pos + 5 > end:
            raise _truncated()
        join = data[pos]
        if join > 1:
            raise DecodeError("bad join flag")
        count = _U32.unpack_from(data, pos + 1)[0]
        pos += 5
        # The smallest row is 19 bytes; refuse counts the payload cannot hold before looping.
        if count * 19 > end - pos:
            raise DecodeError("member count exceeds payload")
        self._data = data
        self._end = end
        self._pos = pos
        self.label = label
        self.join = bool(join)
        #: Rows announced, and rows not yet decoded.
        self.count = count
        self.left = count
        #: Why reading stopped early (a malformed row), else ``None``.
        self.error: DecodeError | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the payload held."""
        return len(self._data)

    def take(self, n: int) -> list[MemberState]:
        """The next (up to) ``n`` rows; fewer, and :attr:`error` set, at a malformed one."""
        data, limit, pos, cache = self._data, self._end, self._pos, _DECODED_ROWS
        rows: list[MemberState] = []
        try:
            for _ in range(min(n, self.left) if self.error is None else 0):
                # The row's extent follows from its length fields (each checked before use);
                # the same bytes decoded before give the same row (a stable cluster's case).
                if pos + 2 > limit:
                    raise _truncated()
                at = pos + 1 + data[pos]
                if at >= limit:
                    raise _truncated()
                family = data[at]
                if family not in (4, 6):
                    raise DecodeError(f"unknown address family {family}")
                fixed = at + (18 if family == 4 else 30)
                if fixed > limit:
                    raise _truncated()
                end = fixed + (data[fixed - 2] << 8 | data[fixed - 1])
                if end > limit:
                    raise _truncated()
                raw = data[pos:end]
                row = cache.get(raw)
                if row is None:
                    row = _row_from(raw)
                    if len(cache) >= _ROW_CACHE_SIZE:
                        cache.clear()
                    cache[raw] = row
                rows.append(row)
                pos = end
        except DecodeError as error:
            self.error = error
        self._pos = pos
        self.left -= len(rows)
        return rows

    def user_state(self) -> bytes:
        """The application's state after the last row; raises :class:`DecodeError` when the
        rows were not all read or what follows them is malformed."""
        if self.left or self.error is not None:
            raise DecodeError("rows left unread")
        data, pos, end = self._data, self._pos, self._end
        if pos == end:
            return b""
        if pos + 4 > end:
            raise _truncated()
        size = _U32.unpack_from(data, pos)[0]
        if size == 0 or pos + 4 + size != end:
            raise DecodeError("trailing bytes")
        return data[pos + 4 : end]

    def read_all(self) -> PushPull:
        """Every row at once, as a :class:`PushPull` (raises :class:`DecodeError`)."""
        rows = self.take(self.left)
        if self.error is not None:
            raise self.error
        return PushPull(self.label, self.join, tuple(rows), self.user_state())
