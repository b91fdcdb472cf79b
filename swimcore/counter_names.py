"""Every counter name a node or a driver reports: the catalog, one constant per name.

``Node.counters()`` and a driver member's ``counters()`` return a flat ``dict[str, int]`` keyed
by these names, and ``swimcore.transports.prometheus`` exports them under names derived from
them (``dropped.<reason>`` becomes ``swimcore_dropped_total{reason=...}``, ``deaths`` becomes
``swimcore_deaths_total``, ...).  Dashboards and alerts are written against them, so they are a
public contract: a name is never changed or reused for another meaning, and every place that
counts uses the constant here, never a string of its own (a test drives nodes and drivers and
checks that every key they report is in this catalog).

Most names are counts since the node started (they only grow).  The node's snapshot also
carries levels (how many now: ``members``, ``queue_depth``, ...), marked "level" below.

A few names are families: a prefix and one name per kind, listed here too
(``sent.<kind>``, ``received.<kind>``, ``members.<state>``,
``driver.socket_errors.<where>.<errno>``).  A driver's own counters are reported with the
prefix ``driver.`` (:data:`DRIVER_PREFIX`) before the names of the driver section.
"""

from __future__ import annotations

__all__ = [
    "DRIVER_COUNTERS",
    "DRIVER_PREFIX",
    "LEVELS",
    "MEMBERS_PREFIX",
    "MEMBER_STATES",
    "MESSAGE_KINDS",
    "NODE_COUNTERS",
    "RECEIVED_PREFIX",
    "SENT_PREFIX",
    "SOCKET_ERRORS_PREFIX",
    "SOCKET_ERROR_PLACES",
    "is_known",
    "member_state",
    "received",
    "sent",
    "socket_error",
]

# ----------------------------------------------------------------------- datagrams, the node

#: Datagrams handed to ``Node.receive`` (every one, before any check).
PACKETS_RECEIVED = "packets_received"
#: Bytes of the datagrams handed to ``Node.receive``.
BYTES_RECEIVED = "bytes_received"
#: Datagrams the node sent (after sealing; one per ``Send`` action).
PACKETS_SENT = "packets_sent"
#: Bytes of the datagrams the node sent.
BYTES_SENT = "bytes_sent"
#: Membership updates piggybacked on the datagrams sent.
UPDATES_SENT = "updates_sent"
#: Prefix of the datagrams sent by the kind of their message: ``sent.ping``, ``sent.ack``, ...
SENT_PREFIX = "sent."
#: Prefix of the datagrams received (decoded whole) by the kind of their message.
RECEIVED_PREFIX = "received."
#: The kinds of ``sent.<kind>`` and ``received.<kind>``: a message class's name, lower case.
MESSAGE_KINDS = ("ping", "indirectping", "ack", "nack", "gossip", "usermessage")

# ------------------------------------------------------------------------- drops, the node

#: A datagram larger than ``max_packet`` arrived (dropped unread).
DROPPED_OVERSIZED = "dropped.oversized"
#: A datagram or exchange failed the keyring's authentication (or was plain for a keyed node).
DROPPED_AUTH_FAILED = "dropped.auth_failed"
#: A datagram that could not be decoded (bad header, checksum, length or body).
DROPPED_MALFORMED = "dropped.malformed"
#: A datagram or exchange carrying another cluster's label.
DROPPED_FOREIGN_LABEL = "dropped.foreign_label"
#: A bug caught in ``Node.receive``: the datagram was dropped instead of the node failing.
DROPPED_INTERNAL_ERROR = "dropped.internal_error"
#: A ping (UDP, or the TCP fallback's) meant for another member name.
DROPPED_WRONG_TARGET = "dropped.wrong_target"
#: A nack for no probe in progress (late, or forged).
DROPPED_STALE_NACK = "dropped.stale_nack"
#: An ack for no probe, relay or verification in progress (late, or forged).
DROPPED_STALE_ACK = "dropped.stale_ack"
#: An indirect-probe request refused: ``max_relays`` relays were already pending.
DROPPED_RELAY_LIMIT = "dropped.relay_limit"
#: A correction or buddy update that did not fit in the datagram it was meant for.
DROPPED_NO_ROOM_FOR_EXTRA = "dropped.no_room_for_extra"
#: An outgoing message larger than ``max_packet`` on its own (not sent).
DROPPED_PACKET_TOO_LARGE = "dropped.packet_too_large"
#: Alive news with metadata over ``max_metadata``.
DROPPED_METADATA_TOO_LARGE = "dropped.metadata_too_large"
#: Alive news giving an unspecified address (0.0.0.0 or ::).
DROPPED_UNSPECIFIED_ADDRESS = "dropped.unspecified_address"
#: Alive news with a name ``Node()`` refuses (empty, or starting with NUL).
DROPPED_BAD_NAME = "dropped.bad_name"
#: News of a new member while the table holds ``max_members``.
DROPPED_TABLE_FULL = "dropped.table_full"
#: Alive news moving a name to another address that the wire's rules forbid (memberlist's).
DROPPED_ADDRESS_CONFLICT = "dropped.address_conflict"
#: Alive news placing another member at this member's own address, where only this member can
#: be (a forged move there would cut the member off from itself in every view that took it).
DROPPED_OWN_ADDRESS = "dropped.own_address"
#: News more than ``MAX_INCARNATION_STEP`` above the incarnation known.
DROPPED_INCARNATION_JUMP = "dropped.incarnation_jump"
#: A broadcast whose version leaps too far above the node's clock.
DROPPED_BROADCAST_VERSION_JUMP = "dropped.broadcast_version_jump"
#: News of a new member the application's admission hook refused (or failed on).
DROPPED_NOT_ADMITTED = "dropped.not_admitted"
#: An exchange payload larger than ``Node.exchange_limit``.
DROPPED_EXCHANGE_TOO_LARGE = "dropped.exchange_too_large"
#: An exchange (request, reply or snapshot rows) that could not be decoded.
DROPPED_MALFORMED_EXCHANGE = "dropped.malformed_exchange"
#: A reply for an exchange the node no longer waits for (given up, or never asked).
DROPPED_UNKNOWN_EXCHANGE = "dropped.unknown_exchange"
#: Snapshot rows beyond ``max_members`` (not merged).
DROPPED_SNAPSHOT_ROWS = "dropped.snapshot_rows"
#: Snapshot rows not merged because a newer snapshot superseded theirs.
DROPPED_MERGE_BACKLOG = "dropped.merge_backlog"
#: Snapshot rows not merged because the rest of their snapshot was unreadable.
DROPPED_MALFORMED_ROWS = "dropped.malformed_rows"
#: Snapshot rows not merged because the application's merge hook vetoed their snapshot.
DROPPED_VETOED_ROWS = "dropped.vetoed_rows"
#: Accusations the stability tracker could not hold (its table was full): a count, in the
#: node's snapshot.
DROPPED_STABILITY_TABLE_FULL = "dropped.stability_table_full"

# ------------------------------------------------------------------------- probes, the node

#: Direct probes started (one per protocol period with someone to probe).
PROBES = "probes"
#: Probes acknowledged in time (directly, through a relay, or by the TCP fallback).
PROBES_ACKED = "probes_acked"
#: Probes that ended with no ack.
PROBES_FAILED = "probes_failed"
#: Probes of a suspect that carried the suspicion to it (Lifeguard's buddy system).
BUDDY_PROBES = "buddy_probes"
#: Indirect-probe requests sent (one per relay asked).
INDIRECT_PROBES = "indirect_probes"
#: Indirect-probe requests this node relayed for others.
RELAYS = "relays"
#: Nacks received for the probe in progress (Lifeguard's relay-is-alive signal).
NACKS_RECEIVED = "nacks_received"
#: Round-trip samples taken from acks to direct probes.
RTT_SAMPLES = "rtt_samples"
#: The sum of those round trips, in microseconds (with ``rtt_samples``: the mean).
RTT_US_TOTAL = "rtt_us_total"
#: TCP fallback probes started.
TCP_FALLBACK_PROBES = "tcp_fallback_probes"
#: TCP fallback probes answered by the right ack.
TCP_FALLBACK_ACKED = "tcp_fallback_acked"
#: TCP fallback probes that failed (no exchange, a refusal, the wrong answer).
TCP_FALLBACK_FAILED = "tcp_fallback_failed"
#: TCP fallback answers that came after the protocol period they were for.
TCP_FALLBACK_LATE = "tcp_fallback_late"
#: TCP fallback probes not started because one to the same member was still open.
TCP_FALLBACK_SKIPPED = "tcp_fallback_skipped"
#: TCP fallback pings from peers answered.
STREAM_PINGS_ANSWERED = "stream_pings_answered"
#: Last-chance probes of a suspect before it is declared dead.
VERIFICATIONS = "verifications"
#: Last-chance probes answered (the suspect is alive).
VERIFICATIONS_ANSWERED = "verifications_answered"

# ------------------------------------------------------------------- membership, the node

#: Suspicions this node started.
SUSPICIONS = "suspicions"
#: Suspicions ended by the member's alive news (refuted).
SUSPICIONS_REFUTED = "suspicions_refuted"
#: Independent confirmations of a suspicion (Lifeguard: they shorten its timeout).
SUSPICION_CONFIRMATIONS = "suspicion_confirmations"
#: Times this node refuted news that it is suspect, dead or older.
REFUTATIONS = "refutations"
#: Members this node saw die.
DEATHS = "deaths"
#: Members this node saw leave.
LEAVES = "leaves"
#: Dead or left members forgotten after ``reclaim_time``.
RECLAIMED = "reclaimed"
#: Replies sent to correct stale news about a member (bounded per datagram).
CORRECTIONS_SENT = "corrections_sent"
#: Members claiming a name held here at another address (each reported once).
NAME_CONFLICTS = "name_conflicts"
#: Failures of the application's admission hook (counted as refusals).
ADMISSION_ERRORS = "admission_errors"
#: Accusations withheld by the health gate (this node's own health was poor).
ACCUSATIONS_WITHHELD = "accusations_withheld"
#: Accusations held until a second accuser confirms them.
ACCUSATIONS_PENDING = "accusations_pending"
#: Accusations not believed (the accuser is unstable, or not alive here).
ACCUSATIONS_DISBELIEVED = "accusations_disbelieved"
#: Refutations of news not believed here that are not counted as flaps: when their verdict
#: was due, no accuser of what they answered was believed here.
FLAPS_DISCOUNTED = "flaps_discounted"
#: Events not reported to the application because the member is flapping.
EVENTS_DAMPED = "events_damped"

# -------------------------------------------------------------------- exchanges, the node

#: Reliable exchanges (push-pull, join, message, fallback probe) the node asked for.
EXCHANGES_REQUESTED = "exchanges_requested"
#: Exchanges whose reply came back and was read.
EXCHANGES_COMPLETED = "exchanges_completed"
#: Exchanges the driver reported failed.
EXCHANGES_FAILED = "exchanges_failed"
#: Exchanges the peer refused, saying why.
EXCHANGES_REFUSED = "exchanges_refused"
#: The oldest pending exchanges given up to keep the pending table bounded.
EXCHANGES_GIVEN_UP = "exchanges_given_up"
#: Push-pull exchanges from peers answered with this node's state.
EXCHANGES_ANSWERED = "exchanges_answered"
#: Exchanges started to heal a partition (with a dead member or a missing seed).
HEAL_EXCHANGES = "heal_exchanges"
#: Table digests from peers answered.
DIGESTS_ANSWERED = "digests_answered"
#: Digest comparisons that found both tables equal (no full exchange).
DIGESTS_MATCHED = "digests_matched"
#: Digest comparisons that found a difference (a full exchange follows).
DIGESTS_DIFFERED = "digests_differed"
#: Snapshot slices merged past the first (large snapshots merge a slice per step).
MERGE_SLICES = "merge_slices"
#: Snapshots the application's merge hook vetoed (or failed on).
MERGES_VETOED = "merges_vetoed"
#: Application states merged from snapshots.
STATES_MERGED = "states_merged"
#: Failures of the application's state hooks (produce or merge).
STATE_ERRORS = "state_errors"
#: Direct messages sent (best effort or reliable).
MESSAGES_SENT = "messages_sent"
#: Direct messages received.
MESSAGES_RECEIVED = "messages_received"
#: Reliable direct messages the peer acknowledged.
MESSAGES_DELIVERED = "messages_delivered"

# ------------------------------------------------------------- levels in ``Node.counters()``

#: Level: the Lifeguard local health score (0 is healthy).
HEALTH = "health"
#: Level: updates waiting in the piggyback queue.
QUEUE_DEPTH = "queue_depth"
#: Updates evicted from the full piggyback queue (a count).
QUEUE_EVICTED = "queue_evicted"
#: Level: broadcast keys remembered.
BROADCAST_KEYS = "broadcast_keys"
#: Broadcast keys forgotten to keep their table bounded (a count).
BROADCAST_KEYS_FORGOTTEN = "broadcast_keys_forgotten"
#: Level: members in the table, any state, this node included.
MEMBERS = "members"
#: Level: live (alive or suspect) members, this node included unless it left.
LIVE_MEMBERS = "live_members"
#: Prefix of the levels of members in the table by state: ``members.alive``, ...
MEMBERS_PREFIX = "members."
#: The states of ``members.<state>``: ``swimcore.State`` names, lower case.
MEMBER_STATES = ("alive", "suspect", "dead", "left")
#: Level: indirect probes this node is relaying.
RELAYS_PENDING = "relays_pending"
#: Level: suspicions running.
SUSPICIONS_PENDING = "suspicions_pending"
#: Level: members the stability tracker holds as unstable.
UNSTABLE_MEMBERS = "unstable_members"
#: Level: exchanges waiting for their reply.
EXCHANGES_PENDING = "exchanges_pending"
#: Level: snapshot rows waiting to be merged.
MERGE_BACKLOG = "merge_backlog"
#: Level: snapshots waiting to be merged.
SNAPSHOTS_PENDING = "snapshots_pending"

#: The levels above (they go up and down; every other name only grows): Prometheus gauges.
LEVELS = frozenset(
    {
        HEALTH,
        QUEUE_DEPTH,
        BROADCAST_KEYS,
        MEMBERS,
        LIVE_MEMBERS,
        RELAYS_PENDING,
        SUSPICIONS_PENDING,
        UNSTABLE_MEMBERS,
        EXCHANGES_PENDING,
        MERGE_BACKLOG,
        SNAPSHOTS_PENDING,
    }
)

# --------------------------------------------------------- the drivers (``driver.<name>``)

#: What a driver puts before its own counters' names in ``counters()``.
DRIVER_PREFIX = "driver."
#: Socket errors of every kind (each also counted by place and errno below).
SOCKET_ERRORS = "socket_errors"
#: Prefix of socket errors by place and errno name: ``socket_errors.send.ECONNREFUSED``.
SOCKET_ERRORS_PREFIX = "socket_errors."
#: The places of ``socket_errors.<where>.<errno>``.
SOCKET_ERROR_PLACES = ("send", "recv", "udp", "tcp", "accept")
#: A datagram from a source address the driver could not read.
DROPPED_BAD_SOURCE = "dropped.bad_source"
#: A datagram not sent: the socket's send buffer was full.
DROPPED_SEND_BUFFER_FULL = "dropped.send_buffer_full"
#: A datagram not sent: the socket was closed (the member is stopping).
DROPPED_SEND_CLOSED = "dropped.send_closed"
#: Events not queued for a subscriber whose queue was full.
DROPPED_EVENTS = "dropped.events"
#: Events the thread bridge could not hand to its event loop (its inbox was full).
DROPPED_BRIDGE_EVENTS = "dropped.bridge_events"
#: An exchange stream whose message exceeded its size limit.
DROPPED_EXCHANGE_OVERSIZED = "dropped.exchange_oversized"
#: An exchange stream that ended in the middle of a message.
DROPPED_EXCHANGE_TRUNCATED = "dropped.exchange_truncated"
#: An inbound exchange that did not finish within the exchange timeout.
DROPPED_EXCHANGE_TIMEOUT = "dropped.exchange_timeout"
#: An inbound exchange closed to make room for another source's (all slots were taken).
DROPPED_EXCHANGE_EVICTED = "dropped.exchange_evicted"
#: An outbound exchange not started: too many were in flight.
DROPPED_EXCHANGE_BUSY_OUT = "dropped.exchange_busy_out"
#: Inbound exchanges the node answered.
EXCHANGE_SERVED_IN = "exchange.served_in"
#: Inbound exchanges the node refused (no reply, or a refusal).
EXCHANGE_REFUSED_IN = "exchange.refused_in"
#: Outbound exchanges whose reply came back.
EXCHANGE_COMPLETED_OUT = "exchange.completed_out"
#: Outbound exchanges that failed (connect, timeout, closed).
EXCHANGE_FAILED_OUT = "exchange.failed_out"
#: Outbound exchanges timed (with ``exchange.duration_us``: the mean duration).
EXCHANGE_DURATION_COUNT = "exchange.duration_count"
#: Total duration of the timed outbound exchanges, in microseconds.
EXCHANGE_DURATION_US = "exchange.duration_us"
#: Event callbacks that raised.
CALLBACK_ERRORS = "callback_errors"
#: Event callbacks slower than the thread driver's warning threshold.
CALLBACK_SLOW = "callback_slow"
#: Timer wake-ups of the thread driver later than its threshold.
LATE_TICKS = "late_ticks"
#: Reads of the UDP socket that stopped at the batch limit with datagrams left.
DRAIN_CAPPED = "drain_capped"
#: Discovery store look-ups made.
DISCOVERY_LOOKUPS = "discovery.lookups"
#: Discovery store look-ups that failed.
DISCOVERY_LOOKUP_ERRORS = "discovery.lookup_errors"
#: Joins started with addresses discovery found.
DISCOVERY_JOINS = "discovery.joins"
#: Join addresses written to the discovery store.
DISCOVERY_PUBLISHED = "discovery.published"
#: Writes to the discovery store that failed.
DISCOVERY_PUBLISH_ERRORS = "discovery.publish_errors"

# --------------------------------------------------------------------------- the catalog

#: Every name the node reports as is (the families are below).
NODE_COUNTERS = (
    PACKETS_RECEIVED,
    BYTES_RECEIVED,
    PACKETS_SENT,
    BYTES_SENT,
    UPDATES_SENT,
    DROPPED_OVERSIZED,
    DROPPED_AUTH_FAILED,
    DROPPED_MALFORMED,
    DROPPED_FOREIGN_LABEL,
    DROPPED_INTERNAL_ERROR,
    DROPPED_WRONG_TARGET,
    DROPPED_STALE_NACK,
    DROPPED_STALE_ACK,
    DROPPED_RELAY_LIMIT,
    DROPPED_NO_ROOM_FOR_EXTRA,
    DROPPED_PACKET_TOO_LARGE,
    DROPPED_METADATA_TOO_LARGE,
    DROPPED_UNSPECIFIED_ADDRESS,
    DROPPED_BAD_NAME,
    DROPPED_TABLE_FULL,
    DROPPED_ADDRESS_CONFLICT,
    DROPPED_OWN_ADDRESS,
    DROPPED_INCARNATION_JUMP,
    DROPPED_BROADCAST_VERSION_JUMP,
    DROPPED_NOT_ADMITTED,
    DROPPED_EXCHANGE_TOO_LARGE,
    DROPPED_MALFORMED_EXCHANGE,
    DROPPED_UNKNOWN_EXCHANGE,
    DROPPED_SNAPSHOT_ROWS,
    DROPPED_MERGE_BACKLOG,
    DROPPED_MALFORMED_ROWS,
    DROPPED_VETOED_ROWS,
    DROPPED_STABILITY_TABLE_FULL,
    PROBES,
    PROBES_ACKED,
    PROBES_FAILED,
    BUDDY_PROBES,
    INDIRECT_PROBES,
    RELAYS,
    NACKS_RECEIVED,
    RTT_SAMPLES,
    RTT_US_TOTAL,
    TCP_FALLBACK_PROBES,
    TCP_FALLBACK_ACKED,
    TCP_FALLBACK_FAILED,
    TCP_FALLBACK_LATE,
    TCP_FALLBACK_SKIPPED,
    STREAM_PINGS_ANSWERED,
    VERIFICATIONS,
    VERIFICATIONS_ANSWERED,
    SUSPICIONS,
    SUSPICIONS_REFUTED,
    SUSPICION_CONFIRMATIONS,
    REFUTATIONS,
    DEATHS,
    LEAVES,
    RECLAIMED,
    CORRECTIONS_SENT,
    NAME_CONFLICTS,
    ADMISSION_ERRORS,
    ACCUSATIONS_WITHHELD,
    ACCUSATIONS_PENDING,
    ACCUSATIONS_DISBELIEVED,
    FLAPS_DISCOUNTED,
    EVENTS_DAMPED,
    EXCHANGES_REQUESTED,
    EXCHANGES_COMPLETED,
    EXCHANGES_FAILED,
    EXCHANGES_REFUSED,
    EXCHANGES_GIVEN_UP,
    EXCHANGES_ANSWERED,
    HEAL_EXCHANGES,
    DIGESTS_ANSWERED,
    DIGESTS_MATCHED,
    DIGESTS_DIFFERED,
    MERGE_SLICES,
    MERGES_VETOED,
    STATES_MERGED,
    STATE_ERRORS,
    MESSAGES_SENT,
    MESSAGES_RECEIVED,
    MESSAGES_DELIVERED,
    HEALTH,
    QUEUE_DEPTH,
    QUEUE_EVICTED,
    BROADCAST_KEYS,
    BROADCAST_KEYS_FORGOTTEN,
    MEMBERS,
    LIVE_MEMBERS,
    RELAYS_PENDING,
    SUSPICIONS_PENDING,
    UNSTABLE_MEMBERS,
    EXCHANGES_PENDING,
    MERGE_BACKLOG,
    SNAPSHOTS_PENDING,
)

#: Every name a driver counts as is, reported as ``driver.<name>`` (the families are below).
DRIVER_COUNTERS = (
    SOCKET_ERRORS,
    DROPPED_BAD_SOURCE,
    DROPPED_SEND_BUFFER_FULL,
    DROPPED_SEND_CLOSED,
    DROPPED_EVENTS,
    DROPPED_BRIDGE_EVENTS,
    DROPPED_EXCHANGE_OVERSIZED,
    DROPPED_EXCHANGE_TRUNCATED,
    DROPPED_EXCHANGE_TIMEOUT,
    DROPPED_EXCHANGE_EVICTED,
    DROPPED_EXCHANGE_BUSY_OUT,
    EXCHANGE_SERVED_IN,
    EXCHANGE_REFUSED_IN,
    EXCHANGE_COMPLETED_OUT,
    EXCHANGE_FAILED_OUT,
    EXCHANGE_DURATION_COUNT,
    EXCHANGE_DURATION_US,
    CALLBACK_ERRORS,
    CALLBACK_SLOW,
    LATE_TICKS,
    DRAIN_CAPPED,
    DISCOVERY_LOOKUPS,
    DISCOVERY_LOOKUP_ERRORS,
    DISCOVERY_JOINS,
    DISCOVERY_PUBLISHED,
    DISCOVERY_PUBLISH_ERRORS,
)

_NODE = frozenset(NODE_COUNTERS)
_DRIVER = frozenset(DRIVER_COUNTERS)


def sent(kind: str) -> str:
    """The name counting datagrams sent whose message is of ``kind`` (see MESSAGE_KINDS)."""
    return SENT_PREFIX + kind


def received(kind: str) -> str:
    """The name counting datagrams received whose message is of ``kind``."""
    return RECEIVED_PREFIX + kind


def member_state(state: str) -> str:
    """The name of the level of members in ``state`` (see MEMBER_STATES)."""
    return MEMBERS_PREFIX + state


def socket_error(where: str, errno_name: str) -> str:
    """The driver's name counting socket errors at ``where`` with ``errno_name`` (ECONNRESET)."""
    return f"{SOCKET_ERRORS_PREFIX}{where}.{errno_name}"


def is_known(key: str) -> bool:
    """Whether ``key``, as ``counters()`` reports it, is a name of this catalog."""
    if key.startswith(DRIVER_PREFIX):
        name = key[len(DRIVER_PREFIX) :]
        if name in _DRIVER:
            return True
        where, _, errno_name = name.removeprefix(SOCKET_ERRORS_PREFIX).partition(".")
        return (
            name.startswith(SOCKET_ERRORS_PREFIX)
            and where in SOCKET_ERROR_PLACES
            and (errno_name == "other" or (errno_name.isupper() and errno_name.isidentifier()))
        )
    if key in _NODE:
        return True
    prefix, _, rest = key.partition(".")
    if prefix + "." in (SENT_PREFIX, RECEIVED_PREFIX):
        return rest in MESSAGE_KINDS
    return prefix + "." == MEMBERS_PREFIX and rest in MEMBER_STATES
