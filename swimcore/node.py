"""The node: one member's SWIM + Lifeguard state machine, with no I/O.

Inputs are method calls that take ``now`` (monotonic seconds, from the driver's clock) and
return the actions the driver must carry out.  Nothing here reads a clock, opens a socket or
touches global randomness; the same config, seed and inputs give byte-identical outputs.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import attrs

from swimcore import antientropy, codec, ingest, refusals
from swimcore.actions import (
    Action,
    BroadcastReceived,
    ExchangeRefused,
    ExchangeRequest,
    JoinAddress,
    JoinFailed,
    LeaderChanged,
    MemberAlive,
    MemberFailed,
    MemberInfo,
    MemberJoined,
    MemberLeft,
    MembershipEvent,
    MemberStable,
    MemberSuspected,
    MemberUnstable,
    MemberUpdated,
    MessageDelivered,
    MessageFailed,
    MessageReceived,
    NameConflict,
    RoundTrip,
    Send,
)
from swimcore.address import Address
from swimcore.awareness import Awareness
from swimcore.broadcasts import BroadcastVersions
from swimcore.broadcasts import Verdict as News
from swimcore.config import Config
from swimcore.dissemination import BroadcastQueue
from swimcore.errors import AuthError, ClockError, ConfigError, DecodeError, StateError
from swimcore.join_round import JoinRound
from swimcore.keyring import OVERHEAD as KEYRING_OVERHEAD
from swimcore.keyring import VERSION as KEYRING_VERSION
from swimcore.keyring import Keyring
from swimcore.members import Member, MemberTable
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    DirectMessage,
    Gossip,
    IndirectPing,
    Left,
    MemberState,
    Message,
    Nack,
    Ping,
    PushPull,
    SnapshotRows,
    State,
    StreamPing,
    Suspect,
    Update,
    UserBroadcast,
    UserMessage,
)
from swimcore.roster import Roster, RosterTable
from swimcore.stability import Stability
from swimcore.suspicion import Suspicion
from swimcore.timers import TimerHeap
from swimcore.timing import push_pull_interval, retransmit_scale, suspicion_min
from swimcore.transitions import Verdict, judge
from swimcore.wire import Wire, for_node

MAX_INCARNATION = 2**64 - 1
#: The largest step news may take over the incarnation known for a member (0 for one not known
#: yet).  Honest members move by one at a time (a restart epoch may jump further, up to this):
#: larger jumps are forged or corrupt, dropped and counted, so that one datagram cannot pin a
#: member at the maximum, where it could never refute again.
MAX_INCARNATION_STEP = 2**32
#: The latest ``now`` accepted (about 35,000 years of seconds): beyond it a float cannot tell
#: one timer from the next, and a driver passing it has a broken clock.
MAX_NOW = 2.0**40
_SEQ_MASK = 2**32 - 1


class Timer(enum.IntEnum):
    """What a timer on the node's heap is for; its payload is ``(Timer, number, name)``.

    ``number`` is a probe or relay sequence number or a suspicion token, ``name`` a member.
    """

    PERIOD = 0  # the next protocol period (a probe)
    PROBE_TIMEOUT = 1  # a direct probe's ack is overdue: probe indirectly
    RELAY = 2  # an indirect probe relayed for another member: nack if no ack came
    SUSPICION = 3  # a suspicion (or its last-chance probe) is due
    GOSSIP = 4  # a gossip round
    PUSH_PULL = 5  # an anti-entropy exchange
    JOIN_RETRY = 6  # try the seeds again while alone
    RECLAIM = 7  # forget a dead or left member
    RECONNECT = 8  # try a member believed dead and a seed not in the view
    MERGE = 9  # merge the next slice of a received snapshot
    STABLE = 10  # a damped member may be readmitted
    ANNOUNCE = 11  # announce a name conflict again


#: Rows of a push-pull snapshot decoded and merged per step: a large snapshot is read a slice
#: at a time, between other inputs, so that no exchange holds the protocol for more than a few
#: ms (see :mod:`swimcore.ingest`); a snapshot of at most this many rows is read at once.
MERGE_SLICE = 256
#: The pause between two slices (the driver handles whatever arrived in between).
MERGE_PAUSE = 0.001
#: After refused joins the retry interval doubles, up to this many times join_retry_interval.
JOIN_BACKOFF_MAX = 8
#: Exchanges awaiting their reply or failure at once; beyond, the oldest is given up.
MAX_PENDING_EXCHANGES = 64
#: Bytes one push-pull row may take beyond its metadata (name, address, numbers, framing).
ROW_OVERHEAD = 384
# Queue keys of user broadcasts start with a byte no member name can start with on the wire.
_USER_PREFIX = "\x00user:"
_LIVE = (State.ALIVE, State.SUSPECT)


# Log levels, as the standard ``logging`` module numbers them (importing it loads threading).
DEBUG, INFO, WARNING = 10, 20, 30
# What an exchange this node asked for is for (_PING: the TCP fallback of a failed probe).
_JOIN, _SYNC, _MESSAGE, _DIGEST, _PING = range(5)
_VETOED = "this member's application vetoed the merge"


class LogSink(Protocol):
    """Where the node writes log records: a ``logging.Logger`` or ``LoggerAdapter`` fits."""

    def log(self, level: int, msg: str, *args: object) -> None: ...


@attrs.define(slots=True)
class _Probe:
    seq: int
    target: str
    started: float
    acked: bool = False
    expected_nacks: int = 0
    nacks: int = 0
    #: The exchange carrying this probe's TCP fallback ping (0: none).
    fallback: int = 0


@attrs.define(slots=True)
class _Relay:
    origin: Address
    origin_seq: int
    want_nack: bool


class Node:
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
        if not name or len(name.encode()) > codec.MAX_NAME_BYTES or name.startswith("\x00"):
            raise ConfigError(f"name must be 1..{codec.MAX_NAME_BYTES} UTF-8 bytes, got {name!r}")
        self._check_meta(config, meta)
        if not 0 <= incarnation <= MAX_INCARNATION_STEP:
            # Peers take news of an unknown member only up to this (MAX_INCARNATION_STEP).
            raise ConfigError(f"incarnation must be within 0..2**32, got {incarnation}")
        self.config = config
        self._rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self._wire = for_node(config, name, address, keyring, self._rng)
        self._header = self._wire.header
        local = Member(name, address, incarnation, State.ALIVE, bytes(meta), 0.0)
        self._table = MemberTable(local, self._rng)
        self._queue = BroadcastQueue(config.max_broadcasts)
        self._timers: TimerHeap[tuple[Timer, int, str]] = TimerHeap()
        self._awareness = Awareness(config.awareness_max, enabled=config.lifeguard_awareness)
        self._suspicions: dict[str, Suspicion] = {}
        self._stability = Stability(config)
        self._relays: dict[int, _Relay] = {}
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
        self._probe: _Probe | None = None
        self._seq = 0
        self._exchange_seq = 0
        #: Periodic push-pull starts with a digest (antientropy) on the native wire only:
        #: memberlist peers know only the full exchange.
        self._digests = config.wire == "native"
        self._periods = 0
        self._leader: Member | None = local
        self._now = 0.0
        self._started = False
        self._leaving = False
        self._out: list[Action] = []
        #: Fresher news owed to the sender of the packet being handled (see ``_correct``).
        self._corrections: list[bytes] = []
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
        return self._table.local.name

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
        return self._leaving

    @property
    def leader(self) -> MemberInfo | None:
        """The best-effort leader in this node's view (alive member with the highest address)."""
        return self._leader.info() if self._leader is not None else None

    def members(self) -> list[MemberInfo]:
        """Alive and suspect members, this node included (unless it left)."""
        return [m.info() for m in self._table.all() if m.state in _LIVE]

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
        return [m.info() for m in self._table.all()]

    def member(self, name: str) -> MemberInfo | None:
        """One member by name, or ``None`` when it is unknown (or forgotten)."""
        member = self._table.peek(name)
        return member.info() if member is not None else None

    def counters(self) -> dict[str, int]:
        """A snapshot of every counter (messages, bytes, drops by reason, probes, ...)."""
        snapshot = dict(sorted(self._counters.items()))
        snapshot["health"] = self._awareness.score
        snapshot["queue_depth"] = len(self._queue)
        snapshot["queue_evicted"] = self._queue.evicted
        snapshot["broadcast_keys"] = len(self._broadcasts)
        snapshot["broadcast_keys_forgotten"] = self._broadcasts.forgotten
        snapshot["members"] = len(self._table)
        snapshot["live_members"] = self._table.live_peers + (0 if self._leaving else 1)
        for state in State:
            snapshot[f"members.{state.name.lower()}"] = 0
        for member in self._table.all():
            snapshot[f"members.{member.state.name.lower()}"] += 1
        snapshot["relays_pending"] = len(self._relays)
        snapshot["suspicions_pending"] = len(self._suspicions)
        snapshot["unstable_members"] = len(self._stability.names())
        snapshot["dropped.stability_table_full"] = self._stability.dropped
        snapshot["exchanges_pending"] = len(self._exchanges)
        snapshot["merge_backlog"] = self._ingests.backlog
        snapshot["snapshots_pending"] = len(self._ingests)
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

    def start(self, now: float, members: Iterable[tuple[str, Address]] = ()) -> list[Action]:
        """Start the timers; ``members`` are peers known to be alive (a bootstrapped cluster).

        Idempotent: a second call only adds the given members.  A
        :class:`~swimcore.roster.Roster` given to a node that knows no one yet is shared, not
        copied (how a simulator fits 10,000 nodes).
        """
        if isinstance(members, Roster) and len(self._table) == 1:
            self._table = RosterTable(self._table.local, self._rng, members)
            if members.best is not None:
                self._consider_leader(self._table.get(members.best))
            # Timers start after the roster is in, so the push-pull interval is scaled to it
            # (unscaled, 10,000 members would each pull 10,000 rows within the first 30 s).
            self._begin(now)
            return self._finish()
        self._begin(now)
        for name, address in members:
            if name != self.name and name not in self._table:
                member = Member(name, address, 0, State.ALIVE, b"", now)
                self._table.add(member)
                self._note_seed(member)
                self._consider_leader(self._table.get(name))
        return self._finish()

    def join(self, seeds: Sequence[Address], now: float) -> list[Action]:
        """Join the group through ``seeds`` (the node's own address among them is skipped).

        One full-state exchange per seed is requested, even when the node is already in a group;
        while the node knows no one else it retries them every ``join_retry_interval``.
        """
        self._begin(now)
        self._seeds = [s for s in seeds if s != self.address]
        wanted = dict.fromkeys(self._seeds)
        self._seed_names = {m.address: m.name for m in self._table.all() if m.address in wanted}
        self._join_round.restart()
        if self._table.live_peers and not self._leaving:
            # Already in a group: contact each seed once anyway, so groups that formed apart
            # (for example through a discovery store) merge.
            for seed in self._seeds:
                self._request_exchange(seed, join=True)
        else:
            self._request_joins()
        return self._finish()

    def tick(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``.  Early, late or repeated ticks are harmless."""
        self._begin(now)
        while (payload := self._timers.pop_due(self._now)) is not None:
            self._fire(*payload)
        return self._finish()

    def receive(self, data: bytes, source: Address, now: float) -> list[Action]:
        """Handle one datagram from ``source``.  Never raises: bad input is dropped and counted."""
        self._begin(now)
        self._count("packets_received")
        self._count("bytes_received", len(data))
        try:
            self._receive(data, source)
        except Exception:  # a bug, not bad input: count it loudly instead of killing the node
            self._count("dropped.internal_error")
        return self._finish()

    def handle_exchange(self, data: bytes, now: float) -> tuple[bytes | None, list[Action]]:
        """Answer a peer's reliable exchange: merge its state and return ours as the reply.

        The reply is ``None`` when the request is dropped (malformed, too large).  A request
        from another group or one that fails authentication is refused: the reply is then a
        :mod:`~swimcore.refusals` message saying why (native wire; ``None`` on memberlist's),
        and an :class:`ExchangeRefused` event reports it once.
        """
        self._begin(now)
        self._refusal = None
        request = self._decode_exchange(data)
        reply = None
        if request is None and self._refusal is not None:
            reply = self._refuse(*self._refusal)
        elif isinstance(request, antientropy.Digest):
            if request.kind == antientropy.REQUEST:
                self._count("digests_answered")
                reply = self._seal(antientropy.answer(request, self._table.all()))
            else:
                self._count("dropped.malformed_exchange")
        elif isinstance(request, StreamPing):
            reply = self._answer_stream_ping(request)
        elif isinstance(request, DirectMessage):
            self._count("messages_received")
            self._out.append(MessageReceived(request.origin, request.payload, True))
            reply = self._seal(self._wire.encode_exchange_ack(self.config.label))
        elif isinstance(request, PushPull) and self._merge_vetoed(request.members):
            reply = self._refuse("merge_vetoed", "this member's application refused the merge")
        elif request is not None:
            if isinstance(request, PushPull):
                self._merge(request)
                self._merge_remote_state(request.user_state, request.join)
            else:
                # A large snapshot, read a slice at a time: the application's verdict on it
                # (if it gives one) comes once it is read, after this reply (as memberlist
                # sends its state before merging the peer's).
                self._ingest(request, None, None)
            reply = self._seal(self._wire.encode_push_pull(self._snapshot(join=False)))
            self._count("exchanges_answered")
        return reply, self._finish()

    def exchange_reply(self, exchange_id: int, data: bytes, now: float) -> list[Action]:
        """Feed back the reply to an :class:`ExchangeRequest` this node emitted."""
        self._begin(now)
        pending = self._exchanges.pop(exchange_id, None)
        if pending is None:
            self._count("dropped.unknown_exchange")
            return self._finish()
        address, purpose, name = pending
        if purpose == _PING:
            self._stream_ack(exchange_id, data)
            return self._finish()
        if purpose == _MESSAGE:
            if self._wire.is_exchange_ack(self._open(data) or b"", self.config.label):
                self._count("messages_delivered")
                self._out.append(MessageDelivered(exchange_id, name))
            else:
                self._count("dropped.malformed_exchange")
                self._out.append(MessageFailed(exchange_id, name, "bad reply"))
            return self._finish()
        refusal = refusals.decode(data)
        if refusal is not None:
            # The peer said why it refused: a join then waits longer before the next attempt.
            self._count("exchanges_refused")
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
            self._count("exchanges_completed")
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
            self._count("exchanges_failed")
            address, purpose, name = pending
            if purpose == _JOIN:
                self._join_failed(exchange_id, address, reason)
            elif purpose == _MESSAGE:
                self._out.append(MessageFailed(exchange_id, name, reason))
            elif purpose == _PING:
                self._count("tcp_fallback_failed")
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
        self._check_meta(self.config, meta)
        self._begin(now)
        if self._leaving:
            raise StateError("this node has left; metadata can no longer change")
        local = self._table.local
        local.meta = bytes(meta)
        self._bump_incarnation(local.incarnation + 1)
        return self._finish()

    def broadcast(self, key: str, payload: bytes, now: float) -> list[Action]:
        """Disseminate an application payload; a newer payload under ``key`` replaces it."""
        if not key or len(key.encode()) > codec.MAX_NAME_BYTES:
            raise ConfigError(f"broadcast key must be 1..{codec.MAX_NAME_BYTES} UTF-8 bytes")
        # It must fit a gossip packet on its own, beside the longest origin name a peer may have.
        fixed = 1 + 1 + codec.MAX_NAME_BYTES + 1 + len(key.encode()) + 8 + 2
        limit = self._packet_space(self._wire.encode_message(Gossip())) - fixed
        if len(payload) > limit:
            raise ConfigError(
                f"broadcast payload is {len(payload)} bytes; at most {max(0, limit)} fit in "
                f"max_packet={self.config.max_packet} with this key"
            )
        self._begin(now)
        version = self._broadcasts.next_version(key, self.name, self._now)
        update = UserBroadcast(self.name, key, version, bytes(payload))
        self._queue.put(_USER_PREFIX + key, self._wire.encode_update(update), user=True)
        return self._finish()

    def send_message(
        self, name: str, payload: bytes, now: float, *, reliable: bool = False
    ) -> list[Action]:
        """Send ``payload`` to the member ``name``.

        Best effort over one datagram, or, with ``reliable``, over the reliable exchange: then
        the returned :class:`ExchangeRequest` is followed by :class:`MessageDelivered` or
        :class:`MessageFailed` with its ``exchange_id``.  Raises :class:`StateError` when the
        member is unknown, dead or left, and :class:`ConfigError` when the payload is too big.
        """
        member = self._table.get(name)
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
                DirectMessage(self.config.label, self.name, bytes(payload))
            )
            self._request(member.address, _MESSAGE, data, name)
        else:
            # Alone when the wire cannot tell a message from a broadcast otherwise.
            alone = self._wire.USER_MESSAGES_ALONE
            self._send(member.address, UserMessage(self.name, bytes(payload)), piggyback=not alone)
        self._count("messages_sent")
        return self._finish()

    # ---------------------------------------------------------------------------- plumbing

    @staticmethod
    def _check_meta(config: Config, meta: bytes) -> None:
        if len(meta) > config.max_metadata:
            raise ConfigError(
                f"metadata is {len(meta)} bytes; config.max_metadata allows {config.max_metadata}"
            )

    def _begin(self, now: float) -> None:
        if not (isinstance(now, int | float) and math.isfinite(now) and abs(now) <= MAX_NOW):
            raise ClockError(f"now must be a finite number of seconds within ±2**40, got {now!r}")
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
                first = self._rng.random() * cfg.gossip_interval
                self._timers.schedule(self._now + first, (Timer.GOSSIP, 0, ""))
            if cfg.push_pull_interval > 0:
                first = self._rng.random() * self._push_pull_interval()
                self._timers.schedule(self._now + first, (Timer.PUSH_PULL, 0, ""))
            if cfg.reconnect_interval > 0:
                first = self._rng.random() * cfg.reconnect_interval
                self._timers.schedule(self._now + first, (Timer.RECONNECT, 0, ""))

    def _finish(self) -> list[Action]:
        out, self._out = self._out, []
        return out

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
        scale = retransmit_scale(self._live_count())
        return (self.config.retransmit_mult * scale, self.config.broadcast_retransmit_mult * scale)

    def _packet_space(self, body: bytes) -> int:
        """Bytes left for updates in a datagram carrying the encoded message ``body``."""
        return self.config.max_packet - len(self._header) - len(body) - self._wire.overhead

    def _send(
        self, to: Address, message: Message, extra: Sequence[bytes] = (), *, piggyback: bool = True
    ) -> None:
        """Send ``message`` with as many queued updates as fit (``extra`` ones go first)."""
        body = self._wire.encode_message(message)
        space = self._packet_space(body)
        first = []
        for update in extra[: self._wire.MAX_UPDATES]:
            # Corrections and buddy news go first, as far as they fit: a packet over
            # max_packet would be dropped by its receiver, the probe it answers with it.
            if len(update) <= space:
                first.append(update)
                space -= len(update)
            else:
                self._count("dropped.no_room_for_extra")
        updates = first
        if piggyback:
            updates += self._queue.take(
                space, self._retransmit_limits(), self._wire.MAX_UPDATES - len(first)
            )
        data = self._seal(self._wire.assemble(self._header, body, updates))
        if len(data) > self.config.max_packet:  # only a message too big on its own gets here
            self._count("dropped.packet_too_large")
            return
        kind = type(message).__name__.lower()
        self._count("packets_sent")
        self._count("bytes_sent", len(data))
        self._count(f"sent.{kind}")
        self._count("updates_sent", len(updates))
        self._out.append(Send(to, data))

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & _SEQ_MASK
        return self._seq

    # ----------------------------------------------------------------------------- receive

    def _seal(self, data: bytes) -> bytes:
        return self._wire.seal(data)

    def _open(self, data: bytes) -> bytes | None:
        """The plaintext of a received payload, or ``None`` (counted) if it fails to open."""
        plain = self._wire.open(data)
        if plain is None:
            self._count("dropped.auth_failed")
        return plain

    def _receive(self, data: bytes, source: Address) -> None:
        if len(data) > self.config.max_packet:
            self._count("dropped.oversized")
            return
        opened = self._open(data)
        if opened is None:
            return
        data = opened
        if not data.startswith(self._header):
            try:
                self._wire.read_label(data)
            except DecodeError:
                self._count("dropped.malformed")
            else:
                self._count("dropped.foreign_label")
            return
        try:
            packet = self._wire.decode_packet(data)
        except DecodeError:
            self._count("dropped.malformed")
            return
        # The whole packet decoded before any of it is applied.
        self._count(f"received.{type(packet.message).__name__.lower()}")
        self._corrections = []
        for update in packet.updates:
            self._apply(update)
        self._handle_message(packet.message, source)
        if self._corrections and not isinstance(packet.message, Ping):
            self._send(source, Gossip(), extra=self._corrections)
        self._corrections = []

    def _handle_message(self, message: Message, source: Address) -> None:
        if isinstance(message, Ping):
            if message.target != self.name:
                self._count("dropped.wrong_target")
                return
            self._send(source, Ack(message.seq), extra=self._corrections)
            self._corrections = []
        elif isinstance(message, Ack):
            self._on_ack(message.seq, source)
        elif isinstance(message, Nack):
            probe = self._probe
            if probe is not None and probe.seq == message.seq:
                probe.nacks += 1
                self._count("nacks_received")
            else:
                self._count("dropped.stale_nack")
        elif isinstance(message, IndirectPing):
            self._relay(message, source)
        elif isinstance(message, UserMessage):
            self._count("messages_received")
            self._out.append(MessageReceived(message.origin, message.payload, False))

    def _on_ack(self, seq: int, source: Address | None = None) -> None:
        probe = self._probe
        if probe is not None and probe.seq == seq:
            if not probe.acked:
                probe.acked = True
                self._awareness.apply(-1)
                self._count("probes_acked")
                if self.config.report_round_trips:
                    self._round_trip(probe, source)
            return
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._send(relay.origin, Ack(relay.origin_seq))
            return
        if self._verifications.pop(seq, None) is not None:
            # Any refutation it carried has been applied already (updates come first).
            self._count("verifications_answered")
            return
        self._count("dropped.stale_ack")

    def _round_trip(self, probe: _Probe, source: Address | None) -> None:
        """Report the round trip of a direct probe (an ack through a relay is not one)."""
        target = self._table.peek(probe.target)
        if target is None or source != target.address:
            return
        rtt = max(0.0, self._now - probe.started)
        self._count("rtt_samples")
        self._count("rtt_us_total", round(rtt * 1e6))
        self._out.append(RoundTrip(target.name, target.address, rtt))

    def _relay(self, message: IndirectPing, source: Address) -> None:
        if len(self._relays) >= self.config.max_relays:
            self._count("dropped.relay_limit")
            return
        seq = self._next_seq()
        self._relays[seq] = _Relay(source, message.seq, message.want_nack)
        self._count("relays")
        self._send(message.address, Ping(seq, message.target, self.name))
        # The nack leaves early enough to reach the prober before its protocol period ends.
        nack_after = self.config.probe_timeout * 0.8
        self._timers.schedule(self._now + nack_after, (Timer.RELAY, seq, ""))

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
                self._timers.schedule(self._now + self.config.gossip_interval, (kind, 0, ""))
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

    def _period(self) -> None:
        self._finish_probe()
        self._timers.schedule(
            self._now + self._awareness.scale(self.config.probe_interval), (Timer.PERIOD, 0, "")
        )
        if self._leaving:
            return
        self._periods += 1
        every = self.config.join_address_every
        if every and self._periods % every == 0 and self._leader is self._table.local:
            self._out.append(JoinAddress(self.address))
        target = self._table.next_probe_target()
        if target is None:
            return
        seq = self._next_seq()
        self._probe = _Probe(seq, target.name, self._now)
        self._count("probes")
        buddy = []
        if target.state is State.SUSPECT and self.config.lifeguard_buddy:
            # Lifeguard's buddy system: tell the suspect it is suspected, so it refutes at once.
            suspect = Suspect(target.name, target.incarnation, self.name)
            buddy.append(self._wire.encode_update(suspect))
            self._count("buddy_probes")
        self._send(target.address, Ping(seq, target.name, self.name), extra=buddy)
        self._timers.schedule(
            self._now + self._awareness.scale(self.config.probe_timeout),
            (Timer.PROBE_TIMEOUT, seq, ""),
        )

    def _probe_timeout(self, seq: int) -> None:
        probe = self._probe
        if probe is None or probe.seq != seq or probe.acked:
            return
        target = self._table.get(probe.target)
        if target is None or target.state not in _LIVE:
            return
        relays = self._table.random_live(
            self.config.indirect_checks, exclude=(target.name,), alive_only=True
        )
        probe.expected_nacks = len(relays)
        for relay in relays:
            self._count("indirect_probes")
            self._send(relay.address, IndirectPing(seq, target.name, target.address, self.name))
        self._stream_probe(probe, target)

    def _stream_probe(self, probe: _Probe, target: Member) -> None:
        """The TCP fallback (``Config.tcp_fallback_probe``): ping ``target`` over the reliable
        exchange as well; an ack that way before the period ends counts (``_stream_ack``).

        At most one such exchange per member is under way: while the last one to ``target``
        has not ended (a firewall that drops TCP makes the driver wait out its exchange
        timeout), no other starts.  Each counts against ``MAX_PENDING_EXCHANGES``.
        """
        if not self.config.tcp_fallback_probe or not self._wire.pings_by_stream(target.name):
            return
        for _, purpose, name in self._exchanges.values():  # at most MAX_PENDING_EXCHANGES
            if purpose == _PING and name == target.name:
                self._count("tcp_fallback_skipped")
                return
        ping = StreamPing(self.config.label, probe.seq, target.name, self.name)
        self._count("tcp_fallback_probes")
        self._request(target.address, _PING, self._wire.encode_stream_ping(ping), target.name)
        probe.fallback = self._exchange_seq

    def _stream_ack(self, exchange_id: int, data: bytes) -> None:
        """The reply to a TCP fallback ping: an ack for the probe still under way saves it."""
        seq = self._wire.read_stream_ack(self._open(data) or b"", self.config.label)
        probe = self._probe
        if seq is None:
            self._count("tcp_fallback_failed")  # no ack: a refusal, or a peer without it
        elif probe is None or probe.fallback != exchange_id:
            self._count("tcp_fallback_late")  # the protocol period it was for is over
        elif seq != probe.seq:
            self._count("tcp_fallback_failed")
        elif not probe.acked:  # (else an ack over UDP, direct or relayed, came first)
            probe.acked = True
            self._awareness.apply(-1)
            self._count("tcp_fallback_acked")
            if self._log is not None and self._reports.first(("udp", probe.target), self._now):
                self._log.log(
                    WARNING,
                    "[%s] %s answered over TCP but not over UDP: is UDP blocked between us?",
                    self.name,
                    probe.target,
                )

    def _answer_stream_ping(self, ping: StreamPing) -> bytes | None:
        """Answer a peer's TCP fallback ping with an ack (``None``: it was for another name)."""
        if ping.target != self.name:
            self._count("dropped.wrong_target")
            return None
        self._count("stream_pings_answered")
        return self._seal(self._wire.encode_stream_ack(self.config.label, ping.seq))

    def _finish_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is None or probe.acked:
            return
        self._count("probes_failed")
        self._debug(
            "probe of %s failed (nacks %d of %d)", probe.target, probe.nacks, probe.expected_nacks
        )
        missed = probe.expected_nacks - probe.nacks
        self._awareness.apply(missed if probe.expected_nacks else 1)
        target = self._table.get(probe.target)
        if target is not None and target.state in _LIVE:
            if self._stability.withholds(self._awareness.score):
                # Missing acks and nacks say more about this node than about the target.
                self._count("accusations_withheld")
                return
            # On a suspect this is our own confirmation, which others count toward theirs.
            self._apply(Suspect(target.name, target.incarnation, self.name))

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
            member = self._table.get(name)
            if member is not None:
                targets.append(member)
        for member in targets:
            if not len(self._queue):
                break
            self._send(member.address, Gossip())

    def _push_pull_interval(self) -> float:
        return push_pull_interval(self.config, self._live_count())

    def _push_pull(self) -> None:
        """Anti-entropy: a full-state exchange with a random live member."""
        if self._leaving:
            return
        peers = self._table.random_live(1)
        if peers and self._digests and self._state_out is None:
            # (With application state the digest of the table says nothing of it: exchange.)
            self._request(peers[0].address, _DIGEST, self._digest_request, "")
        elif peers:
            self._request_exchange(peers[0].address, join=False)
        elif self._seeds:
            self._request_joins()

    def _reconnect(self) -> None:
        """Partition healing: a full-state exchange with a member believed dead, or a seed.

        When a partition made two parts of the group declare each other dead, exchanges with
        remembered dead members (until they are reclaimed) and with the configured seeds are
        how the parts find each other again: each side learns it was declared dead, refutes,
        and the next exchanges carry the refutations across.

        A partition longer than ``reclaim_time`` leaves no dead member to try, so each round
        also exchanges with one configured seed that is not a live member in this view, if
        there is one, whatever else the table holds: a part cut off from a seed reaches it again
        within one ``reconnect_interval`` (plus the exchange) after the network heals.  Nothing
        is sent while no member is believed dead and every seed is a live member.
        """
        if self._leaving:
            return
        dead = [a for name in self._dead if (a := self._address_of(name)) is not None]
        missing = []
        for seed in self._seeds:
            name = self._seed_names.get(seed)
            member = self._table.peek(name) if name is not None else None
            if member is None or member.address != seed or member.state not in _LIVE:
                missing.append(seed)
        for candidates in (dead, missing):
            if candidates:
                self._count("heal_exchanges")
                self._request_exchange(self._rng.choice(candidates), join=False)

    def _address_of(self, name: str) -> Address | None:
        member = self._table.get(name)
        return member.address if member is not None else None

    def _request_joins(self) -> None:
        if self._table.live_peers or self._leaving:
            return
        self._join_round.restart()
        for seed in self._seeds:
            self._request_exchange(seed, join=True)
        if self._seeds:
            jitter = (1.0 + 0.5 * self._rng.random()) * self._join_backoff
            self._timers.schedule(
                self._now + self.config.join_retry_interval * jitter, (Timer.JOIN_RETRY, 0, "")
            )

    def _request_exchange(self, to: Address, *, join: bool) -> None:
        # The snapshot is built when the driver reads the request's data, once connected: a
        # reconnect to a member that is really gone then costs no O(members) snapshot.
        def snapshot() -> bytes:
            return self._seal(self._wire.encode_push_pull(self._snapshot(join=join)))

        self._request(to, _JOIN if join else _SYNC, snapshot, "")

    def _digest_request(self) -> bytes:
        """A periodic push-pull's first step: the digest of this table (antientropy)."""
        return self._seal(antientropy.request(self.config.label, self._table.all()))

    def _digest_reply(self, address: Address, reply: object) -> None:
        """The peer compared digests: nothing to do, or the full exchange."""
        if not isinstance(reply, antientropy.Digest) or reply.kind == antientropy.REQUEST:
            self._count("dropped.malformed_exchange")
        elif reply.kind == antientropy.MATCH:
            self._count("digests_matched")
        else:
            self._count("digests_differed")
            self._request_exchange(address, join=False)

    def _request(
        self, to: Address, purpose: int, data: bytes | Callable[[], bytes], name: str
    ) -> None:
        """Ask for an exchange carrying ``data`` (sealed here) or what ``data()`` returns
        (already sealed, built when the driver reads it)."""
        if len(self._exchanges) >= MAX_PENDING_EXCHANGES:
            # A driver that never reports back must not make the table grow: the oldest
            # request is given up (its late reply is dropped as unknown).
            oldest = next(iter(self._exchanges))
            address, kind, whom = self._exchanges.pop(oldest)
            self._count("exchanges_given_up")
            if kind == _JOIN:
                self._join_failed(oldest, address, "given up")
            elif kind == _MESSAGE:
                self._out.append(MessageFailed(oldest, whom, "given up"))
        self._exchange_seq += 1
        self._exchanges[self._exchange_seq] = (to, purpose, name)
        if purpose == _JOIN:
            self._join_round.add(self._exchange_seq, to)
        self._count("exchanges_requested")
        payload = self._seal(data) if isinstance(data, bytes) else data
        self._out.append(ExchangeRequest(self._exchange_seq, to, payload))

    def _reclaim(self, name: str) -> None:
        member = self._table.peek(name)
        if member is None or member.state in _LIVE or member is self._table.local:
            return
        due = member.since + self.config.reclaim_time
        if self._now < due:
            # Not yet (the member changed state since, or ``now + t - now`` rounded below t).
            self._timers.schedule(due, (Timer.RECLAIM, 0, name))
        else:
            self._table.remove(name)
            self._stability.forget(name)
            self._recent_dead.pop(name, None)
            self._dead.pop(name, None)
            self._count("reclaimed")

    # ------------------------------------------------------------------------ state changes

    def _enqueue(self, name: str, update: Update) -> None:
        self._queue.put(name, self._wire.encode_update(update))

    def _queue_local_alive(self) -> None:
        local = self._table.local
        self._enqueue(local.name, Alive(local.name, local.address, local.incarnation, local.meta))

    def _bump_incarnation(self, at_least: int) -> None:
        local = self._table.local
        local.incarnation = min(MAX_INCARNATION, max(local.incarnation + 1, at_least))
        self._queue_local_alive()

    def _refute(self, incarnation: int) -> None:
        """Someone says this node is not alive (or claims it at a higher incarnation)."""
        if self._leaving:
            return
        self._count("refutations")
        self._debug("refuting news about itself at incarnation %d", incarnation)
        self._awareness.apply(1)
        self._bump_incarnation(incarnation + 1)

    def _apply(self, update: Update) -> None:
        if isinstance(update, UserBroadcast):
            self._apply_user(update)
            return
        # Judge on a read-only view; take the table's own record only to change it (a table
        # over a shared roster copies a record the first time it is taken).
        member = self._table.local if update.name == self.name else self._table.peek(update.name)
        if update.incarnation > (0 if member is None else member.incarnation) + (
            MAX_INCARNATION_STEP
        ):
            self._count("dropped.incarnation_jump")
            return
        if update.name == self.name:
            self._apply_about_self(update)
            return
        if isinstance(update, Alive):
            self._apply_alive(member, update)
            return
        if member is None:
            return  # news of a failure of someone we never knew: nothing to do
        news = (
            State.SUSPECT
            if isinstance(update, Suspect)
            else State.DEAD
            if isinstance(update, Dead)
            else State.LEFT
        )
        verdict = judge(member.state, member.incarnation, news, update.incarnation)
        if verdict is Verdict.IGNORE:
            if member.state is State.ALIVE and update.incarnation < member.incarnation:
                self._correct(member)
            return
        if verdict is Verdict.CONFIRM:
            assert isinstance(update, Suspect)
            self._confirm(member, update)
            return
        if isinstance(update, Suspect) and not self._believes(member, update):
            return
        member = self._own(member)
        member.incarnation = update.incarnation
        self._suspicions.pop(member.name, None)
        self._table.set_state(member, news, self._now)
        self._consider_leader(member)
        self._enqueue(member.name, update)
        if news is State.SUSPECT:
            assert isinstance(update, Suspect)
            self._start_suspicion(member, update.by)
            hold = self.config.stability_suspect_hold
            if hold:
                self._timers.schedule(
                    self._now + hold, (Timer.ANNOUNCE, member.incarnation, member.name)
                )
            else:
                self._announce(member.name, member.incarnation)
            return
        if news is State.DEAD:
            self._stability.died(member.name)  # its damping stays: coming back is a flap
        else:
            self._stability.forget(member.name)
        self._recent_dead[member.name] = self._now
        self._timers.schedule(self._now + self.config.reclaim_time, (Timer.RECLAIM, 0, member.name))
        if news is State.DEAD:
            self._dead[member.name] = None
            self._count("deaths")
            self._emit(MemberFailed(member.info()))
        else:
            self._dead.pop(member.name, None)
            self._count("leaves")
            self._emit(MemberLeft(member.info()))

    def _own(self, member: Member) -> Member:
        """The table's own, changeable record for ``member`` (a peeked one may be shared)."""
        owned = self._table.get(member.name)
        assert owned is not None
        return owned

    def _apply_about_self(self, update: Alive | Suspect | Dead | Left) -> None:
        local = self._table.local
        if isinstance(update, Alive) and update.address != local.address:
            self._name_conflict(local.name, local.address, update.address)
        if isinstance(update, Alive):
            refute = update.incarnation > local.incarnation
        else:
            refute = update.incarnation >= local.incarnation
        if refute:
            self._refute(update.incarnation)
        elif not isinstance(update, Alive) and not self._leaving:
            self._correct(local)

    def _correct(self, member: Member) -> None:
        """The sender of this packet holds stale news about ``member``: answer it directly.

        Infection-style spread leaves a node uninformed now and then (each update is sent only
        O(log n) times); that node keeps gossiping its stale suspicion and would in time declare
        a refuted member dead.  Sending the fresher news straight back to whoever gossips the
        stale kind closes that gap at the cost of one bounded reply.
        """
        if len(self._corrections) < 4:
            self._count("corrections_sent")
            self._corrections.append(
                self._wire.encode_update(
                    Alive(member.name, member.address, member.incarnation, member.meta)
                )
            )

    def _apply_alive(self, member: Member | None, update: Alive) -> None:
        if len(update.meta) > self.config.max_metadata:
            self._count("dropped.metadata_too_large")
            return
        if update.address.is_unspecified:
            self._count("dropped.unspecified_address")
            return
        if not update.name or update.name.startswith("\x00"):
            self._count("dropped.bad_name")  # the names Node() refuses; "\x00" keys user news
            return
        if member is None:
            if len(self._table) >= self.config.max_members:
                self._count("dropped.table_full")
                return
            if self._admit is not None and not self._admits(update):
                return
            member = Member(
                update.name, update.address, update.incarnation, State.ALIVE, update.meta, self._now
            )
            self._table.add(member)
            self._note_seed(member)
            self._consider_leader(member)
            self._enqueue(member.name, update)
            self._emit(MemberJoined(member.info()))
            return
        if update.address != member.address and member.state in (State.ALIVE, State.SUSPECT):
            self._name_conflict(member.name, member.address, update.address)
        if judge(member.state, member.incarnation, State.ALIVE, update.incarnation) is not (
            Verdict.APPLY
        ):
            return
        if update.address != member.address and not self._may_move(member):
            self._count("dropped.address_conflict")
            return
        member = self._own(member)
        before = member.state
        changed = member.meta != update.meta or member.address != update.address
        # A live member re-announcing itself unchanged at a higher incarnation refuted news.
        refuted = before in _LIVE and update.incarnation > member.incarnation and not changed
        member.incarnation = update.incarnation
        member.meta = update.meta
        member.address = update.address
        self._note_seed(member)
        suspicion = self._suspicions.pop(member.name, None)
        self._table.set_state(member, State.ALIVE, self._now)
        self._recent_dead.pop(member.name, None)
        self._dead.pop(member.name, None)
        self._consider_leader(member)
        self._enqueue(member.name, update)
        damped = refuted and self._flapped(member, suspected=before is State.SUSPECT)
        if before is State.SUSPECT:
            self._count("suspicions_refuted")
            if not damped and (suspicion is None or suspicion.announced):
                self._emit(MemberAlive(member.info()))
        elif before is not State.ALIVE:
            if before is State.DEAD and self._back_from_the_dead(member):
                self._count("events_damped")  # readmitted by MemberStable once quiet
            else:
                self._emit(MemberJoined(member.info()))
        elif changed:
            self._emit(MemberUpdated(member.info()))

    def _note_seed(self, member: Member) -> None:
        if self._seeds and member.address in self._seeds:  # a handful of addresses
            self._seed_names[member.address] = member.name

    def _may_move(self, member: Member) -> bool:
        """Whether ``member``'s name may move to another address.

        The native rule: with any newer incarnation (a restart elsewhere is accepted at once).
        memberlist's rule, followed under its profile so that mixed views agree: only once the
        member left, or was dead for ``gossip_to_the_dead_time`` (when memberlist forgets it);
        until then the name stays where it was and the conflict is counted.
        """
        if not self._wire.STRICT_ADDRESSES:
            return True
        if member.state is State.LEFT:
            return True
        dead_for = self._now - member.since
        return member.state is State.DEAD and dead_for >= self.config.gossip_to_the_dead_time

    def _apply_user(self, update: UserBroadcast) -> None:
        verdict = self._broadcasts.judge(update.key, update.version, update.origin, self._now)
        if verdict is News.LEAP:
            self._count("dropped.broadcast_version_jump")
            return
        if verdict is News.OLD:
            return
        self._queue.put(_USER_PREFIX + update.key, self._wire.encode_update(update), user=True)
        self._out.append(BroadcastReceived(update.origin, update.key, update.payload))

    def _believes(self, member: Member, update: Suspect) -> bool:
        """Whether another member's accusation makes ``member`` (alive here) suspect here.

        With ``stability_accusers`` above 1 an accusation is relayed but believed only with
        others beside it; an accuser held suspect, dead or unstable is not believed at all
        (see :mod:`swimcore.stability`).
        """
        stability = self._stability
        if update.by == self.name or member.state is not State.ALIVE:
            return True
        if stability.corroborates or stability.damping:
            accuser = self._table.peek(update.by)
            if stability.unstable(update.by) or (
                stability.corroborates and accuser is not None and accuser.state is not State.ALIVE
            ):
                self._count("accusations_disbelieved")
                return False
        if not stability.corroborates:
            return True
        cfg = self.config
        window = suspicion_min(cfg.suspicion_mult, self._live_count(), cfg.probe_interval)
        if stability.accuse(member.name, update.incarnation, update.by, self._now, window):
            if stability.believed(member.name):
                return True
            self._count("accusations_pending")
            self._enqueue(member.name, update)  # others count it; the accused can refute it
        return False

    def _flapped(self, member: Member, *, suspected: bool) -> bool:
        """``member`` refuted news of itself (whether or not this node believed it): damping
        counts a flap.  True when its :class:`MemberAlive` is replaced (unstable) or damped.

        Every member hears every refutation, so every view counts the same flaps and damps
        the member at about the same time (within the refutation's spread)."""
        stability = self._stability
        if not stability.damping:
            return False
        if stability.flapped(member.name, self._now):
            self._emit(MemberUnstable(member.info()))
            self._timers.schedule(stability.reuse_at(member.name), (Timer.STABLE, 0, member.name))
            return True
        if stability.unstable(member.name) and suspected:
            self._count("events_damped")
            return True
        return False

    def _back_from_the_dead(self, member: Member) -> bool:
        """``member``, declared dead here, is alive again: with damping that is a flap.  True
        when it is (or now becomes) unstable: it is held out until :class:`MemberStable`."""
        stability = self._stability
        if not stability.damping:
            return False
        if stability.flapped(member.name, self._now):
            self._timers.schedule(stability.reuse_at(member.name), (Timer.STABLE, 0, member.name))
        return stability.unstable(member.name)

    def _announce(self, name: str, incarnation: int) -> None:
        """Report a suspicion that still stands (``stability_suspect_hold`` after it began),
        unless the member is damped."""
        suspicion = self._suspicions.get(name)
        member = self._table.peek(name)
        if suspicion is None or member is None or suspicion.incarnation != incarnation:
            return
        if member.state is not State.SUSPECT or suspicion.announced:
            return
        if self._stability.unstable(name):
            self._count("events_damped")
            return
        suspicion.announced = True
        self._emit(MemberSuspected(member.info()))

    def _settle(self, name: str) -> None:
        """An unstable member's penalty may have decayed: report it stable if it is alive."""
        stability = self._stability
        member = self._table.peek(name)
        if member is None or not stability.unstable(name):
            return
        if member.state is State.ALIVE and stability.settle(name, self._now):
            self._emit(MemberStable(member.info()))
            return
        due = max(stability.reuse_at(name), self._now + self.config.probe_interval)
        self._timers.schedule(due, (Timer.STABLE, 0, name))

    def _start_suspicion(self, member: Member, by: str) -> None:
        self._count("suspicions")
        held = self._stability.take(member.name, member.incarnation)
        cfg = self.config
        n = self._live_count()
        low = suspicion_min(cfg.suspicion_mult, n, cfg.probe_interval)
        dynamic = cfg.lifeguard_dynamic_suspicion
        needed = cfg.suspicion_mult - 2 if dynamic else 0
        if n - 2 < needed:
            needed = 0
        suspicion = Suspicion(
            incarnation=member.incarnation,
            # Corroborated: the suspicion runs from the first accusation, as if believed then.
            started=self._now if held is None else held.first,
            min_timeout=low,
            max_timeout=low * cfg.suspicion_max_mult if dynamic else low,
            needed=max(0, needed),
        )
        for accuser in (by, *(held.accusers if held is not None else ())):
            if accuser and accuser != self.name:
                suspicion.confirm(accuser)
        self._suspicions[member.name] = suspicion
        self._timers.schedule(
            self._suspicion_due(suspicion), (Timer.SUSPICION, suspicion.token, member.name)
        )

    def _suspicion_due(self, suspicion: Suspicion) -> float:
        """When the suspicion timer fires next: the deadline, or, while the last-chance probe
        is still to be sent, one probe timeout before it, so that the probe's wait ends when
        the suspicion does (a member that stays silent dies at the deadline, not one probe
        timeout after it, as memberlist's would)."""
        deadline = suspicion.deadline()
        if self.config.verify_before_death and suspicion.verify_seq is None:
            return max(suspicion.started, deadline - self.config.probe_timeout)
        return deadline

    def _confirm(self, member: Member, update: Suspect) -> None:
        suspicion = self._suspicions.get(member.name)
        if suspicion is None or not update.by:
            return
        if update.by == self.name:
            if not suspicion.confirmed_locally:
                suspicion.confirmed_locally = True  # spread our own view once; it is not counted
                self._enqueue(member.name, update)
            return
        if suspicion.confirm(update.by):
            self._count("suspicion_confirmations")
            self._enqueue(member.name, update)
            self._timers.schedule(
                max(self._now, self._suspicion_due(suspicion)),
                (Timer.SUSPICION, suspicion.token, member.name),
            )

    def _suspicion_expired(self, name: str, token: int) -> None:
        suspicion = self._suspicions.get(name)
        member = self._table.get(name)
        if suspicion is None or suspicion.token != token or member is None:
            return
        if self._now < self._suspicion_due(suspicion):
            return  # left over from an earlier suspicion of this member (tokens restart at 0)
        if member.state is not State.SUSPECT:
            return
        if self.config.verify_before_death and suspicion.verify_seq is None:
            self._verify(member, suspicion)
            return
        self._verifications.pop(suspicion.verify_seq or -1, None)
        self._apply(Dead(name, member.incarnation, self.name))

    def _verify(self, member: Member, suspicion: Suspicion) -> None:
        """One last direct probe, carrying the suspicion, before declaring ``member`` dead.

        Infection-style spread occasionally misses a node, which then holds a suspicion whose
        refutation never reached it.  The suspect's answer to this probe carries the refutation
        (or makes one), so only a member that stays silent for one more probe timeout dies.
        """
        if len(self._verifications) >= 64:  # drop those whose suspicion ended meanwhile
            self._verifications = {
                seq: name
                for seq, name in self._verifications.items()
                if (held := self._suspicions.get(name)) is not None and held.verify_seq == seq
            }
        seq = self._next_seq()
        suspicion.verify_seq = seq
        suspicion.token += 1
        self._verifications[seq] = member.name
        self._count("verifications")
        suspect = self._wire.encode_update(Suspect(member.name, member.incarnation, self.name))
        self._send(member.address, Ping(seq, member.name, self.name), extra=[suspect])
        wait = self._now + self._awareness.scale(self.config.probe_timeout)
        self._timers.schedule(
            max(wait, suspicion.deadline()), (Timer.SUSPICION, suspicion.token, member.name)
        )

    def _consider_leader(self, member: Member | None) -> None:
        """Keep the leader current: O(1) unless the leader itself stops being alive."""
        if member is None:
            return
        leader = self._leader
        if member.state is State.ALIVE:
            if leader is None or member.address.leader_key() > leader.address.leader_key():
                self._set_leader(member)
        elif member is leader:
            best: Member | None = None
            for candidate in self._table.all():
                if candidate.state is State.ALIVE and (
                    best is None or candidate.address.leader_key() > best.address.leader_key()
                ):
                    best = candidate
            # The table's own record, not a shared one (see RosterTable).
            self._set_leader(self._table.get(best.name) if best is not None else None)

    def _set_leader(self, member: Member | None) -> None:
        if member is not self._leader:
            self._leader = member
            if member is not None:
                self._out.append(LeaderChanged(member.info()))

    # --------------------------------------------------------------------------- exchanges

    def _decode_exchange(
        self, data: bytes
    ) -> PushPull | SnapshotRows | DirectMessage | StreamPing | antientropy.Digest | None:
        """The exchange in ``data``, or ``None`` when it is dropped (counted; ``_refusal`` set
        when the peer should be told why).  A snapshot of at most ``MERGE_SLICE`` rows comes
        decoded (a :class:`PushPull`); a larger one with only its header checked, its rows to
        be decoded a slice at a time (see :mod:`swimcore.ingest`)."""
        if len(data) > self.exchange_limit:
            self._count("dropped.exchange_too_large")
            return None
        opened = self._open(data)
        if opened is None:
            self._refusal = ("auth_failed", "it did not open with this member's keys")
            return None
        data = opened
        try:
            snapshot: PushPull | SnapshotRows | DirectMessage | StreamPing | antientropy.Digest
            if self._digests and antientropy.is_digest(data):
                snapshot = antientropy.decode(data)
            else:
                snapshot = self._wire.open_exchange(data)
                if (
                    not isinstance(snapshot, DirectMessage | StreamPing)
                    and snapshot.count <= MERGE_SLICE
                ):
                    snapshot = snapshot.read_all()
        except AuthError:  # the memberlist profile opens streams inside its own layers
            self._count("dropped.auth_failed")
            self._refusal = ("auth_failed", "it did not open with this member's keys")
            return None
        except DecodeError:
            self._count("dropped.malformed_exchange")
            if self._keyring is None and self.config.wire == "native" and _sealed_look(data):
                # Most often an encrypted payload sent to a member without a key.
                self._refusal = (
                    "auth_failed",
                    "unreadable: encrypted, but this member has no key?",
                )
            return None
        if snapshot.label != self.config.label:
            self._count("dropped.foreign_label")
            self._refusal = ("foreign_label", f"the sender's label is {snapshot.label!r}")
            return None
        if isinstance(snapshot, PushPull) and len(snapshot.members) > self.config.max_members:
            # More rows than the table can hold (a peer configured larger): merge what fits.
            self._count("dropped.snapshot_rows", len(snapshot.members) - self.config.max_members)
            snapshot = attrs.evolve(snapshot, members=snapshot.members[: self.config.max_members])
        elif (
            not isinstance(snapshot, PushPull | DirectMessage | StreamPing | antientropy.Digest)
            and snapshot.count > self.config.max_members
        ):
            self._count("dropped.snapshot_rows", snapshot.count - self.config.max_members)
        return snapshot

    def _join_failed(self, exchange_id: int, seed: Address, reason: str) -> None:
        self._out.append(JoinFailed(seed, reason))
        self._join_ended(exchange_id, reason)

    def _join_ended(self, exchange_id: int, failure: str | None) -> None:
        """An exchange of a join attempt ended: report the attempt once all of it has."""
        result = self._join_round.finish(exchange_id, failure)
        if result is not None:
            self._out.append(result)

    def _admits(self, update: Alive) -> bool:
        """Whether the application admits the member ``update`` introduces (counted if not).

        A callback that raises refuses (and is counted apart): a bug there must not let in a
        member the application meant to keep out, nor stop the node.
        """
        assert self._admit is not None
        info = MemberInfo(update.name, update.address, update.incarnation, State.ALIVE, update.meta)
        try:
            admitted = bool(self._admit(info))
        except Exception:
            self._count("admission_errors")
            admitted = False
        if not admitted:
            self._count("dropped.not_admitted")
        return admitted

    def _merge_vetoed(self, rows: Sequence[MemberState]) -> bool:
        """Whether the application refuses the whole snapshot of ``rows`` (counted if so)."""
        if self._admit_merge is None:
            return False
        infos = [
            MemberInfo(row.name, row.address, row.incarnation, row.state, row.meta) for row in rows
        ]
        try:
            vetoed = not self._admit_merge(infos)
        except Exception:
            self._count("admission_errors")
            vetoed = True
        if vetoed:
            self._count("merges_vetoed")
        return vetoed

    def _refuse(self, reason: str, detail: str) -> bytes | None:
        """Report a refused exchange once; the reply telling the peer why (native wire)."""
        if self._reports.first(("refused", reason, detail), self._now):
            self._out.append(ExchangeRefused(reason, detail))
        if self.config.wire != "native":
            return None  # memberlist's errResp is not sent yet: the stream is closed as before
        return refusals.encode(reason, detail)

    def _name_conflict(self, name: str, address: Address, other: Address) -> None:
        """Report once that ``other`` claims ``name``, held here at ``address``."""
        self._count("name_conflicts")
        if self._reports.first(("conflict", name, other), self._now):
            self._out.append(NameConflict(name, address, other, name == self.name))

    def _snapshot(self, *, join: bool) -> PushPull:
        rows = tuple(
            MemberState(m.name, m.address, m.incarnation, m.state, m.meta)
            for m in self._table.all()
        )
        return PushPull(self.config.label, join, rows, self._local_state(join))

    def _local_state(self, join: bool) -> bytes:
        """The application's state for a full-state exchange (``b""`` without a hook)."""
        if self._state_out is None:
            return b""
        try:
            return bytes(self._state_out(join))
        except Exception:
            self._count("state_errors")
            return b""

    def _merge_remote_state(self, user_state: bytes, join: bool) -> None:
        """Hand the application the state a peer's exchange carried (if any)."""
        if self._state_in is None or not user_state:
            return
        try:
            self._state_in(user_state, join)
            self._count("states_merged")
        except Exception:
            self._count("state_errors")

    def _merge(self, snapshot: PushPull) -> None:
        """Merge a small snapshot (read whole): at once, or after the snapshots pending."""
        if not self._ingests:
            self._merge_rows(snapshot.members)
        else:
            rows = ingest.ListRows(snapshot.label, snapshot.join, snapshot.members)
            self._ingest(rows, None, None)

    def _ingest(self, rows: SnapshotRows, source: Address | None, join_id: int | None) -> None:
        """Queue a snapshot to read and merge a slice per step; the first slice at once when
        nothing else is pending.  ``join_id``: a join whose outcome waits for it."""
        cap = min(rows.count, self.config.max_members)
        held: list[MemberState] | None = None
        if self._admit_merge is not None and not isinstance(rows, ingest.ListRows):
            held = []
        job = ingest.Ingest(rows, source, cap, join_id, held)
        idle = not self._ingests
        for dropped in self._ingests.add(job):
            self._give_up(dropped, "dropped.merge_backlog", "superseded by a newer snapshot")
        if idle:
            self._merge_slice()

    def _give_up(self, job: ingest.Ingest, reason: str, why: str) -> None:
        """Count the rows of ``job`` that will not be merged (those merged stay)."""
        self._count(reason, job.backlog)
        if job.exchange_id is not None and job.source is not None:
            self._join_failed(job.exchange_id, job.source, why)
            job.exchange_id = None

    def _merge_slice(self) -> None:
        """One step: decode and merge at most ``MERGE_SLICE`` rows of the oldest snapshot."""
        queue = self._ingests
        if not queue:
            return
        job = queue.head
        rows = job.rows.take(MERGE_SLICE)
        kept = rows[: job.cap - job.taken]
        job.taken += len(kept)
        if job.held is not None:
            job.held.extend(kept)
        else:
            self._merge_rows(kept)
            job.merged += len(kept)
        done = False
        if job.rows.error is not None:
            self._count("dropped.malformed_exchange")
            self._give_up(job, "dropped.malformed_rows", "bad reply")
            done = True
        elif not job.rows.left:
            done = self._read_to_the_end(job)
        if done:
            queue.pop()
        if queue:
            self._count("merge_slices")
            self._timers.schedule(self._now + MERGE_PAUSE, (Timer.MERGE, 0, ""))

    def _read_to_the_end(self, job: ingest.Ingest) -> bool:
        """Every row of ``job`` is read: hand over the application's state, and ask for its
        verdict on the whole if it gives one.  Whether ``job`` is over."""
        try:
            user_state = job.rows.user_state()
        except DecodeError:
            self._count("dropped.malformed_exchange")
            self._give_up(job, "dropped.malformed_rows", "bad reply")
            return True
        if job.held is not None:
            if self._merge_vetoed(job.held):
                self._refuse("merge_vetoed", "this member's application refused the merge")
                self._give_up(job, "dropped.vetoed_rows", _VETOED)
                return True
            # Admitted: merge what was held, a slice per step, like any other snapshot.
            job.rows = ingest.ListRows(job.rows.label, job.rows.join, job.held)
            job.cap, job.taken, job.held = len(job.held), 0, None
        if job.exchange_id is not None:
            self._join_ended(job.exchange_id, None)
            job.exchange_id = None
        self._merge_remote_state(user_state, job.rows.join)
        return not job.rows.left

    def _merge_rows(self, rows: Sequence[MemberState]) -> None:
        peek = self._table.peek
        for row in rows:
            if row.state is State.ALIVE:
                known = peek(row.name)
                if known is not None and row.name != self.name and _stale(known, row):
                    continue  # the alive row we hold already: applying it would change nothing
                self._apply(Alive(row.name, row.address, row.incarnation, row.meta))
            elif row.state is State.LEFT:
                self._apply(Left(row.name, row.incarnation))
            elif row.name in self._table:
                # As memberlist does, a remote "dead" is only a suspicion here: verify it ourselves.
                self._apply(Suspect(row.name, row.incarnation, ""))


def _sealed_look(data: bytes) -> bool:
    """Whether ``data`` has the shape of a keyring envelope (version byte, room for nonce and
    tag): garbage that does not is dropped without a reply, as before."""
    return len(data) >= KEYRING_OVERHEAD and data[0] == KEYRING_VERSION


def _stale(member: Member, row: MemberState) -> bool:
    """Whether alive news ``row`` is exactly what we hold about ``member`` (the common row of a
    stable cluster): applying it would neither change nor count anything."""
    # Only an alive row is skipped: every other state's answer is the transitions table's.
    return (
        member.state is State.ALIVE
        and row.incarnation == member.incarnation
        and (row.meta is member.meta or row.meta == member.meta)
        and (row.address is member.address or row.address == member.address)
    )
