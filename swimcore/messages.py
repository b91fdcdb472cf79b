"""The messages nodes exchange, as plain frozen values (the codec turns them into bytes).

A datagram carries one primary message (a probe, an answer, or just gossip) and any number of
piggybacked membership updates.  The reliable exchange carries a full-state snapshot.
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs

from swimcore.address import Address
from swimcore.errors import DecodeError


class State(enum.IntEnum):
    """A member's state as one node sees it."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


# Primary messages ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Ping:
    """Direct probe of ``target``; answered by an :class:`Ack` with the same ``seq``."""

    seq: int
    target: str
    source: str


@attrs.frozen(slots=True)
class IndirectPing:
    """Ask a relay to probe ``target`` at ``address`` on behalf of ``source``."""

    seq: int
    target: str
    address: Address
    source: str
    want_nack: bool = True


@attrs.frozen(slots=True)
class Ack:
    """Answer to a :class:`Ping` (or relayed answer to an :class:`IndirectPing`)."""

    seq: int


@attrs.frozen(slots=True)
class Nack:
    """A relay telling the prober that it is alive but the target did not answer it."""

    seq: int


@attrs.frozen(slots=True)
class Gossip:
    """No primary message: the datagram only carries piggybacked updates."""


@attrs.frozen(slots=True)
class UserMessage:
    """A best-effort application message from ``origin`` to the receiving node."""

    origin: str
    payload: bytes


Message = Ping | IndirectPing | Ack | Nack | Gossip | UserMessage


# Membership updates -------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Alive:
    """``name`` is alive at ``address`` with ``incarnation`` and ``meta``."""

    name: str
    address: Address
    incarnation: int
    meta: bytes = b""


@attrs.frozen(slots=True)
class Suspect:
    """``by`` suspects ``name`` at ``incarnation``."""

    name: str
    incarnation: int
    by: str


@attrs.frozen(slots=True)
class Dead:
    """``by`` declares ``name`` failed at ``incarnation``."""

    name: str
    incarnation: int
    by: str


@attrs.frozen(slots=True)
class Left:
    """``name`` left the group gracefully at ``incarnation``."""

    name: str
    incarnation: int


@attrs.frozen(slots=True)
class UserBroadcast:
    """An application payload from ``origin``; a newer ``version`` under one key wins."""

    origin: str
    key: str
    version: int
    payload: bytes


Update = Alive | Suspect | Dead | Left | UserBroadcast


@attrs.frozen(slots=True)
class Packet:
    """One datagram: the cluster label, a primary message and piggybacked updates."""

    label: str
    message: Message
    updates: tuple[Update, ...] = ()
    #: Each update's bytes as received, where the decoder keeps them (the native wire): the
    #: update's own encoding, queued for retransmission as it is.  Not part of equality.
    raw_updates: tuple[bytes, ...] = attrs.field(default=(), eq=False, repr=False)


# Reliable exchange --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class MemberState:
    """One row of a full-state snapshot."""

    name: str
    address: Address
    incarnation: int
    state: State
    meta: bytes = b""


class RowFields(Protocol):
    """What a push-pull row is encoded from: a ``MemberState``, or a member table's
    record as it stands (a snapshot of the table then needs no copy of each record)."""

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


@attrs.frozen(slots=True)
class DirectMessage:
    """A reliable application message from ``origin``, carried by the exchange."""

    label: str
    origin: str
    payload: bytes


@attrs.frozen(slots=True)
class PushPull:
    """A full-state snapshot; ``join`` marks the first exchange of a joining node.

    ``user_state`` is the application's own state carried with it (memberlist's
    ``LocalState``/``MergeRemoteState``); empty when the application has none.
    """

    label: str
    join: bool
    members: tuple[MemberState, ...]
    user_state: bytes = b""


@attrs.frozen(slots=True)
class StreamPing:
    """A probe carried by the reliable exchange: the TCP fallback of a failed UDP probe.

    The receiver answers it with an ack carrying ``seq`` (see ``Wire.encode_stream_ack``) and
    changes nothing else; ``target`` is the member it is meant for (memberlist's empty name
    means whoever receives it).
    """

    label: str
    seq: int
    target: str
    source: str


Exchange = PushPull | DirectMessage | StreamPing


class SnapshotRows(Protocol):
    """A received snapshot whose header is checked and whose rows are decoded on demand.

    A wire profile returns one for a push-pull (``open_exchange``) so that a node can decode
    a large snapshot a slice at a time between protocol work.  :meth:`take` returns the next
    rows (fewer when it meets a malformed one: then :attr:`error` says why, and reading is
    over; rows returned before stay valid, each was checked whole); :meth:`user_state` gives
    the application's state once every row was read, or raises :class:`DecodeError`.
    """

    label: str
    join: bool
    #: Rows announced, and rows not decoded yet.
    count: int
    left: int
    error: DecodeError | None

    @property
    def nbytes(self) -> int: ...

    def take(self, n: int) -> list[MemberState]: ...

    def user_state(self) -> bytes: ...

    def read_all(self) -> PushPull: ...
