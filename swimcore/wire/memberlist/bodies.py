"""Message bodies: each memberlist message as its type byte followed by a msgpack map.

Maps are keyed by the Go field names, sorted, as Go's codec writes structs; omitempty fields
are left out when zero; an empty byte field is written as nil (Go's nil slice).  Decoding
follows Go's decoder: keys may come in any order, unknown keys are skipped, missing or nil
fields are zero, integers must fit their Go type.  Everything malformed raises
:class:`~swimcore.errors.DecodeError`.
"""

from __future__ import annotations

from collections.abc import Iterable

from swimcore.errors import DecodeError
from swimcore.wire.memberlist import msgpack
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
    NodeState,
)

U16 = 0xFFFF
U32 = 0xFFFFFFFF
I64 = 2**63 - 1

_Field = tuple[str, bytes | None]


def _struct(fields: Iterable[_Field]) -> bytes:
    """A Go struct as a map: present fields, sorted by name."""
    present = sorted((k, v) for k, v in fields if v is not None)
    return msgpack.encode_map_header(len(present)) + b"".join(
        msgpack.encode_raw(k.encode()) + v for k, v in present
    )


def _uint(value: int, limit: int) -> bytes:
    if not 0 <= value <= limit:
        raise ValueError(f"{value} does not fit 0..{limit}")
    return msgpack.encode_uint(value)


def _str(text: str) -> bytes:
    return msgpack.encode_raw(text.encode())


def _bytes(data: bytes) -> bytes:
    return msgpack.encode_raw(data) if data else b"\xc0"


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
_K = {name: msgpack.encode_raw(name.encode()) for name in _KEYS}


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
                ("State", msgpack.encode_int(int(message.state))),
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
    return _struct(
        (k, _bool(v) if isinstance(v, bool) else msgpack.encode_int(v)) for k, v in fields
    )


def encode_compress(buf: bytes) -> bytes:
    """The ``compress`` wrapper (type byte, then ``{Algo, Buf}``) around LZW output."""
    return bytes((MsgType.COMPRESS,)) + _struct(
        [("Algo", msgpack.encode_uint(LZW_ALGO)), ("Buf", _bytes(buf))]
    )


# Decoding -----------------------------------------------------------------------------------


class Fields:
    """Typed access to a decoded struct map, with Go's zero values for missing or nil fields."""

    __slots__ = ("_map", "_what")

    def __init__(self, value: msgpack.Value, what: str) -> None:
        if not isinstance(value, dict):
            raise DecodeError(f"{what}: expected a map")
        self._map = value
        self._what = what

    def _get(self, key: str) -> msgpack.Value:
        return self._map.get(key)

    def uint(self, key: str, limit: int) -> int:
        value = self._get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise DecodeError(f"{self._what}.{key}: expected an integer within 0..{limit}")
        return value

    def int(self, key: str) -> int:
        value = self._get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not -I64 - 1 <= value <= I64:
            raise DecodeError(f"{self._what}.{key}: expected an integer")
        return value

    def raw(self, key: str) -> bytes:
        value = self._get(key)
        if value is None:
            return b""
        if not isinstance(value, bytes):
            raise DecodeError(f"{self._what}.{key}: expected bytes")
        return value

    def text(self, key: str) -> str:
        try:
            return self.raw(key).decode()
        except UnicodeDecodeError:
            raise DecodeError(f"{self._what}.{key}: not UTF-8") from None

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise DecodeError(f"{self._what}.{key}: expected a boolean")
        return value


def read_struct(reader: msgpack.Reader, what: str) -> Fields:
    """Decode the next msgpack value from ``reader`` as a struct map."""
    return Fields(reader.value(), what)


def decode_body(kind: int, body: bytes) -> MlMessage:
    """Decode the body of a message of type ``kind`` (what follows the type byte).

    As Go's decoder does, bytes after the first msgpack value are ignored.
    """
    if kind == MsgType.USER:
        return MlUser(body)
    reader = msgpack.Reader(body)
    try:
        kind = MsgType(kind)
    except ValueError:
        raise DecodeError(f"unknown message type {kind}") from None
    if kind is MsgType.PING:
        f = read_struct(reader, "ping")
        return MlPing(
            f.uint("SeqNo", U32),
            f.text("Node"),
            f.raw("SourceAddr"),
            f.uint("SourcePort", U16),
            f.text("SourceNode"),
        )
    if kind is MsgType.INDIRECT_PING:
        f = read_struct(reader, "indirect ping")
        return MlIndirectPing(
            f.uint("SeqNo", U32),
            f.raw("Target"),
            f.uint("Port", U16),
            f.text("Node"),
            f.flag("Nack"),
            f.raw("SourceAddr"),
            f.uint("SourcePort", U16),
            f.text("SourceNode"),
        )
    if kind is MsgType.ACK:
        f = read_struct(reader, "ack")
        return MlAck(f.uint("SeqNo", U32), f.raw("Payload"))
    if kind is MsgType.NACK:
        return MlNack(read_struct(reader, "nack").uint("SeqNo", U32))
    if kind is MsgType.ERR:
        return MlErr(read_struct(reader, "err").text("Error"))
    if kind is MsgType.SUSPECT:
        f = read_struct(reader, "suspect")
        return MlSuspect(f.uint("Incarnation", U32), f.text("Node"), f.text("From"))
    if kind is MsgType.DEAD:
        f = read_struct(reader, "dead")
        return MlDead(f.uint("Incarnation", U32), f.text("Node"), f.text("From"))
    if kind is MsgType.ALIVE:
        f = read_struct(reader, "alive")
        return MlAlive(
            f.uint("Incarnation", U32),
            f.text("Node"),
            f.raw("Addr"),
            f.uint("Port", U16),
            f.raw("Meta"),
            f.raw("Vsn"),
        )
    raise DecodeError(f"message type {kind.name.lower()} has no plain body")


def decode_node_state(reader: msgpack.Reader) -> MlPushNodeState:
    """The next push-pull row from a stream."""
    f = read_struct(reader, "push node state")
    raw_state = f.int("State")
    try:
        state = NodeState(raw_state)
    except ValueError:
        raise DecodeError(f"unknown node state {raw_state}") from None
    return MlPushNodeState(
        f.text("Name"),
        f.raw("Addr"),
        f.uint("Port", U16),
        f.raw("Meta"),
        f.uint("Incarnation", U32),
        state,
        f.raw("Vsn"),
    )


def decode_compress(body: bytes) -> bytes:
    """The LZW bytes inside a ``compress`` wrapper body (after its type byte)."""
    return compressed_buf(msgpack.Reader(body).value())


def compressed_buf(value: msgpack.Value) -> bytes:
    """The LZW bytes of a decoded ``compress`` struct."""
    f = Fields(value, "compress")
    algo = f.uint("Algo", 255)
    if algo != LZW_ALGO:
        raise DecodeError(f"unknown compression algorithm {algo}")
    return f.raw("Buf")
