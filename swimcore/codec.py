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
from typing import Protocol

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
    State,
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
PUSH_PULL, DIRECT_MESSAGE, EXCHANGE_ACK = 16, 17, 18
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


class RowFields(Protocol):
    """What a push-pull row is made of (a :class:`MemberState` or a member table record)."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> Address: ...
    @property
    def incarnation(self) -> int: ...
    @property
    def state(self) -> State: ...
    @property
    def meta(self) -> bytes: ...


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
    rows = [_row(m) for m in snapshot.members]
    # The application's state follows the rows, length first; absent (not even the length)
    # when empty, so a snapshot without it is byte for byte what it always was.
    user = (_U32.pack(len(snapshot.user_state)), snapshot.user_state) if snapshot.user_state else ()
    return _checksummed(
        b"".join(
            (
                header(snapshot.label),
                bytes((PUSH_PULL, 1 if snapshot.join else 0)),
                _U32.pack(len(rows)),
                *rows,
                *user,
            )
        )
    )


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
#: output; admitting no more once full keeps memory bounded without eviction churn).
_ADDRESS_CACHE: dict[bytes, Address] = {}
_ADDRESS_CACHE_SIZE = 1024


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
    """Decode a datagram; raises :class:`DecodeError` (only) on anything malformed."""
    data = _verified(data)
    label, pos = _header_at(data)
    message, pos = _message_at(data, pos)
    count = _byte_at(data, pos)
    pos += 1
    updates = []
    for _ in range(count):
        update, pos = _update_at(data, pos)
        updates.append(update)
    if pos != len(data):
        raise DecodeError("trailing bytes")
    return Packet(label, message, tuple(updates))


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


def decode_exchange(data: bytes) -> Exchange:
    """Decode a reliable-exchange request: a snapshot or a direct message."""
    data = _verified(data)
    label, pos = _header_at(data)
    kind = _byte_at(data, pos)
    if kind == PUSH_PULL:
        return _push_pull_at(data, pos + 1, label)
    if kind == DIRECT_MESSAGE:
        origin, pos = _text(data, pos + 1)
        size, pos = _u32_at(data, pos)
        if pos + size > len(data):
            raise _truncated()
        if pos + size != len(data):
            raise DecodeError("trailing bytes")
        return DirectMessage(label, origin, data[pos:])
    raise DecodeError(f"unknown exchange kind {kind}")


def is_exchange_ack(data: bytes, label: str) -> bool:
    """Whether ``data`` is the acknowledgement of a direct message in cluster ``label``."""
    return data == encode_exchange_ack(label)


def decode_push_pull(data: bytes) -> PushPull:
    """Decode a reliable-exchange payload; raises :class:`DecodeError` (only) when malformed."""
    data = _verified(data)
    label, pos = _header_at(data)
    if _byte_at(data, pos) != PUSH_PULL:
        raise DecodeError("not a push-pull payload")
    return _push_pull_at(data, pos + 1, label)


#: Decoded push-pull rows by their bytes (immutable values; cleared when full).
_DECODED_ROWS: dict[bytes, MemberState] = {}


def _push_pull_at(data: bytes, pos: int, label: str) -> PushPull:
    join = _byte_at(data, pos)
    if join > 1:
        raise DecodeError("bad join flag")
    count, pos = _u32_at(data, pos + 1)
    # The smallest row is 19 bytes; refuse counts the payload cannot hold before looping.
    if count * 19 > len(data) - pos:
        raise DecodeError("member count exceeds payload")
    rows = []
    cache = _DECODED_ROWS
    size_of = len(data)
    for _ in range(count):
        # Find the row's end from its length fields (checked before use), then reuse the row
        # decoded from the same bytes before: in a stable cluster almost every row repeats.
        if pos + 2 > size_of:
            raise _truncated()
        at = pos + 1 + data[pos]
        family = data[at] if at < size_of else 0
        fixed = at + (7 if family == 4 else 19 if family == 6 else 0) + 11
        if family in (4, 6) and fixed <= size_of:
            end = fixed + (data[fixed - 2] << 8 | data[fixed - 1])
            row = cache.get(data[pos:end]) if end <= size_of else None
            if row is not None:
                rows.append(row)
                pos = end
                continue
        start = pos
        name, pos = _text(data, pos)
        address, pos = _address_at(data, pos)
        end = pos + 11
        if end > size_of:
            raise _truncated()
        incarnation, raw_state, size = _U64_U8_U16.unpack_from(data, pos)
        if raw_state > State.LEFT:
            raise DecodeError(f"unknown member state {raw_state}")
        if end + size > size_of:
            raise _truncated()
        row = MemberState(name, address, incarnation, State(raw_state), data[end : end + size])
        rows.append(row)
        pos = end + size
        if len(cache) >= _ROW_CACHE_SIZE:
            cache.clear()
        cache[data[start:pos]] = row
    user_state = b""
    if pos != len(data):
        size, pos = _u32_at(data, pos)
        if size == 0 or pos + size != len(data):
            raise DecodeError("trailing bytes")
        user_state = data[pos:]
    return PushPull(label, bool(join), tuple(rows), user_state)
