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
from swimcore.wire.memberlist import packing
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

_pack = packing.pack
_Field = tuple[str, "packing.Value | str"]


def _struct(fields: Iterable[_Field]) -> bytes:
    """A Go struct as a map: its fields sorted by name (omitted ones are not in ``fields``)."""
    return _pack(dict(sorted(fields)))


def _uint(value: int, limit: int) -> int:
    if not 0 <= value <= limit:
        raise ValueError(f"{value} does not fit 0..{limit}")
    return value


def _bytes(data: bytes) -> bytes | None:
    """A byte slice: an empty one is Go's nil slice."""
    return data or None


# Encoding -----------------------------------------------------------------------------------


def encode_fields(message: MlMessage | MlPushNodeState) -> bytes:
    """The msgpack map of a message (without its type byte); user messages are raw bytes."""
    # The messages gossip is made of, written directly with their keys in sorted order.
    if isinstance(message, MlAlive):
        return _pack(
            {
                "Addr": message.addr or None,
                "Incarnation": _uint(message.incarnation, U32),
                "Meta": message.meta or None,
                "Node": message.node,
                "Port": _uint(message.port, U16),
                "Vsn": message.vsn or None,
            }
        )
    if isinstance(message, MlSuspect | MlDead):
        return _pack(
            {
                "From": message.sender,
                "Incarnation": _uint(message.incarnation, U32),
                "Node": message.node,
            }
        )
    if isinstance(message, MlAck):
        return _pack({"Payload": message.payload or None, "SeqNo": _uint(message.seq, U32)})
    if isinstance(message, MlNack):
        return _pack({"SeqNo": _uint(message.seq, U32)})
    if isinstance(message, MlPushNodeState):
        return _pack(
            {
                "Addr": message.addr or None,
                "Incarnation": _uint(message.incarnation, U32),
                "Meta": message.meta or None,
                "Name": message.name,
                "Port": _uint(message.port, U16),
                "State": int(message.state),
                "Vsn": message.vsn or None,
            }
        )
    return _encode_generic(message)


def _omitempty(fields: list[_Field], optional: Iterable[_Field]) -> list[_Field]:
    """``fields`` and those of ``optional`` that are not zero (Go's ``omitempty``)."""
    return fields + [(k, v) for k, v in optional if v]


def _encode_generic(message: MlMessage | MlPushNodeState) -> bytes:
    if isinstance(message, MlPing):
        return _struct(
            _omitempty(
                [("SeqNo", _uint(message.seq, U32)), ("Node", message.node)],
                [
                    ("SourceAddr", message.source_addr),
                    ("SourcePort", _uint(message.source_port, U16)),
                    ("SourceNode", message.source_node),
                ],
            )
        )
    if isinstance(message, MlIndirectPing):
        return _struct(
            _omitempty(
                [
                    ("SeqNo", _uint(message.seq, U32)),
                    ("Target", _bytes(message.target)),
                    ("Port", _uint(message.port, U16)),
                    ("Node", message.node),
                    ("Nack", message.nack),
                ],
                [
                    ("SourceAddr", message.source_addr),
                    ("SourcePort", _uint(message.source_port, U16)),
                    ("SourceNode", message.source_node),
                ],
            )
        )
    if isinstance(message, MlErr):
        return _pack({"Error": message.error})
    if isinstance(message, MlUser):
        return message.payload
    raise TypeError(f"cannot encode {type(message).__name__}")


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
    return _struct(fields)


def encode_compress(buf: bytes) -> bytes:
    """The ``compress`` wrapper (type byte, then ``{Algo, Buf}``) around LZW output."""
    return bytes((MsgType.COMPRESS,)) + _pack({"Algo": LZW_ALGO, "Buf": _bytes(buf)})


# Decoding -----------------------------------------------------------------------------------


class Fields:
    """Typed access to a decoded struct map, with Go's zero values for missing or nil fields."""

    __slots__ = ("_map", "_what")

    def __init__(self, value: packing.Value, what: str) -> None:
        if not isinstance(value, dict):
            raise DecodeError(f"{what}: expected a map")
        self._map = value
        self._what = what

    def _get(self, key: bytes) -> packing.Value:
        return self._map.get(key)

    def _name(self, key: bytes) -> str:
        return f"{self._what}.{key.decode()}"

    def uint(self, key: bytes, limit: int) -> int:
        value = self._get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise DecodeError(f"{self._name(key)}: expected an integer within 0..{limit}")
        return value

    def int(self, key: bytes) -> int:
        value = self._get(key)
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or not -I64 - 1 <= value <= I64:
            raise DecodeError(f"{self._name(key)}: expected an integer")
        return value

    def raw(self, key: bytes) -> bytes:
        value = self._get(key)
        if value is None:
            return b""
        if not isinstance(value, bytes):
            raise DecodeError(f"{self._name(key)}: expected bytes")
        return value

    def text(self, key: bytes) -> str:
        try:
            return self.raw(key).decode()
        except UnicodeDecodeError:
            raise DecodeError(f"{self._name(key)}: not UTF-8") from None

    def flag(self, key: bytes) -> bool:
        value = self._get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise DecodeError(f"{self._name(key)}: expected a boolean")
        return value


def read_struct(reader: packing.Reader, what: str) -> Fields:
    """Decode the next msgpack value from ``reader`` as a struct map."""
    return Fields(reader.value(), what)


def decode_body(kind: int, body: bytes) -> MlMessage:
    """Decode the body of a message of type ``kind`` (what follows the type byte).

    As Go's decoder does, bytes after the first msgpack value are ignored.
    """
    if kind == MsgType.USER:
        return MlUser(body)
    try:
        kind = MsgType(kind)
    except ValueError:
        raise DecodeError(f"unknown message type {kind}") from None
    if kind is MsgType.PING:
        f = Fields(packing.decode_first(body), "ping")
        return MlPing(
            f.uint(b"SeqNo", U32),
            f.text(b"Node"),
            f.raw(b"SourceAddr"),
            f.uint(b"SourcePort", U16),
            f.text(b"SourceNode"),
        )
    if kind is MsgType.INDIRECT_PING:
        f = Fields(packing.decode_first(body), "indirect ping")
        return MlIndirectPing(
            f.uint(b"SeqNo", U32),
            f.raw(b"Target"),
            f.uint(b"Port", U16),
            f.text(b"Node"),
            f.flag(b"Nack"),
            f.raw(b"SourceAddr"),
            f.uint(b"SourcePort", U16),
            f.text(b"SourceNode"),
        )
    if kind is MsgType.ACK:
        f = Fields(packing.decode_first(body), "ack")
        return MlAck(f.uint(b"SeqNo", U32), f.raw(b"Payload"))
    if kind is MsgType.NACK:
        return MlNack(Fields(packing.decode_first(body), "nack").uint(b"SeqNo", U32))
    if kind is MsgType.ERR:
        return MlErr(Fields(packing.decode_first(body), "err").text(b"Error"))
    if kind is MsgType.SUSPECT:
        f = Fields(packing.decode_first(body), "suspect")
        return MlSuspect(f.uint(b"Incarnation", U32), f.text(b"Node"), f.text(b"From"))
    if kind is MsgType.DEAD:
        f = Fields(packing.decode_first(body), "dead")
        return MlDead(f.uint(b"Incarnation", U32), f.text(b"Node"), f.text(b"From"))
    if kind is MsgType.ALIVE:
        f = Fields(packing.decode_first(body), "alive")
        return MlAlive(
            f.uint(b"Incarnation", U32),
            f.text(b"Node"),
            f.raw(b"Addr"),
            f.uint(b"Port", U16),
            f.raw(b"Meta"),
            f.raw(b"Vsn"),
        )
    raise DecodeError(f"message type {kind.name.lower()} has no plain body")


def decode_node_state(reader: packing.Reader) -> MlPushNodeState:
    """The next push-pull row from a stream."""
    f = read_struct(reader, "push node state")
    raw_state = f.int(b"State")
    try:
        state = NodeState(raw_state)
    except ValueError:
        raise DecodeError(f"unknown node state {raw_state}") from None
    return MlPushNodeState(
        f.text(b"Name"),
        f.raw(b"Addr"),
        f.uint(b"Port", U16),
        f.raw(b"Meta"),
        f.uint(b"Incarnation", U32),
        state,
        f.raw(b"Vsn"),
    )


def decode_compress(body: bytes) -> bytes:
    """The LZW bytes inside a ``compress`` wrapper body (after its type byte)."""
    return compressed_buf(packing.decode_first(body))


def compressed_buf(value: packing.Value) -> bytes:
    """The LZW bytes of a decoded ``compress`` struct."""
    f = Fields(value, "compress")
    algo = f.uint(b"Algo", 255)
    if algo != LZW_ALGO:
        raise DecodeError(f"unknown compression algorithm {algo}")
    return f.raw(b"Buf")
