"""Message bodies: each memberlist message as its type byte followed by a msgpack map.

Maps are keyed by the Go field names, sorted, as Go's codec writes structs; omitempty fields
are left out when zero; an empty byte field is written as nil (Go's nil slice).  Decoding
follows Go's decoder: keys may come in any order, unknown keys are skipped, missing or nil
fields are zero, integers must fit their Go type.  Everything malformed raises
:class:`~swimcore.errors.DecodeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

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
    """Typed access to a decoded struct map, with Go's zero values for missing or nil fields.

    Each accessor checks the common case (a value of the right type) first: decoding gossip
    is on every datagram's path.
    """

    __slots__ = ("_map", "_what")

    def __init__(self, value: packing.Value, what: str) -> None:
        if type(value) is not dict:
            raise DecodeError(f"{what}: expected a map")
        self._map = value
        self._what = what

    def _name(self, key: bytes) -> str:
        return f"{self._what}.{key.decode()}"

    def uint(self, key: bytes, limit: int) -> int:
        value = self._map.get(key)
        if type(value) is int and 0 <= value <= limit:  # bool is not int here
            return value
        if value is None:
            return 0
        raise DecodeError(f"{self._name(key)}: expected an integer within 0..{limit}")

    def int(self, key: bytes) -> int:
        value = self._map.get(key)
        if type(value) is int and -I64 - 1 <= value <= I64:
            return value
        if value is None:
            return 0
        raise DecodeError(f"{self._name(key)}: expected an integer")

    def raw(self, key: bytes) -> bytes:
        value = self._map.get(key)
        if type(value) is bytes:
            return value
        if value is None:
            return b""
        raise DecodeError(f"{self._name(key)}: expected bytes")

    def text(self, key: bytes) -> str:
        value = self._map.get(key)
        if type(value) is bytes:
            try:
                return value.decode()
            except UnicodeDecodeError:
                raise DecodeError(f"{self._name(key)}: not UTF-8") from None
        if value is None:
            return ""
        raise DecodeError(f"{self._name(key)}: expected bytes")

    def flag(self, key: bytes) -> bool:
        value = self._map.get(key)
        if value is None:
            return False
        if type(value) is not bool:
            raise DecodeError(f"{self._name(key)}: expected a boolean")
        return value


def read_struct(reader: packing.Reader, what: str) -> Fields:
    """Decode the next msgpack value from ``reader`` as a struct map."""
    return Fields(reader.value(), what)


def _ping(f: Fields) -> MlPing:
    return MlPing(
        f.uint(b"SeqNo", U32),
        f.text(b"Node"),
        f.raw(b"SourceAddr"),
        f.uint(b"SourcePort", U16),
        f.text(b"SourceNode"),
    )


def _indirect_ping(f: Fields) -> MlIndirectPing:
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


def _ack(f: Fields) -> MlAck:
    return MlAck(f.uint(b"SeqNo", U32), f.raw(b"Payload"))


def _nack(f: Fields) -> MlNack:
    return MlNack(f.uint(b"SeqNo", U32))


def _err(f: Fields) -> MlErr:
    return MlErr(f.text(b"Error"))


def _suspect(f: Fields) -> MlSuspect:
    return MlSuspect(f.uint(b"Incarnation", U32), f.text(b"Node"), f.text(b"From"))


def _dead(f: Fields) -> MlDead:
    return MlDead(f.uint(b"Incarnation", U32), f.text(b"Node"), f.text(b"From"))


def _alive(f: Fields) -> MlAlive:
    return MlAlive(
        f.uint(b"Incarnation", U32),
        f.text(b"Node"),
        f.raw(b"Addr"),
        f.uint(b"Port", U16),
        f.raw(b"Meta"),
        f.raw(b"Vsn"),
    )


#: The messages with a plain struct body: type byte -> (name in errors, reader of the struct).
_BODIES: dict[int, tuple[str, Callable[[Fields], MlMessage]]] = {
    MsgType.PING: ("ping", _ping),
    MsgType.INDIRECT_PING: ("indirect ping", _indirect_ping),
    MsgType.ACK: ("ack", _ack),
    MsgType.NACK: ("nack", _nack),
    MsgType.ERR: ("err", _err),
    MsgType.SUSPECT: ("suspect", _suspect),
    MsgType.DEAD: ("dead", _dead),
    MsgType.ALIVE: ("alive", _alive),
}


def decode_body(kind: int, body: bytes) -> MlMessage:
    """Decode the body of a message of type ``kind`` (what follows the type byte).

    As Go's decoder does, bytes after the first msgpack value are ignored.
    """
    plain = _BODIES.get(kind)
    if plain is not None:
        what, read = plain
        return read(Fields(packing.decode_first(body), what))
    if kind == MsgType.USER:
        return MlUser(body)
    try:
        name = MsgType(kind).name.lower()
    except ValueError:
        raise DecodeError(f"unknown message type {kind}") from None
    raise DecodeError(f"message type {name} has no plain body")


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
