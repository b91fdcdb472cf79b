"""The reference the memberlist wire is checked against: the hand-written msgpack encoder and
decoder (and message-body encoder) that swimcore shipped before it moved to the ``msgpack``
package.  Only tests use it (tests/test_memberlist_packing.py): the package must give the same
bytes and the same decisions.

The subset of MessagePack that memberlist speaks, encoded exactly as Go's codec encodes it.

memberlist encodes with ``github.com/hashicorp/go-msgpack`` and a default ``MsgpackHandle``,
which writes the *old* MessagePack spec: strings and byte slices alike are "raw" (fixstr below
32 bytes, then str16/str32; never str8 and never the bin types), unsigned and non-negative
integers take the smallest of positive fixnum, uint8, uint16, uint32 and uint64, and structs are
maps whose keys are the Go field names in sorted order (omitempty fields left out when zero).
A nil slice is encoded as nil, an empty one as a zero-length raw.

The decoder is more lenient than the encoder, as Go's is: it also reads str8, bin8/16/32 and
signed integer forms.  It raises only :class:`~swimcore.errors.DecodeError` (or its subclass
:class:`Truncated` when the input ends inside a value, which stream readers use to wait for more
bytes).  Nesting depth and container sizes are bounded before anything is allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from swimcore.errors import DecodeError
from swimcore.wire.memberlist.messages import (
    LZW_ALGO,
    MlAck,
    MlAlive,
    MlDead,
    MlErr,
    MlIndirectPing,
    MlMessage,
    MlNack,
    MlPing,
    MlPushNodeState,
    MlSuspect,
    MlUser,
    MsgType,
)

#: What a decoded value can be: raw strings stay bytes (the schema decides what is text).
Value = None | bool | int | float | bytes | list["Value"] | dict[str, "Value"]

MAX_DEPTH = 8

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")


class Truncated(DecodeError):
    """The input ended inside a value: a stream reader should wait for more bytes."""

    def __init__(self) -> None:
        super().__init__("truncated")


# Encoding -----------------------------------------------------------------------------------


def encode_uint(value: int) -> bytes:
    """A non-negative integer in the smallest form Go's codec picks."""
    if value < 0:
        raise ValueError(f"not an unsigned integer: {value}")
    if value <= 0x7F:
        return bytes((value,))
    if value <= 0xFF:
        return bytes((0xCC, value))
    if value <= 0xFFFF:
        return b"\xcd" + _U16.pack(value)
    if value <= 0xFFFFFFFF:
        return b"\xce" + _U32.pack(value)
    if value <= 0xFFFFFFFFFFFFFFFF:
        return b"\xcf" + _U64.pack(value)
    raise ValueError(f"integer does not fit 64 bits: {value}")


def encode_int(value: int) -> bytes:
    """A signed integer: non-negative ones as unsigned (as Go's codec does), negative signed."""
    if value >= 0:
        return encode_uint(value)
    if value >= -32:
        return bytes((value & 0xFF,))
    if value >= -(2**7):
        return b"\xd0" + struct.pack(">b", value)
    if value >= -(2**15):
        return b"\xd1" + struct.pack(">h", value)
    if value >= -(2**31):
        return b"\xd2" + struct.pack(">i", value)
    if value >= -(2**63):
        return b"\xd3" + struct.pack(">q", value)
    raise ValueError(f"integer does not fit 64 bits: {value}")


def encode_raw(data: bytes) -> bytes:
    """A string or byte slice as an old-spec raw: fixstr, str16 or str32 (never str8 or bin)."""
    n = len(data)
    if n < 32:
        return bytes((0xA0 | n,)) + data
    if n < 65536:
        return b"\xda" + _U16.pack(n) + data
    if n <= 0xFFFFFFFF:
        return b"\xdb" + _U32.pack(n) + data
    raise ValueError(f"raw of {n} bytes is too long")


def _container(n: int, fix: int, b16: int, b32: int) -> bytes:
    if n < 16:
        return bytes((fix | n,))
    if n < 65536:
        return bytes((b16,)) + _U16.pack(n)
    return bytes((b32,)) + _U32.pack(n)


def encode_map_header(n: int) -> bytes:
    """The prefix of a map of ``n`` pairs."""
    return _container(n, 0x80, 0xDE, 0xDF)


def encode_array_header(n: int) -> bytes:
    """The prefix of an array of ``n`` values."""
    return _container(n, 0x90, 0xDC, 0xDD)


def encode(value: Value | str) -> bytes:
    """Encode a plain value (``str`` is written as UTF-8 raw, like Go strings)."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return encode_int(value)
    if isinstance(value, float):
        return b"\xcb" + _F64.pack(value)
    if isinstance(value, str):
        return encode_raw(value.encode())
    if isinstance(value, bytes):
        return encode_raw(value)
    if isinstance(value, list):
        return encode_array_header(len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, dict):
        return encode_map_header(len(value)) + b"".join(
            encode_raw(k.encode()) + encode(v) for k, v in value.items()
        )
    raise TypeError(f"cannot encode {type(value).__name__}")


# Decoding -----------------------------------------------------------------------------------


class Reader:
    """A cursor decoding one value after another from ``data`` (starting at ``pos``)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise Truncated
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _byte(self) -> int:
        if self.pos >= len(self.data):
            raise Truncated
        value = self.data[self.pos]
        self.pos += 1
        return value

    def _len(self, size: int) -> int:
        raw = self._take(size)
        return raw[0] if size == 1 else int.from_bytes(raw, "big")

    def _count(self, n: int) -> int:
        # Every element takes at least one byte: a count beyond what is left is a lie, or the
        # rest has not arrived yet.
        if n > len(self.data) - self.pos:
            raise Truncated
        return n

    def value(self, depth: int = 0) -> Value:
        """Decode the next value."""
        if depth > MAX_DEPTH:
            raise DecodeError("msgpack nesting too deep")
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise Truncated
        b = data[pos]
        pos += 1
        self.pos = pos
        # The forms memberlist's messages are made of, first.
        if b <= 0x7F:
            return b
        if 0xA0 <= b <= 0xBF:
            end = pos + (b & 0x1F)
            if end > len(data):
                raise Truncated
            self.pos = end
            return data[pos:end]
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b >= 0xE0:
            return b - 0x100
        if 0x90 <= b <= 0x9F:
            return self._array(b & 0x0F, depth)
        if b in (0xCC, 0xCD, 0xCE, 0xCF):
            return int.from_bytes(self._take(1 << (b - 0xCC)), "big")
        if b in (0xD0, 0xD1, 0xD2, 0xD3):
            return int.from_bytes(self._take(1 << (b - 0xD0)), "big", signed=True)
        if b in (0xD9, 0xC4):  # str8, bin8
            return self._take(self._len(1))
        if b in (0xDA, 0xC5):  # str16, bin16
            return self._take(self._len(2))
        if b in (0xDB, 0xC6):  # str32, bin32
            return self._take(self._len(4))
        if b == 0xDC:
            return self._array(self._len(2), depth)
        if b == 0xDD:
            return self._array(self._len(4), depth)
        if b == 0xDE:
            return self._map(self._len(2), depth)
        if b == 0xDF:
            return self._map(self._len(4), depth)
        if b == 0xCA:
            return float(_F32.unpack(self._take(4))[0])
        if b == 0xCB:
            return float(_F64.unpack(self._take(8))[0])
        raise DecodeError(f"unsupported msgpack type byte 0x{b:02x}")

    def _array(self, n: int, depth: int) -> list[Value]:
        return [self.value(depth + 1) for _ in range(self._count(n))]

    def _map(self, n: int, depth: int) -> dict[str, Value]:
        out: dict[str, Value] = {}
        data = self.data
        for _ in range(self._count(n)):
            pos = self.pos
            if pos < len(data) and 0xA0 <= data[pos] <= 0xBF:  # the usual short key
                end = pos + 1 + (data[pos] & 0x1F)
                if end > len(data):
                    raise Truncated
                self.pos = end
                key: Value = data[pos + 1 : end]
            else:
                key = self.value(depth + 1)
            if not isinstance(key, bytes):
                raise DecodeError("msgpack map key is not a string")
            try:
                name = key.decode()
            except UnicodeDecodeError:
                raise DecodeError("msgpack map key is not UTF-8") from None
            out[name] = self.value(depth + 1)
        return out


def decode(data: bytes) -> Value:
    """Decode exactly one value that fills ``data``."""
    reader = Reader(data)
    value = reader.value()
    if reader.pos != len(data):
        raise DecodeError("trailing bytes after msgpack value")
    return value


# Message bodies (the old swimcore/wire/memberlist/bodies.py encoder) -----------------------

U16 = 0xFFFF
U32 = 0xFFFFFFFF

_Field = tuple[str, bytes | None]


def _struct(fields: Iterable[_Field]) -> bytes:
    """A Go struct as a map: present fields, sorted by name."""
    present = sorted((k, v) for k, v in fields if v is not None)
    return encode_map_header(len(present)) + b"".join(
        encode_raw(k.encode()) + v for k, v in present
    )


def _uint(value: int, limit: int) -> bytes:
    if not 0 <= value <= limit:
        raise ValueError(f"{value} does not fit 0..{limit}")
    return encode_uint(value)


def _str(text: str) -> bytes:
    return encode_raw(text.encode())


def _bytes(data: bytes) -> bytes:
    return encode_raw(data) if data else b"\xc0"


def _bool(flag: bool) -> bytes:
    return b"\xc3" if flag else b"\xc2"


def _omit(encoded: bytes, empty: bool) -> bytes | None:
    return None if empty else encoded


# Encoding -----------------------------------------------------------------------------------

#: Encoded keys, for the structs with no omitempty field (written in sorted order directly).
_KEYS = [
    "Addr",
    "From",
    "Incarnation",
    "Meta",
    "Name",
    "Node",
    "Payload",
    "Port",
    "SeqNo",
    "State",
    "Vsn",
]
_K = {name: encode_raw(name.encode()) for name in _KEYS}


def encode_fields(message: MlMessage | MlPushNodeState) -> bytes:
    """The msgpack map of a message (without its type byte); user messages are raw bytes."""
    k = _K
    # The messages gossip is made of, written directly (same bytes as the generic path below).
    if isinstance(message, MlAlive):
        return b"".join(
            (
                b"\x86",
                k["Addr"],
                _bytes(message.addr),
                k["Incarnation"],
                _uint(message.incarnation, U32),
                k["Meta"],
                _bytes(message.meta),
                k["Node"],
                _str(message.node),
                k["Port"],
                _uint(message.port, U16),
                k["Vsn"],
                _bytes(message.vsn),
            )
        )
    if isinstance(message, MlSuspect | MlDead):
        return b"".join(
            (
                b"\x83",
                k["From"],
                _str(message.sender),
                k["Incarnation"],
                _uint(message.incarnation, U32),
                k["Node"],
                _str(message.node),
            )
        )
    if isinstance(message, MlAck):
        return (
            b"\x82" + k["Payload"] + _bytes(message.payload) + k["SeqNo"] + _uint(message.seq, U32)
        )
    if isinstance(message, MlNack):
        return b"\x81" + k["SeqNo"] + _uint(message.seq, U32)
    return _encode_generic(message)


def _encode_generic(message: MlMessage | MlPushNodeState) -> bytes:
    if isinstance(message, MlPing):
        return _struct(
            [
                ("SeqNo", _uint(message.seq, U32)),
                ("Node", _str(message.node)),
                ("SourceAddr", _omit(_bytes(message.source_addr), not message.source_addr)),
                ("SourcePort", _omit(_uint(message.source_port, U16), not message.source_port)),
                ("SourceNode", _omit(_str(message.source_node), not message.source_node)),
            ]
        )
    if isinstance(message, MlIndirectPing):
        return _struct(
            [
                ("SeqNo", _uint(message.seq, U32)),
                ("Target", _bytes(message.target)),
                ("Port", _uint(message.port, U16)),
                ("Node", _str(message.node)),
                ("Nack", _bool(message.nack)),
                ("SourceAddr", _omit(_bytes(message.source_addr), not message.source_addr)),
                ("SourcePort", _omit(_uint(message.source_port, U16), not message.source_port)),
                ("SourceNode", _omit(_str(message.source_node), not message.source_node)),
            ]
        )
    if isinstance(message, MlAck):
        return _struct([("SeqNo", _uint(message.seq, U32)), ("Payload", _bytes(message.payload))])
    if isinstance(message, MlNack):
        return _struct([("SeqNo", _uint(message.seq, U32))])
    if isinstance(message, MlErr):
        return _struct([("Error", _str(message.error))])
    if isinstance(message, MlSuspect | MlDead):
        return _struct(
            [
                ("Incarnation", _uint(message.incarnation, U32)),
                ("Node", _str(message.node)),
                ("From", _str(message.sender)),
            ]
        )
    if isinstance(message, MlAlive):
        return _struct(
            [
                ("Incarnation", _uint(message.incarnation, U32)),
                ("Node", _str(message.node)),
                ("Addr", _bytes(message.addr)),
                ("Port", _uint(message.port, U16)),
                ("Meta", _bytes(message.meta)),
                ("Vsn", _bytes(message.vsn)),
            ]
        )
    if isinstance(message, MlPushNodeState):
        return _struct(
            [
                ("Name", _str(message.name)),
                ("Addr", _bytes(message.addr)),
                ("Port", _uint(message.port, U16)),
                ("Meta", _bytes(message.meta)),
                ("Incarnation", _uint(message.incarnation, U32)),
                ("State", encode_int(int(message.state))),
                ("Vsn", _bytes(message.vsn)),
            ]
        )
    return message.payload


_TYPES: dict[type, MsgType] = {
    MlPing: MsgType.PING,
    MlIndirectPing: MsgType.INDIRECT_PING,
    MlAck: MsgType.ACK,
    MlNack: MsgType.NACK,
    MlErr: MsgType.ERR,
    MlSuspect: MsgType.SUSPECT,
    MlAlive: MsgType.ALIVE,
    MlDead: MsgType.DEAD,
    MlUser: MsgType.USER,
}


def encode_message(message: MlMessage) -> bytes:
    """Type byte and body of one message, as memberlist's ``encode(msgType, &msg)`` writes it."""
    return bytes((_TYPES[type(message)],)) + encode_fields(message)


def encode_header(fields: Iterable[tuple[str, int | bool]]) -> bytes:
    """A small header struct of ints and bools (push-pull, user stream, compress headers)."""
    return _struct((k, _bool(v) if isinstance(v, bool) else encode_int(v)) for k, v in fields)


def encode_compress(buf: bytes) -> bytes:
    """The ``compress`` wrapper (type byte, then ``{Algo, Buf}``) around LZW output."""
    return bytes((MsgType.COMPRESS,)) + _struct(
        [("Algo", encode_uint(LZW_ALGO)), ("Buf", _bytes(buf))]
    )
