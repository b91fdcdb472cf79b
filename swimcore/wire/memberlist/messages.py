"""memberlist's messages as frozen values, field for field as memberlist's Go structs carry them.

These are the wire-level records of the memberlist profile; :mod:`.profile` maps them to and
from swimcore's own messages.  Byte fields keep the raw bytes (an IP address is 4 or 16 bytes,
``vsn`` is the six version bytes); an empty byte field stands for Go's nil slice.  Numbers are
bounded as in Go: sequence numbers and incarnations are uint32, ports uint16.
"""

from __future__ import annotations

import enum

import attrs


class MsgType(enum.IntEnum):
    """The first byte of every memberlist message (memberlist's ``messageType``)."""

    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERR = 13
    HAS_LABEL = 244


class NodeState(enum.IntEnum):
    """A member's state in a push-pull row (memberlist's ``NodeStateType``)."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


#: Protocol versions this profile understands: 2 added ports to alive messages, 3 TCP pings,
#: 4 nacks, 5 the CRC prefix.  Version 1 (no ports) is not spoken.
PROTOCOL_MIN = 2
PROTOCOL_MAX = 5
#: The version memberlist speaks by default (``ProtocolVersion2Compatible``).
PROTOCOL_DEFAULT = 2
#: memberlist's limit on node metadata.
META_MAX_SIZE = 512
#: memberlist's compression algorithm number for LZW.
LZW_ALGO = 0


def vsn_bytes(
    *,
    pmin: int = PROTOCOL_MIN,
    pmax: int = PROTOCOL_MAX,
    pcur: int = PROTOCOL_DEFAULT,
    dmin: int = 0,
    dmax: int = 0,
    dcur: int = 0,
) -> bytes:
    """The six version bytes an alive message or push-pull row carries, in memberlist's order."""
    return bytes((pmin, pmax, pcur, dmin, dmax, dcur))


# UDP messages (also used on streams: ping, ack, err) -----------------------------------------


@attrs.frozen(slots=True)
class MlPing:
    """``ping``: probe of ``node`` (empty: anyone); the source fields say where to reply."""

    seq: int
    node: str
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@attrs.frozen(slots=True)
class MlIndirectPing:
    """``indirectPingReq``: ask the receiver to probe ``node`` at ``target``:``port``."""

    seq: int
    target: bytes
    port: int
    node: str
    nack: bool = False
    source_addr: bytes = b""
    source_port: int = 0
    source_node: str = ""


@attrs.frozen(slots=True)
class MlAck:
    """``ackResp``: answer to a ping, with an optional application payload."""

    seq: int
    payload: bytes = b""


@attrs.frozen(slots=True)
class MlNack:
    """``nackResp``: a relay's answer when the target of an indirect ping stayed silent."""

    seq: int


@attrs.frozen(slots=True)
class MlErr:
    """``errResp``: a stream peer reports why it refused a request."""

    error: str


@attrs.frozen(slots=True)
class MlSuspect:
    """``suspect``: ``sender`` suspects ``node`` at ``incarnation``."""

    incarnation: int
    node: str
    sender: str


@attrs.frozen(slots=True)
class MlAlive:
    """``alive``: ``node`` is alive at ``addr``:``port``; ``vsn`` holds its six version bytes."""

    incarnation: int
    node: str
    addr: bytes
    port: int
    meta: bytes = b""
    vsn: bytes = b""


@attrs.frozen(slots=True)
class MlDead:
    """``dead``: ``sender`` declares ``node`` dead; ``sender == node`` means it left."""

    incarnation: int
    node: str
    sender: str


@attrs.frozen(slots=True)
class MlUser:
    """A user message: opaque application bytes (no msgpack body)."""

    payload: bytes


MlMessage = MlPing | MlIndirectPing | MlAck | MlNack | MlErr | MlSuspect | MlAlive | MlDead | MlUser


# Stream messages -----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class MlPushNodeState:
    """``pushNodeState``: one member in a push-pull exchange."""

    name: str
    addr: bytes
    port: int
    meta: bytes
    incarnation: int
    state: NodeState
    vsn: bytes = b""


@attrs.frozen(slots=True)
class MlPushPull:
    """A push-pull exchange: header (``join``), member rows and the delegate's user state."""

    join: bool
    nodes: tuple[MlPushNodeState, ...]
    user_state: bytes = b""


@attrs.frozen(slots=True)
class MlUserStream:
    """A reliable user message sent over a stream (``userMsgHeader`` and the payload)."""

    payload: bytes


MlStreamMessage = MlPushPull | MlPing | MlAck | MlErr | MlUserStream
