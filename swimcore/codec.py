"""The native wire format.

Every datagram is::

    magic "SW" | version u8 | flags u8 | label (u8 length + UTF-8)
    | message kind u8 | message body | update count u8 | updates (kind u8 + body each)

and a reliable-exchange payload uses the same header followed by the push-pull kind and body.
Integers are big-endian; strings are UTF-8 with a one-byte length, metadata and payloads carry a
two-byte length; addresses are a family byte (4 or 6), the packed IP and a port.  Every length
is checked against what remains before it is used, and the decoder raises only
:class:`~swimcore.errors.DecodeError`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

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

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PORT = _U16

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
    return _U8.pack(len(raw)) + raw


def _blob(data: bytes) -> bytes:
    if len(data) > MAX_BLOB_BYTES:
        raise ValueError(f"blob of {len(data)} bytes exceeds {MAX_BLOB_BYTES}")
    return _U16.pack(len(data)) + data


def _addr(address: Address) -> bytes:
    return _U8.pack(address.ip.version) + address.ip.packed + _PORT.pack(address.port)


def header(label: str) -> bytes:
    """The fixed prefix of every packet of a cluster labelled ``label``."""
    return MAGIC + bytes((VERSION, 0)) + _str(label)


def encode_message(message: Message) -> bytes:
    """Kind byte and body of a primary message."""
    if isinstance(message, Ping):
        return bytes((PING,)) + _U32.pack(message.seq) + _str(message.target) + _str(message.source)
    if isinstance(message, Ack):
        return bytes((ACK,)) + _U32.pack(message.seq)
    if isinstance(message, Nack):
        return bytes((NACK,)) + _U32.pack(message.seq)
    if isinstance(message, IndirectPing):
        return (
            bytes((INDIRECT_PING,))
            + _U32.pack(message.seq)
            + _str(message.target)
            + _addr(message.address)
            + _str(message.source)
            + bytes((1 if message.want_nack else 0,))
        )
    if isinstance(message, UserMessage):
        return bytes((USER_MESSAGE,)) + _str(message.origin) + _blob(message.payload)
    return bytes((GOSSIP,))


def encode_update(update: Update) -> bytes:
    """Kind byte and body of one piggybacked update."""
    if isinstance(update, Alive):
        return (
            bytes((U_ALIVE,))
            + _str(update.name)
            + _addr(update.address)
            + _U64.pack(update.incarnation)
            + _blob(update.meta)
        )
    if isinstance(update, Suspect):
        return (
            bytes((U_SUSPECT,))
            + _str(update.name)
            + _U64.pack(update.incarnation)
            + _str(update.by)
        )
    if isinstance(update, Dead):
        return (
            bytes((U_DEAD,)) + _str(update.name) + _U64.pack(update.incarnation) + _str(update.by)
        )
    if isinstance(update, Left):
        return bytes((U_LEFT,)) + _str(update.name) + _U64.pack(update.incarnation)
    return (
        bytes((U_USER,))
        + _str(update.origin)
        + _str(update.key)
        + _U64.pack(update.version)
        + _blob(update.payload)
    )


def assemble(prefix: bytes, message: bytes, updates: Iterable[bytes]) -> bytes:
    """Join an encoded header, message and already encoded updates into one datagram."""
    parts = list(updates)
    if len(parts) > MAX_UPDATES:
        raise ValueError(f"at most {MAX_UPDATES} updates fit one packet, got {len(parts)}")
    return b"".join((prefix, message, _U8.pack(len(parts)), *parts))


def encode_packet(packet: Packet) -> bytes:
    """Encode a whole :class:`Packet`."""
    return assemble(
        header(packet.label),
        encode_message(packet.message),
        [encode_update(u) for u in packet.updates],
    )


def encode_push_pull(snapshot: PushPull) -> bytes:
    """Encode a full-state snapshot for the reliable exchange."""
    rows = [
        _str(m.name)
        + _addr(m.address)
        + _U64.pack(m.incarnation)
        + bytes((m.state,))
        + _blob(m.meta)
        for m in snapshot.members
    ]
    return b"".join(
        (
            header(snapshot.label),
            bytes((PUSH_PULL, 1 if snapshot.join else 0)),
            _U32.pack(len(rows)),
            *rows,
        )
    )


# Decoding -----------------------------------------------------------------------------------


class _Reader:
    """A cursor over received bytes that checks every length before using it."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise DecodeError("truncated")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self) -> int:
        if self.pos >= len(self.data):
            raise DecodeError("truncated")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def string(self) -> str:
        raw = self.take(self.u8())
        try:
            return raw.decode()
        except UnicodeDecodeError:
            raise DecodeError("string is not UTF-8") from None

    def blob(self) -> bytes:
        return self.take(self.u16())

    def address(self) -> Address:
        family = self.u8()
        if family == 4:
            ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(self.take(4))
        elif family == 6:
            ip = ipaddress.IPv6Address(self.take(16))
        else:
            raise DecodeError(f"unknown address family {family}")
        return Address(ip, self.u16())

    def done(self) -> None:
        if self.pos != len(self.data):
            raise DecodeError("trailing bytes")


def _read_header(reader: _Reader) -> str:
    if reader.take(2) != MAGIC:
        raise DecodeError("bad magic")
    version = reader.u8()
    if version != VERSION:
        raise DecodeError(f"unsupported version {version}")
    if reader.u8() != 0:
        raise DecodeError("unknown flags")
    return reader.string()


def read_label(data: bytes) -> str:
    """The label of a packet, checking only the header (to drop foreign packets cheaply)."""
    return _read_header(_Reader(data))


def _read_message(reader: _Reader) -> Message:
    kind = reader.u8()
    if kind == PING:
        return Ping(reader.u32(), reader.string(), reader.string())
    if kind == ACK:
        return Ack(reader.u32())
    if kind == NACK:
        return Nack(reader.u32())
    if kind == INDIRECT_PING:
        seq, target, address, source = (
            reader.u32(),
            reader.string(),
            reader.address(),
            reader.string(),
        )
        flag = reader.u8()
        if flag > 1:
            raise DecodeError("bad nack flag")
        return IndirectPing(seq, target, address, source, bool(flag))
    if kind == GOSSIP:
        return Gossip()
    if kind == USER_MESSAGE:
        return UserMessage(reader.string(), reader.blob())
    raise DecodeError(f"unknown message kind {kind}")


def _read_update(reader: _Reader) -> Update:
    kind = reader.u8()
    if kind == U_ALIVE:
        return Alive(reader.string(), reader.address(), reader.u64(), reader.blob())
    if kind == U_SUSPECT:
        return Suspect(reader.string(), reader.u64(), reader.string())
    if kind == U_DEAD:
        return Dead(reader.string(), reader.u64(), reader.string())
    if kind == U_LEFT:
        return Left(reader.string(), reader.u64())
    if kind == U_USER:
        return UserBroadcast(reader.string(), reader.string(), reader.u64(), reader.blob())
    raise DecodeError(f"unknown update kind {kind}")


def decode_packet(data: bytes) -> Packet:
    """Decode a datagram; raises :class:`DecodeError` (only) on anything malformed."""
    reader = _Reader(data)
    label = _read_header(reader)
    message = _read_message(reader)
    count = reader.u8()
    updates = tuple(_read_update(reader) for _ in range(count))
    reader.done()
    return Packet(label, message, updates)


def encode_direct_message(message: DirectMessage) -> bytes:
    """Encode a reliable application message for the exchange."""
    return b"".join(
        (
            header(message.label),
            bytes((DIRECT_MESSAGE,)),
            _str(message.origin),
            _U32.pack(len(message.payload)),
            message.payload,
        )
    )


def encode_exchange_ack(label: str) -> bytes:
    """The reply to a delivered :class:`DirectMessage`."""
    return header(label) + bytes((EXCHANGE_ACK,))


def decode_exchange(data: bytes) -> Exchange:
    """Decode a reliable-exchange request: a snapshot or a direct message."""
    reader = _Reader(data)
    label = _read_header(reader)
    kind = reader.u8()
    if kind == PUSH_PULL:
        return _read_push_pull(reader, label, len(data))
    if kind == DIRECT_MESSAGE:
        origin = reader.string()
        payload = reader.take(reader.u32())
        reader.done()
        return DirectMessage(label, origin, payload)
    raise DecodeError(f"unknown exchange kind {kind}")


def is_exchange_ack(data: bytes, label: str) -> bool:
    """Whether ``data`` is the acknowledgement of a direct message in cluster ``label``."""
    return data == encode_exchange_ack(label)


def decode_push_pull(data: bytes) -> PushPull:
    """Decode a reliable-exchange payload; raises :class:`DecodeError` (only) when malformed."""
    reader = _Reader(data)
    label = _read_header(reader)
    if reader.u8() != PUSH_PULL:
        raise DecodeError("not a push-pull payload")
    return _read_push_pull(reader, label, len(data))


def _read_push_pull(reader: _Reader, label: str, size: int) -> PushPull:
    join = reader.u8()
    if join > 1:
        raise DecodeError("bad join flag")
    count = reader.u32()
    # The smallest row is 19 bytes; refuse counts the payload cannot hold before looping.
    if count * 19 > size - reader.pos:
        raise DecodeError("member count exceeds payload")
    rows = []
    for _ in range(count):
        name, address, incarnation = reader.string(), reader.address(), reader.u64()
        raw_state = reader.u8()
        if raw_state > State.LEFT:
            raise DecodeError(f"unknown member state {raw_state}")
        rows.append(MemberState(name, address, incarnation, State(raw_state), reader.blob()))
    reader.done()
    return PushPull(label, bool(join), tuple(rows))
