"""What the node asks of its driver: datagrams to send, exchanges to carry, events to report.

Every input method of :class:`~swimcore.node.Node` returns a list of these frozen values, in the
order the driver should carry them out.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from swimcore.address import Address
from swimcore.errors import JoinError
from swimcore.messages import State


@attrs.frozen(slots=True)
class MemberInfo:
    """A read-only view of one member as this node sees it."""

    name: str
    address: Address
    incarnation: int
    state: State
    meta: bytes = b""


# Transport actions --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Send:
    """Send ``data`` as one UDP datagram to ``to``."""

    to: Address
    data: bytes


class Outgoing:
    """The bytes of one side of a reliable exchange, built a bounded step at a time.

    A full-state snapshot costs time linear in the table (on memberlist's compressed wire,
    seconds for tens of thousands of members): built in one go it would hold the driver's
    loop, and every probe waiting on it.  A driver calls :meth:`step` once per turn of its
    loop until it returns ``True``, then writes :attr:`data`; a step encodes at most a few
    hundred rows.  Reading :attr:`data` earlier builds what is left at once (as
    :meth:`Node.handle_exchange <swimcore.Node.handle_exchange>` and the simulator do).
    Steps read the node's table: run them where its inputs run (the thread that owns it).
    """

    __slots__ = ("_data", "_next")

    def __init__(self, data: bytes | Callable[[], bytes | None]) -> None:
        """``data``: the bytes, or a function making one step, which returns the bytes once
        they are built (``None`` before)."""
        self._data: bytes | None = None
        self._next: Callable[[], bytes | None] | None = None
        if isinstance(data, bytes):
            self._data = data
        else:
            self._next = data

    def __repr__(self) -> str:
        built = "pending" if self._data is None else f"{len(self._data)} bytes"
        return f"<Outgoing {built}>"

    @property
    def done(self) -> bool:
        """Whether the bytes are built."""
        return self._data is not None

    def step(self) -> bool:
        """Build one step; whether the bytes are now built."""
        if self._data is None and self._next is not None:
            self._data = self._next()
            if self._data is not None:
                self._next = None
        return self._data is not None

    @property
    def data(self) -> bytes:
        """The bytes (what is left of them built now)."""
        while self._data is None:
            self.step()
        return self._data


@attrs.frozen(slots=True)
class ExchangeRequest:
    """Carry ``data`` reliably (TCP) to ``to`` and feed the reply back with ``exchange_id``.

    The driver calls :meth:`Node.exchange_reply` with the reply, or
    :meth:`Node.exchange_failed` when the peer cannot be reached in time.

    The bytes may be built once connected, a step at a time (:attr:`outgoing`): a full-state
    snapshot costs O(members), and an exchange with a peer that refuses the connection (a
    reconnect to a member believed dead, usually) needs none.  Drivers build them once
    connected, in the thread that runs the node; the snapshot is then the node's state at that
    moment.  :attr:`data` builds them all at once.
    """

    exchange_id: int
    to: Address
    _payload: bytes | Outgoing = attrs.field(alias="data", eq=False, repr=False)

    @property
    def outgoing(self) -> Outgoing:
        """The bytes to carry, to build a step at a time (see :class:`Outgoing`)."""
        payload = self._payload
        return payload if isinstance(payload, Outgoing) else Outgoing(payload)

    @property
    def data(self) -> bytes:
        """The bytes to carry (built now, if they were not yet)."""
        payload = self._payload
        return payload if isinstance(payload, bytes) else payload.data


# Membership events --------------------------------------------------------------------------


@attrs.frozen(slots=True)
class MemberJoined:
    """A member appeared (or came back after being dead or left)."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberSuspected:
    """A member is suspected of having failed; it has the suspicion timeout to refute."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberAlive:
    """A suspected member refuted the suspicion (alive again)."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberFailed:
    """A member was declared dead after its suspicion timed out."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberLeft:
    """A member left the group gracefully."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberUpdated:
    """A member's metadata or address changed."""

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberUnstable:
    """A member keeps being accused and refuting: stop routing to it (flap damping).

    Reported once, when its penalty reaches ``Config.stability_suppress``; until
    :class:`MemberStable` its further suspicions and refutations are not reported (it may
    still be declared dead, reported as :class:`MemberFailed`).
    """

    member: MemberInfo


@attrs.frozen(slots=True)
class MemberStable:
    """An unstable member has been alive and quiet long enough: route to it again.

    It also readmits a member reported :class:`MemberFailed` that came back while unstable
    (in place of :class:`MemberJoined`); until then its further deaths and returns are not
    reported again.
    """

    member: MemberInfo


@attrs.frozen(slots=True)
class BroadcastReceived:
    """A user broadcast from ``origin`` reached this node (once per key and version)."""

    origin: str
    key: str
    payload: bytes


@attrs.frozen(slots=True)
class MessageReceived:
    """A direct message from ``origin`` reached this node (``reliable`` if by exchange)."""

    origin: str
    payload: bytes
    reliable: bool


@attrs.frozen(slots=True)
class MessageDelivered:
    """The reliable direct message sent with ``exchange_id`` was acknowledged by ``to``."""

    exchange_id: int
    to: str


@attrs.frozen(slots=True)
class MessageFailed:
    """The reliable direct message sent with ``exchange_id`` could not be delivered."""

    exchange_id: int
    to: str
    reason: str


@attrs.frozen(slots=True)
class LeaderChanged:
    """The best-effort leader (alive member with the highest address) changed in this view."""

    leader: MemberInfo


@attrs.frozen(slots=True)
class JoinAddress:
    """This node believes it is the leader: store ``address`` where new nodes look for it."""

    address: Address


@attrs.frozen(slots=True)
class JoinFailed:
    """A join attempt through ``seed`` failed; the node retries while it is alone."""

    seed: Address
    reason: str


@attrs.frozen(slots=True)
class JoinResult:
    """A join attempt is over: every seed of it answered or failed.

    ``reached`` are the seeds whose state was merged, ``failures`` the others with the reason.
    ``error`` is a :class:`~swimcore.errors.JoinError` when no seed was reached (the node
    retries while it is alone), ``None`` otherwise.
    """

    reached: tuple[Address, ...]
    failures: tuple[tuple[Address, str], ...]

    @property
    def error(self) -> JoinError | None:
        return None if self.reached else JoinError(self.failures)


@attrs.frozen(slots=True)
class RoundTrip:
    """A direct probe of ``name`` at ``address`` was answered after ``rtt`` seconds.

    Emitted only with ``Config.report_round_trips`` (memberlist's ping delegate), so that an
    application can keep a latency table and route by it.  Acks through a relay are not
    round trips to the member and are not reported.
    """

    name: str
    address: Address
    rtt: float


@attrs.frozen(slots=True)
class ExchangeRefused:
    """This member refused a peer's exchange (a join or a push-pull) and told it why.

    ``reason`` is ``"foreign_label"`` (the peer's group label is not ours; ``detail`` names
    it) or ``"auth_failed"`` (its payload did not open with our keys, or it sent plaintext to
    an encrypted group, or the reverse).  Reported once per reason and detail within
    :data:`swimcore.refusals.REPORT_WINDOW` seconds; every refusal is counted.
    """

    reason: str
    detail: str


@attrs.frozen(slots=True)
class NameConflict:
    """Two addresses claim one member name.

    ``address`` is where this view holds ``name``; ``other`` is the address news claims for
    it.  ``local`` is true when ``name`` is this member's own (another process runs with the
    same name), false when the conflict is between two other members.  Reported once per
    name and address within :data:`swimcore.refusals.REPORT_WINDOW` seconds.
    """

    name: str
    address: Address
    other: Address
    local: bool


MembershipEvent = (
    MemberJoined
    | MemberSuspected
    | MemberAlive
    | MemberFailed
    | MemberLeft
    | MemberUpdated
    | MemberUnstable
    | MemberStable
)
#: What a node asks its driver to do: send a datagram, carry a reliable exchange.
Command = Send | ExchangeRequest

#: What a node tells the application: every action that is not a :data:`Command`.  This is
#: what the drivers' ``events()`` and ``on_event`` callbacks deliver.
Event = (
    MembershipEvent
    | BroadcastReceived
    | MessageReceived
    | MessageDelivered
    | MessageFailed
    | LeaderChanged
    | JoinAddress
    | JoinFailed
    | ExchangeRefused
    | NameConflict
    | RoundTrip
    | JoinResult
)

#: Everything a node returns from an input: commands for the driver and events.
Action = Command | Event
