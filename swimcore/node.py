"""The node: one member's SWIM + Lifeguard state machine, with no I/O.

:class:`Node` is the public hub: inputs, queries, the outbox of actions, counters, timers and
the receive path.  The mechanics live in private modules by concern, as parts of the node:
probing (``swimcore._probing``), membership news and suspicion
(``swimcore._membership``), and exchanges: joins, anti-entropy, snapshots
(``swimcore._exchanges``); what they share is in ``swimcore._node_base``.

Inputs are method calls that take ``now`` (monotonic seconds, from the driver's clock) and
return the actions the driver must carry out.  Nothing here reads a clock, opens a socket or
touches global randomness; the same config, seed and inputs give byte-identical outputs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence

from swimcore import antientropy, ingest, refusals
from swimcore import counter_names as cn
from swimcore._compiling import mypyc_attr
from swimcore._exchanges import Exchanges
from swimcore._frozen import new, slot_setters
from swimcore._inputs import as_bytes, refuse_single_seed, require_callable, utf8_size
from swimcore._membership import Membership
from swimcore._node_base import (
    _ALIVE,
    _DIGEST,
    _JOIN,
    _LIVE,
    _MESSAGE,
    _PING,
    _SEQ_MASK,
    _USER_PREFIX,
    _VETOED,
    DEBUG,
    GOSSIP_TIMER,
    INFO,
    JOIN_BACKOFF_MAX,
    MAX_INCARNATION,
    MAX_INCARNATION_STEP,
    MAX_NOW,
    MAX_PENDING_EXCHANGES,
    MERGE_PAUSE,
    MERGE_SLICE,
    ROW_OVERHEAD,
    LogSink,
    Timer,
    _Relay,
)
from swimcore._probing import Probing
from swimcore.actions import (
    Action,
    MemberInfo,
    MembershipEvent,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    Outgoing,
    Send,
)
from swimcore.address import Address
from swimcore.awareness import Awareness
from swimcore.broadcasts import BroadcastVersions
from swimcore.config import Config
from swimcore.dissemination import BroadcastQueue
from swimcore.errors import AddressError, ClockError, ConfigError, DecodeError, StateError
from swimcore.join_round import JoinRound
from swimcore.keyring import Keyring
from swimcore.leader import LeaderRanks
from swimcore.members import Member, MemberTable, new_table
from swimcore.messages import (
    Ack,
    Alive,
    DirectMessage,
    Gossip,
    IndirectPing,
    Left,
    Message,
    Nack,
    Ping,
    PushPull,
    State,
    StreamPing,
    Update,
    UserBroadcast,
    UserMessage,
)
from swimcore.roster import Roster, RosterTable
from swimcore.stability import Stability
from swimcore.suspicion import Suspicion
from swimcore.timers import TimerHeap
from swimcore.timing import nack_delay, retransmit_scale
from swimcore.transitions import IGNORE, judge
from swimcore.wire import Wire
from swimcore.wire.loading import for_node
from swimcore.wire.native import codec

#: Gossip grid points stepped one at a time when the timer is armed after a quiet spell (the
#: sums then match a timer that kept firing exactly); beyond, the spell is jumped in one product.
_GOSSIP_STEPS = 4096
#: The ``sent.<kind>`` and ``received.<kind>`` counters of each primary message (named once,
#: not per packet).
_SENT_NAMES: dict[type, str] = {
    kind: cn.SENT_PREFIX + kind.__name__.lower()
    for kind in (Ping, Ack, Nack, IndirectPing, Gossip, UserMessage)
}
_SENT_ACK = _SENT_NAMES[Ack]
#: A Send's slots, set directly for each datagram sent (see swimcore._frozen).
_SET_SEND_TO, _SET_SEND_DATA = slot_setters(Send, "to", "data")
_RECEIVED_NAMES: dict[type, str] = {
    kind: cn.RECEIVED_PREFIX + kind.__name__.lower()
    for kind in (Ping, Ack, Nack, IndirectPing, Gossip, UserMessage)
}

__all__ = [
    "JOIN_BACKOFF_MAX",
    "MAX_INCARNATION",
    "MAX_INCARNATION_STEP",
    "MAX_NOW",
    "MAX_PENDING_EXCHANGES",
    "MERGE_PAUSE",
    "MERGE_SLICE",
    "LogSink",
    "Node",
    "Timer",
]


def _check_now(now: object) -> None:
    """Raise :class:`ClockError` unless ``now`` is a finite number of seconds within ±2**40."""
    if not (isinstance(now, int | float) and math.isfinite(now) and abs(now) <= MAX_NOW):
        raise ClockError(f"now must be a finite number of seconds within ±2**40, got {now!r}")


@mypyc_attr(allow_interpreted_subclasses=True)
class Node(Probing, Membership, Exchanges):
    """One member of a SWIM group.

    ``address`` is the address other members reach this node at (never ``0.0.0.0``); ``name``
    defaults to ``"host:port"``.  ``seed`` is an integer or a ``random.Random`` that supplies all
    of the node's randomness.  ``incarnation`` lets a restarting process start above what the
    group may remember of its previous life (it also refutes automatically if it must).
    ``keyring`` turns on authenticated encryption of every packet and exchange; the driver may
    share one keyring between nodes and rotate keys on it at run time.
    ``log`` receives membership changes at INFO and protocol detail at DEBUG.
    ``admit`` (memberlist's alive delegate) is asked about each member before it first enters
    the table, for example to require a metadata tag; a refused member is not added nor
    gossiped on (``dropped.not_admitted``).  ``admit_merge`` (memberlist's merge delegate) sees
    every row of a full-state exchange before it is merged and may refuse all of it: a refused
    request is answered with a refusal, a refused reply fails the join (``merges_vetoed``).
    Either callback raising counts as a refusal (``admission_errors``).
    ``local_state(join)`` supplies the application's bytes for each full-state exchange this
    node sends (or answers) and ``merge_state(data, join)`` receives what a peer's carried
    (memberlist's ``LocalState`` and ``MergeRemoteState``; on the memberlist wire this is the
    user-state field Go nodes send).  Their failures are counted (``state_errors``).
    """

    # Fixed slots, not a dictionary: CPython 3.11 shares the keys of instances' dictionaries up to
    # 29 attributes, so each node (53) had a table of its own (1.6 KiB), and every
    # attribute read went through it (in a 10,000-node simulation, cache misses).
    __slots__ = (
        "_admit",
        "_admit_merge",
        "_arrived",
        "_arrived_raw",
        "_awareness",
        "_broadcasts",
        "_corrections",
        "_counters",
        "_dead",
        "_digests",
        "_envelope",
        "_exchange_seq",
        "_exchanges",
        "_gossip_at",
        "_header",
        "_heard",
        "_incarnation_step",
        "_ingests",
        "_join_backoff",
        "_join_round",
        "_keyring",
        "_leader",
        "_leaving",
        "_limits",
        "_log",
        "_nack_delay",
        "_name",
        "_now",
        "_out",
        "_periods",
        "_probe",
        "_queue",
        "_ranks",
        "_recent_dead",
        "_refusal",
        "_relays",
        "_reports",
        "_rng",
        "_room",
        "_seed_names",
        "_seed_waits",
        "_seeds",
        "_seq",
        "_stability",
        "_started",
        "_state_in",
        "_state_out",
        "_suspicions",
        "_table",
        "_timers",
        "_verifications",
        "_wire",
        "_withheld",
        "config",
    )

    def __init__(
        self,
        config: Config,
        address: Address,
        *,
        name: str | None = None,
        meta: bytes = b"",
        seed: int | random.Random = 0,
        incarnation: int = 0,
        keyring: Keyring | None = None,
        log: LogSink | None = None,
        admit: Callable[[MemberInfo], bool] | None = None,
        admit_merge: Callable[[Sequence[MemberInfo]], bool] | None = None,
        local_state: Callable[[bool], bytes] | None = None,
        merge_state: Callable[[bytes, bool], object] | None = None,
    ) -> None:
        if address.is_unspecified:
            raise ConfigError(
                f"cannot advertise {address}: give the address other members reach this node at"
            )
        name = str(address) if name is None else name
        size = utf8_size(name)
        if not size or size > codec.MAX_NAME_BYTES or name.startswith("\x00"):
            raise ConfigError(f"name must be 1..{codec.MAX_NAME_BYTES} UTF-8 bytes, got {name!r}")
        meta = as_bytes(meta, "meta")
        self._check_meta(config, meta)
        for hook, what in (
            (admit, "admit"),
            (admit_merge, "admit_merge"),
            (local_state, "local_state"),
            (merge_state, "merge_state"),
        ):
            require_callable(hook, what, optional=True)
        if (
            isinstance(incarnation, bool)
            or not isinstance(incarnation, int)
            or not 0 <= incarnation <= MAX_INCARNATION_STEP
        ):
            # Peers take news of an unknown member only up to this (MAX_INCARNATION_STEP).
            raise ConfigError(
                f"incarnation must be an integer within 0..2**32, got {incarnation!r}"
            )
        self.config = config
        self._rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self._wire = for_node(config, name, address, keyring, self._rng)
        self._header = self._wire.header
        self._incarnation_step = self._wire.INCARNATION_STEP
        self._envelope = self._wire.envelope
        #: Bytes of a datagram past its header (the wire's overhead may change: memberlist's).
        self._room = config.max_packet - len(self._header)
        local = Member(name, address, incarnation, State.ALIVE, meta)
        self._table: MemberTable = new_table(local, self._rng)
        self._name = name
        self._queue = BroadcastQueue(config.max_broadcasts)
        self._timers: TimerHeap[tuple[Timer, int, str]] = TimerHeap()
        self._awareness = Awareness(config.awareness_max, enabled=config.lifeguard_awareness)
        self._suspicions: dict[str, Suspicion] = {}
        #: When a packet from another member last decoded (the health gate's evidence that
        #: others still reach this node).
        self._heard = -math.inf
        # member -> probes of it in a row whose accusation the health gate withheld.
        self._withheld: dict[str, int] = {}
        self._stability = Stability(config)
        self._relays: dict[int, _Relay] = {}
        self._nack_delay = nack_delay(config)
        self._verifications: dict[int, str] = {}
        self._recent_dead: dict[str, float] = {}
        self._exchanges: dict[int, tuple[Address, int, str]] = {}
        self._dead: dict[str, None] = {}
        self._keyring = keyring
        self._log = log
        # A memberlist user message (no key, no version) repeats within this window only as
        # the same news circulating; later, the same payload is news again.
        window = max(config.gossip_to_the_dead_time, 30 * config.probe_interval)
        self._broadcasts = BroadcastVersions(config.max_broadcasts, window)
        self._seeds: list[Address] = []
        #: The member last seen at each seed's address (kept as news arrives: O(1) a check).
        self._seed_names: dict[Address, str] = {}
        #: A seed missing from the view -> (rounds before a member other than the leader tries
        #: it again, the gap after that try): the seed path's backoff (_reconnect), started
        #: again by each join.
        self._seed_waits: dict[Address, tuple[int, int]] = {}
        self._probe = None
        #: The next gossip round's time while the gossip timer is not armed (_arm_gossip).
        self._gossip_at: float | None = None
        self._seq = 0
        self._exchange_seq = 0
        #: Periodic push-pull starts with a digest (antientropy) on the native wire only:
        #: memberlist peers know only the full exchange.
        self._digests = config.wire == "native"
        self._periods = 0
        self._leader: Member | None = local
        self._ranks = LeaderRanks(shares_records=self._table.shares_records)
        self._now = 0.0
        self._started = False
        self._leaving = False
        self._out: list[Action] = []
        #: Fresher news owed to the sender of the packet being handled (see ``_correct``).
        self._corrections: list[bytes] = []
        #: The update being applied as received, and its bytes (see Packet.raw_updates).
        self._arrived: Update | None = None
        self._arrived_raw = b""
        #: (live members, retransmit limits for them): recomputed when the count changes.
        self._limits: tuple[int, tuple[int, int]] = (0, (0, 0))
        self._counters: dict[str, int] = {}
        #: Received snapshots still to decode and merge, a slice per step (``MERGE_SLICE``).
        self._ingests = ingest.IngestQueue(
            self.config.max_members, ingest.MAX_PENDING * self.exchange_limit
        )
        # Misconfiguration reports (refused exchanges, name conflicts), each made once.
        self._reports = refusals.ReportOnce()
        # The application's vetoes (memberlist's alive and merge delegates).
        self._admit = admit
        self._admit_merge = admit_merge
        self._join_round = JoinRound()
        # The application's state in full-state exchanges (memberlist's LocalState and
        # MergeRemoteState delegates).
        self._state_out = local_state
        self._state_in = merge_state
        self._refusal: tuple[str, str] | None = None
        self._join_backoff = 1
        self._queue_local_alive()

    # ----------------------------------------------------------------------------- queries

    @property
    def name(self) -> str:
        return self._name

    @property
    def address(self) -> Address:
        return self._table.local.address

    @property
    def incarnation(self) -> int:
        return self._table.local.incarnation

    @property
    def wire(self) -> Wire:
        """The wire profile (``config.wire``) this node speaks; drivers frame exchanges with it."""
        return self._wire

    @property
    def health(self) -> int:
        """Lifeguard local health score: 0 is healthy, ``awareness_max - 1`` the worst."""
        return self._awareness.score

    @property
    def has_left(self) -> bool:
        """Whether :meth:`leave` was called (a left node cannot join or change again)."""
        return self._leaving

    @property
    def leader(self) -> MemberInfo | None:
        """The best-effort leader in this node's view (alive member with the highest address)."""
        return self._leader.info() if self._leader is not None else None

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this node included (unless it left)."""
        info = self._table.info_of
        return [info(m) for m in self._table.all() if m.state in _LIVE]

    def members_are(self, names: Iterable[str]) -> bool:
        """Whether :meth:`members` lists exactly the members named in ``names``: how a test
        asks whether a group has converged.

        It costs O(members) at most, and less for a node started over a shared roster: the
        records it changed, when every node is asked with one ``frozenset`` (10,000 simulated
        nodes are checked in milliseconds, not minutes).
        """
        expected = names if isinstance(names, frozenset) else frozenset(names)
        return self._table.live_names_are(expected)

    def unstable_members(self) -> list[MemberInfo]:
        """Members reported :class:`~swimcore.actions.MemberUnstable` and not yet stable again
        (flap damping, ``Config.stability_damping``)."""
        return [
            m.info()
            for name in self._stability.names()
            if (m := self._table.peek(name)) is not None and m.state in _LIVE
        ]

    def all_members(self) -> list[MemberInfo]:
        """Every member in the table, dead and left ones included (until reclaimed)."""
        info = self._table.info_of
        return [info(m) for m in self._table.all()]

    def member(self, name: str) -> MemberInfo | None:
        """One member by name, or ``None`` when it is unknown (or forgotten)."""
        member = self._table.peek(name)
        return self._table.info_of(member) if member is not None else None

    def counters(self) -> dict[str, int]:
        """A snapshot of every counter (messages, bytes, drops by reason, probes, ...)."""
        snapshot = dict(sorted(self._counters.items()))
        snapshot[cn.HEALTH] = self._awareness.score
        snapshot[cn.QUEUE_DEPTH] = len(self._queue)
        snapshot[cn.QUEUE_EVICTED] = self._queue.evicted
        snapshot[cn.BROADCAST_KEYS] = len(self._broadcasts)
        snapshot[cn.BROADCAST_KEYS_FORGOTTEN] = self._broadcasts.forgotten
        snapshot[cn.MEMBERS] = len(self._table)
        snapshot[cn.LIVE_MEMBERS] = self._table.live_peers + (0 if self._leaving else 1)
        for state in State:
            snapshot[cn.member_state(state.name.lower())] = 0
        for member in self._table.all():
            snapshot[cn.member_state(member.state.name.lower())] += 1
        snapshot[cn.RELAYS_PENDING] = len(self._relays)
        snapshot[cn.SUSPICIONS_PENDING] = len(self._suspicions)
        snapshot[cn.UNSTABLE_MEMBERS] = len(self._stability.names())
        snapshot[cn.DROPPED_STABILITY_TABLE_FULL] = self._stability.dropped
        snapshot[cn.EXCHANGES_PENDING] = len(self._exchanges)
        snapshot[cn.MERGE_BACKLOG] = self._ingests.backlog
        snapshot[cn.SNAPSHOTS_PENDING] = len(self._ingests)
        return snapshot

    def queue_depth(self) -> int:
        """Updates waiting in the piggyback queue."""
        return len(self._queue)

    @property
    def exchange_limit(self) -> int:
        """The most bytes an exchange may take: ``max_exchange_bytes``, or less when
        ``max_members`` rows of ``max_metadata`` could not fill it."""
        cfg = self.config
        rows = cfg.max_members * (ROW_OVERHEAD + cfg.max_metadata) + 65536
        return min(cfg.max_exchange_bytes, rows)

    def next_deadline(self) -> float | None:
        """When the driver should call :meth:`tick` next (``None`` before :meth:`start`)."""
        return self._timers.next_deadline()

    # ------------------------------------------------------------------------------ inputs

    def start(
        self,
        now: float,
        members: Iterable[tuple[str, Address]] = (),
        *,
        roster: Roster | None = None,
        seeds: Sequence[Address] = (),
    ) -> list[Action]:
        """Start the timers; ``members`` are peers known to be alive (a bootstrapped cluster).

        Idempotent: a second call only adds the given members.  ``roster``, given to a node
        that knows no one yet, is a :class:`~swimcore.roster.Roster` of alive peers that the
        node shares instead of copying (how a simulator fits 10,000 nodes): the node copies a
        record only when it hears news about it.  ``seeds`` are remembered as :meth:`join`
        remembers them, without exchanging with them now: a node left alone retries them, and
        partition healing reaches them after its side forgot the other (``reclaim_time``).
        """
        given = self._seed_list(seeds)
        if roster is not None and len(self._table) != 1:
            raise StateError("a roster is shared only by a node that knows no one yet")
        if given:
            self._seeds, self._seed_waits = given, {}
        if roster is not None:
            self._table = table = RosterTable(self._table.local, self._rng, roster)
            self._ranks = LeaderRanks(table)
            if given:
                self._seed_names = roster.names_at(given)
            if roster.best is not None:
                self._consider_leader(self._table.get(roster.best))
            # Timers start after the roster is in, so the push-pull interval is scaled to it
            # (unscaled, 10,000 members would each pull 10,000 rows within the first 30 s).
            self._begin(now)
            return self._finish()
        pairs = list(members)
        for name, address in pairs:
            if not isinstance(name, str) or not isinstance(address, Address):
                raise AddressError(
                    f"members are (name, swimcore.Address) pairs, got ({name!r}, {address!r})"
                )
        self._begin(now)
        for name, address in pairs:
            if name != self.name and name not in self._table:
                member = self._table.new_record(name, codec.interned(address), 0, State.ALIVE, b"")
                self._table.add(member)
                self._note_seed(member)
                self._consider_leader(member)
        if given:
            self._name_seeds()
        return self._finish()

    def join(self, seeds: Sequence[Address], now: float) -> list[Action]:
        """Join the group through ``seeds`` (the node's own address among them is skipped).

        One full-state exchange per seed is requested, even when the node is already in a group;
        while the node knows no one else it retries them every ``join_retry_interval``.  Raises
        :class:`StateError` once the node has left.
        """
        seeds = self._seed_list(seeds)
        if self._leaving:
            raise StateError("this node has left; make a new node to join again")
        self._begin(now)
        self._seeds, self._seed_waits = seeds, {}
        self._name_seeds()
        self._join_round.restart()
        if self._table.live_peers:
            # Already in a group: contact each seed once anyway, so groups that formed apart
            # (for example through a discovery store) merge.
            for seed in self._seeds:
                self._request_exchange(seed, join=True)
        else:
            self._request_joins()
        return self._finish()

    def _name_seeds(self) -> None:
        """Find the member at each seed's address (one pass over the table)."""
        wanted = dict.fromkeys(self._seeds)
        self._seed_names = {m.address: m.name for m in self._table.all() if m.address in wanted}

    def _seed_list(self, seeds: Sequence[Address]) -> list[Address]:
        """``seeds`` checked, without this node's own address."""
        refuse_single_seed(seeds)
        seeds = list(seeds)
        for seed in seeds:
            if not isinstance(seed, Address):
                raise AddressError(
                    f"seeds are swimcore.Address values (Address.parse reads 'host:port'), "
                    f"got {seed!r}"
                )
        return [s for s in seeds if s != self.address]

    def tick(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``.  Early, late or repeated ticks are harmless."""
        self._begin(now)
        while (payload := self._timers.pop_due(self._now)) is not None:
            self._fire(*payload)
        return self._finish()

    def receive(self, data: bytes, source: Address, now: float) -> list[Action]:
        """Handle one datagram from ``source``.  Never raises: bad input is dropped and counted."""
        self._begin(now)
        counters = self._counters
        counters[cn.PACKETS_RECEIVED] = counters.get(cn.PACKETS_RECEIVED, 0) + 1
        counters[cn.BYTES_RECEIVED] = counters.get(cn.BYTES_RECEIVED, 0) + len(data)
        try:
            self._receive(data, source)
        except Exception:  # a bug, not bad input: count it loudly instead of killing the node
            self._count(cn.DROPPED_INTERNAL_ERROR)
        return self._finish()

    def handle_exchange(self, data: bytes, now: float) -> tuple[bytes | None, list[Action]]:
        """Answer a peer's reliable exchange: merge its state and return ours as the reply.

        The reply is ``None`` when the request is dropped (malformed, too large).  A request
        from another group or one that fails authentication is refused: the reply is then a
        :mod:`~swimcore.refusals` message saying why (on the memberlist wire, memberlist's
        ``errResp``), and an :class:`ExchangeRefused` event reports it once.  The reply is
        built before this returns; :meth:`answer_exchange` returns it to build a step at a
        time instead (what a driver whose loop must not stall wants).
        """
        reply, actions = self.answer_exchange(data, now)
        return (None if reply is None else reply.data), actions

    def answer_exchange(self, data: bytes, now: float) -> tuple[Outgoing | None, list[Action]]:
        """:meth:`handle_exchange`, with the reply (a full-state snapshot, usually) to build a
        step at a time, between the driver's other work (see :class:`Outgoing`)."""
        self._begin(now)
        request = self._decode_exchange(data)
        reply: bytes | Outgoing | None = None
        refusal = self._refusal
        if request is None and refusal is not None:
            reply = self._refuse(*refusal, request=data)
        elif isinstance(request, antientropy.Digest):
            if request.kind == antientropy.REQUEST:
                self._count(cn.DIGESTS_ANSWERED)
                reply = self._digest(request)
            else:
                self._count(cn.DROPPED_MALFORMED_EXCHANGE)
        elif isinstance(request, StreamPing):
            reply = self._answer_stream_ping(request)
        elif isinstance(request, DirectMessage):
            self._count(cn.MESSAGES_RECEIVED)
            self._out.append(MessageReceived(request.origin, request.payload, True))
            reply = self._seal(self._wire.encode_exchange_ack(self.config.label))
        elif isinstance(request, PushPull) and self._merge_vetoed(request.members):
            reply = self._refuse(
                "merge_vetoed", "this member's application refused the merge", request=data
            )
        elif request is not None:
            if isinstance(request, PushPull):
                self._merge(request)
                self._merge_remote_state(request.user_state, request.join)
            else:
                # A large snapshot, read a slice at a time: the application's verdict on it
                # (if it gives one) comes once it is read, after this reply (as memberlist
                # sends its state before merging the peer's).
                self._ingest(request, None, None)
            reply = self._snapshot(join=False)
            self._count(cn.EXCHANGES_ANSWERED)
        return (Outgoing(reply) if isinstance(reply, bytes) else reply), self._finish()

    def exchange_reply(self, exchange_id: int, data: bytes, now: float) -> list[Action]:
        """Feed back the reply to an :class:`ExchangeRequest` this node emitted."""
        self._begin(now)
        pending = self._exchanges.pop(exchange_id, None)
        if pending is None:
            self._count(cn.DROPPED_UNKNOWN_EXCHANGE)
            return self._finish()
        address, purpose, name = pending
        if purpose == _PING:
            self._stream_ack(exchange_id, data)
            return self._finish()
        if purpose == _MESSAGE:
            if self._wire.is_exchange_ack(self._open(data) or b"", self.config.label):
                self._count(cn.MESSAGES_DELIVERED)
                self._out.append(MessageDelivered(exchange_id, name))
            else:
                self._count(cn.DROPPED_MALFORMED_EXCHANGE)
                self._out.append(MessageFailed(exchange_id, name, "bad reply"))
            return self._finish()
        refusal = self._wire.read_refusal(data)
        if refusal is not None:
            # The peer said why it refused: a join then waits longer before the next attempt.
            self._count(cn.EXCHANGES_REFUSED)
            if purpose == _JOIN:
                self._join_backoff = min(2 * self._join_backoff, JOIN_BACKOFF_MAX)
                self._join_failed(exchange_id, address, refusals.describe(*refusal))
            return self._finish()
        snapshot = self._decode_exchange(data)
        if purpose == _DIGEST:
            self._digest_reply(address, snapshot)
        elif isinstance(snapshot, PushPull) and self._merge_vetoed(snapshot.members):
            if purpose == _JOIN:
                self._join_failed(exchange_id, address, _VETOED)
        elif snapshot is not None and not isinstance(
            snapshot, DirectMessage | StreamPing | antientropy.Digest
        ):
            # A join waits for the application's verdict when it has one to give; a large
            # snapshot gets it once read (and the join's outcome with it).
            waits = purpose == _JOIN and self._admit_merge is not None
            if isinstance(snapshot, PushPull):
                self._merge(snapshot)
                self._merge_remote_state(snapshot.user_state, snapshot.join)
                waits = False
            else:
                self._ingest(snapshot, address, exchange_id if waits else None)
            self._count(cn.EXCHANGES_COMPLETED)
            self._join_backoff = 1
            if purpose == _JOIN and not waits:
                self._join_ended(exchange_id, None)
        elif purpose == _JOIN:
            self._join_failed(exchange_id, address, "bad reply")
        return self._finish()

    def exchange_failed(self, exchange_id: int, reason: str, now: float) -> list[Action]:
        """Tell the node that an :class:`ExchangeRequest` could not be completed."""
        self._begin(now)
        pending = self._exchanges.pop(exchange_id, None)
        if pending is not None:
            self._count(cn.EXCHANGES_FAILED)
            address, purpose, name = pending
            if purpose == _JOIN:
                self._join_failed(exchange_id, address, reason)
            elif purpose == _MESSAGE:
                self._out.append(MessageFailed(exchange_id, name, reason))
            elif purpose == _PING:
                self._count(cn.TCP_FALLBACK_FAILED)
        return self._finish()

    def leave(self, now: float) -> list[Action]:
        """Leave gracefully: spread ``left`` news and stop probing.

        The driver should keep delivering input for a short while (a few gossip intervals) so
        that the news spreads, then stop.  Calling it again does nothing.
        """
        self._begin(now)
        if not self._leaving:
            self._leaving = True
            local = self._table.local
            self._table.set_state(local, State.LEFT, self._now)
            self._consider_leader(local)
            self._enqueue(local.name, Left(local.name, local.incarnation))
            self._gossip_round()
        return self._finish()

    def set_metadata(self, meta: bytes, now: float) -> list[Action]:
        """Change this node's metadata; it spreads with a higher incarnation."""
        meta = as_bytes(meta, "metadata")
        self._check_meta(self.config, meta)
        self._begin(now)
        if self._leaving:
            raise StateError("this node has left; metadata can no longer change")
        local = self._table.local
        local.meta = meta
        self._bump_incarnation(local.incarnation + 1)
        return self._finish()

    def broadcast(self, key: str, payload: bytes, now: float) -> list[Action]:
        """Disseminate an application payload; a newer payload under ``key`` replaces it.

        Raises :class:`StateError` once the node has left.
        """
        size = utf8_size(key)
        if not size or size > codec.MAX_NAME_BYTES:
            raise ConfigError(
                f"broadcast key must be a str of 1..{codec.MAX_NAME_BYTES} UTF-8 bytes, got {key!r}"
            )
        payload = as_bytes(payload, "broadcast payload")
        # It must fit a gossip packet on its own, beside the longest origin name a peer may have.
        fixed = 1 + 1 + codec.MAX_NAME_BYTES + 1 + size + 8 + 2
        limit = self._packet_space(self._wire.encode_message(Gossip())) - fixed
        if len(payload) > limit:
            raise ConfigError(
                f"broadcast payload is {len(payload)} bytes; at most {max(0, limit)} fit in "
                f"max_packet={self.config.max_packet} with this key"
            )
        if self._leaving:
            raise StateError("this node has left; it can no longer broadcast")
        self._begin(now)
        version = self._broadcasts.next_version(key, self.name, self._now)
        update = UserBroadcast(self.name, key, version, payload)
        heard = self._wire.as_received(update)
        if heard.key != key:
            # Receivers know it by another key (memberlist's wire: by its payload): its echo
            # coming back here is not news either.
            self._broadcasts.judge(heard.key, heard.version, heard.origin, self._now)
        self._queue.put(_USER_PREFIX + key, self._wire.encode_update(update), user=True)
        return self._finish()

    def send_message(
        self, name: str, payload: bytes, now: float, *, reliable: bool = False
    ) -> list[Action]:
        """Send ``payload`` to the member ``name``.

        Best effort over one datagram, or, with ``reliable``, over the reliable exchange: then
        the returned :class:`ExchangeRequest` is followed by :class:`MessageDelivered` or
        :class:`MessageFailed` with its ``exchange_id``.  Raises :class:`StateError` when the
        member is unknown, dead or left, and :class:`ConfigError` when the payload is too big
        or not bytes.
        """
        payload = as_bytes(payload, "message payload")
        member = self._table.peek(name) if isinstance(name, str) else None
        if member is None or member.state not in _LIVE or member is self._table.local:
            state = "unknown" if member is None else member.state.name.lower()
            raise StateError(f"cannot send to {name!r}: it is {state} (not a live peer)")
        limit = self.config.max_packet - len(self._header) - 300
        if not reliable and len(payload) > limit:
            raise ConfigError(f"message is {len(payload)} bytes; at most {limit} fit a datagram")
        if reliable and len(payload) > self.config.max_exchange_bytes - 1024:
            raise ConfigError(f"message exceeds max_exchange_bytes ({len(payload)} bytes)")
        self._begin(now)
        if reliable:
            data = self._wire.encode_direct_message(
                DirectMessage(self.config.label, self.name, payload)
            )
            self._request(member.address, _MESSAGE, data, name)
        else:
            # Alone when the wire cannot tell a message from a broadcast otherwise.
            alone = self._wire.USER_MESSAGES_ALONE
            self._send(member.address, UserMessage(self.name, payload), piggyback=not alone)
        self._count(cn.MESSAGES_SENT)
        return self._finish()

    # ---------------------------------------------------------------------------- plumbing

    @staticmethod
    def _check_meta(config: Config, meta: bytes) -> None:
        if len(meta) > config.max_metadata:
            raise ConfigError(
                f"metadata is {len(meta)} bytes; config.max_metadata allows {config.max_metadata}"
            )

    def _begin(self, now: float) -> None:
        # A float within bounds (what drivers pass) costs one comparison; anything else (an
        # int, NaN, which fails every comparison, or a wrong type) takes the full check.
        if type(now) is not float or not -MAX_NOW <= now <= MAX_NOW:
            _check_now(now)
        # Time never runs backwards inside the node: an out-of-order input only delays.
        self._now = max(self._now, now)
        if not self._started:
            self._started = True
            self._timers.schedule(
                self._now + self._rng.random() * self.config.probe_interval, (Timer.PERIOD, 0, "")
            )
            # Periodic work starts at a random phase, so members started together do not
            # gossip, exchange and reconnect in lockstep.
            cfg = self.config
            if cfg.gossip_interval > 0:
                # The first point of the gossip grid; the timer is armed only while there is
                # news to send (see _arm_gossip), never with no one to gossip to.
                first = self._now + self._rng.random() * cfg.gossip_interval
                self._gossip_at = first if cfg.gossip_nodes > 0 else None
            if cfg.push_pull_interval > 0:
                first = self._rng.random() * self._push_pull_interval()
                self._timers.schedule(self._now + first, (Timer.PUSH_PULL, 0, ""))
            if cfg.reconnect_interval > 0:
                first = self._rng.random() * cfg.reconnect_interval
                self._timers.schedule(self._now + first, (Timer.RECONNECT, 0, ""))

    def _finish(self) -> list[Action]:
        if self._gossip_at is not None and len(self._queue):
            self._arm_gossip()
        # The node keeps its list and hands out a copy: the copy dies as soon as the driver
        # has carried it out, where a new list per input would live until the member's next
        # input, in a process of many members (the simulator) long enough for the garbage
        # collector to promote it and walk it again on every full collection.
        out = self._out
        if not out:
            return []
        actions = out[:]
        out.clear()
        return actions

    def _arm_gossip(self) -> None:
        """Arm the gossip timer at the next point of its grid, if a round would send anything.

        The grid is the one a timer re-armed every ``gossip_interval`` would follow (each point
        is the last plus the interval, summed as that timer sums it, so the rounds that send go
        out at the same instants as before): an idle member does not wake for rounds with
        nothing to send or no one to send it to.  ``_gossip_at`` holds the next point while
        the timer is not armed (``None``: armed, or gossip is off).
        """
        at = self._gossip_at
        if at is None or not len(self._queue):
            return
        if not self._table.live_peers and not self._recent_dead:
            return  # alone: armed again once a peer appears (the next input's _finish)
        interval = self.config.gossip_interval
        if at < self._now:
            missed = (self._now - at) / interval
            if missed > _GOSSIP_STEPS:  # a long quiet spell: jump most of it at once
                at += math.floor(missed - 1) * interval
            while at < self._now:
                at += interval
        self._gossip_at = None
        self._timers.schedule(at, GOSSIP_TIMER)

    def _emit(self, event: MembershipEvent) -> None:
        self._out.append(event)
        if self._log is not None:
            member = event.member
            self._log.log(
                INFO,
                "[%s] %s %s at %s (incarnation %d)",
                self.name,
                type(event).__name__,
                member.name,
                member.address,
                member.incarnation,
            )

    def _debug(self, msg: str, *args: object) -> None:
        if self._log is not None:
            self._log.log(DEBUG, "[%s] " + msg, self.name, *args)

    def _count(self, key: str, amount: int = 1) -> None:
        self._counters[key] = self._counters.get(key, 0) + amount

    def _live_count(self) -> int:
        return self._table.live_peers + 1

    def _retransmit_limits(self) -> tuple[int, int]:
        live = self._table.live_peers + 1
        cached = self._limits
        if cached[0] != live:
            scale = retransmit_scale(live)
            cfg = self.config
            cached = self._limits = (
                live,
                (cfg.retransmit_mult * scale, cfg.broadcast_retransmit_mult * scale),
            )
        return cached[1]

    def _packet_space(self, body: bytes) -> int:
        """Bytes left for updates in a datagram carrying the encoded message ``body``."""
        return self._room - len(body) - self._wire.overhead

    def _send(
        self, to: Address, message: Message, extra: Sequence[bytes] = (), *, piggyback: bool = True
    ) -> None:
        """Send ``message`` with as many queued updates as fit (``extra`` ones go first)."""
        kind = _SENT_NAMES.get(type(message)) or cn.SENT_PREFIX + type(message).__name__.lower()
        self._send_body(to, self._wire.encode_message(message), kind, extra, piggyback)

    def _send_body(
        self, to: Address, body: bytes, kind: str, extra: Sequence[bytes], piggyback: bool = True
    ) -> None:
        """:meth:`_send` of a message already encoded as ``body``, counted under ``kind`` (a
        ``sent.<message>`` counter): a ping's ack is encoded from its number, with no
        :class:`~swimcore.messages.Ack` made for it."""
        wire = self._wire
        space = self._room - len(body) - wire.overhead  # what _packet_space says
        updates: list[bytes] = []
        if extra:
            for update in extra[: wire.MAX_UPDATES]:
                # Corrections and buddy news go first, as far as they fit: a packet over
                # max_packet would be dropped by its receiver, the probe it answers with it.
                if len(update) <= space:
                    updates.append(update)
                    space -= len(update)
                else:
                    self._count(cn.DROPPED_NO_ROOM_FOR_EXTRA)
        if piggyback and len(self._queue):
            taken = self._queue.take(
                space, self._retransmit_limits(), wire.MAX_UPDATES - len(updates)
            )
            if updates:
                updates += taken
            else:
                updates = taken
        data = wire.assemble(self._header, body, updates, to)
        if self._envelope:
            data = wire.seal(data)
        if len(data) > self.config.max_packet:  # only a message too big on its own gets here
            self._count(cn.DROPPED_PACKET_TOO_LARGE)
            return
        counters = self._counters
        get = counters.get
        counters[cn.PACKETS_SENT] = get(cn.PACKETS_SENT, 0) + 1
        counters[cn.BYTES_SENT] = get(cn.BYTES_SENT, 0) + len(data)
        counters[kind] = get(kind, 0) + 1
        counters[cn.UPDATES_SENT] = get(cn.UPDATES_SENT, 0) + len(updates)
        send = new(Send)
        _SET_SEND_TO(send, to)
        _SET_SEND_DATA(send, data)
        self._out.append(send)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & _SEQ_MASK
        return self._seq

    # ----------------------------------------------------------------------------- receive

    def _seal(self, data: bytes) -> bytes:
        return self._wire.seal(data) if self._envelope else data

    def _open(self, data: bytes) -> bytes | None:
        """The plaintext of a received payload, or ``None`` (counted) if it fails to open."""
        if not self._envelope:
            return data
        plain = self._wire.open(data)
        if plain is None:
            self._count(cn.DROPPED_AUTH_FAILED)
        return plain

    def _receive(self, data: bytes, source: Address) -> None:
        if len(data) > self.config.max_packet:
            self._count(cn.DROPPED_OVERSIZED)
            return
        if self._envelope:
            opened = self._open(data)
            if opened is None:
                return
            data = opened
        if not data.startswith(self._header):
            try:
                self._wire.read_label(data)
            except DecodeError:
                self._count(cn.DROPPED_MALFORMED)
            else:
                self._count(cn.DROPPED_FOREIGN_LABEL)
            return
        try:
            _, message, updates, raws = self._wire.read_packet(data)
        except DecodeError:
            self._count(cn.DROPPED_MALFORMED)
            return
        # The whole packet decoded before any of it is applied.
        kind = type(message)
        counted = _RECEIVED_NAMES.get(kind) or cn.RECEIVED_PREFIX + kind.__name__.lower()
        counters = self._counters
        counters[counted] = counters.get(counted, 0) + 1
        self._heard = self._now
        if self._corrections:
            self._corrections = []
        if raws:
            table = self._table
            own = self._name
            max_metadata = self.config.max_metadata
            # One raw per update, as the decoder makes them (zip's strict=True would cost a parse
            # of its keyword, about 1,500 instructions, for every datagram).
            for update, arrived in zip(updates, raws):  # noqa: B905
                if type(update) is Alive:
                    # _apply, with the repeats (most gossip) left here at once: the test of
                    # Membership._repeats, inline.
                    name = update.name
                    about_self = name == own
                    member = table.local if about_self else table.peek(name)
                    if (
                        member is not None
                        and update.incarnation <= member.incarnation
                        and (update.address is member.address or update.address == member.address)
                        and len(update.meta) <= max_metadata
                        and judge(member.state, member.incarnation, _ALIVE, update.incarnation)
                        is IGNORE
                    ):
                        continue
                    self._arrived_raw = arrived
                    self._arrived = update
                    self._apply_news(update, member, about_self)
                else:
                    self._arrived_raw = arrived
                    self._arrived = update
                    self._apply(update)
            self._arrived = None
        else:
            for update in updates:
                self._apply(update)
        self._handle_message(message, source)
        if self._corrections:
            if not isinstance(message, Ping):
                self._send(source, Gossip(), extra=self._corrections)
            self._corrections = []

    def _handle_message(self, message: Message, source: Address) -> None:
        if isinstance(message, Ping):
            if message.target != self._name:
                self._count(cn.DROPPED_WRONG_TARGET)
                return
            ack = self._wire.encode_ack(message.seq)
            self._send_body(source, ack, _SENT_ACK, self._corrections)
            if self._corrections:
                self._corrections = []
        elif isinstance(message, Ack):
            self._on_ack(message.seq, source)
        elif isinstance(message, Nack):
            probe = self._probe
            if probe is not None and probe.seq == message.seq:
                probe.nacks += 1
                self._count(cn.NACKS_RECEIVED)
            else:
                self._count(cn.DROPPED_STALE_NACK)
        elif isinstance(message, IndirectPing):
            self._relay(message, source)
        elif isinstance(message, UserMessage):
            self._count(cn.MESSAGES_RECEIVED)
            self._out.append(MessageReceived(message.origin, message.payload, False))

    # ------------------------------------------------------------------------------ timers

    def _fire(self, kind: Timer, number: int, name: str) -> None:
        match kind:
            case Timer.PERIOD:
                self._period()
            case Timer.PROBE_TIMEOUT:
                self._probe_timeout(number)
            case Timer.RELAY:
                relay = self._relays.pop(number, None)
                if relay is not None and relay.want_nack:
                    self._send(relay.origin, Nack(relay.origin_seq))
            case Timer.SUSPICION:
                self._suspicion_expired(name, number)
            case Timer.GOSSIP:
                self._gossip_round()
                self._gossip_at = self._now + self.config.gossip_interval
                self._arm_gossip()
            case Timer.PUSH_PULL:
                self._push_pull()
                self._timers.schedule(self._now + self._push_pull_interval(), (kind, 0, ""))
            case Timer.RECONNECT:
                self._reconnect()
                self._timers.schedule(self._now + self.config.reconnect_interval, (kind, 0, ""))
            case Timer.JOIN_RETRY:
                self._request_joins()
            case Timer.RECLAIM:
                self._reclaim(name)
            case Timer.MERGE:
                self._merge_slice()
            case Timer.STABLE:
                self._settle(name)
            case Timer.ANNOUNCE:
                self._announce(name, number)
            case Timer.REFUTED:
                self._judge_refutations(name)

    def _gossip_round(self) -> None:
        if not len(self._queue):
            return
        targets = self._table.random_live(self.config.gossip_nodes)
        dead_window = self._now - self.config.gossip_to_the_dead_time
        for name, since in list(self._recent_dead.items()):
            if since < dead_window:
                del self._recent_dead[name]
        if self._recent_dead and self.config.gossip_nodes:
            # A wrongly declared member keeps hearing the news so that it can refute.
            name = self._rng.choice(list(self._recent_dead))
            member = self._table.peek(name)
            if member is not None:
                targets.append(member)
        for member in targets:
            if not len(self._queue):
                break
            self._send(member.address, Gossip())
