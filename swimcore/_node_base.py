"""What the node and its parts share: limits, timer kinds, probe records and small helpers."""

from __future__ import annotations

import enum
from typing import Protocol

import attrs

from swimcore.address import Address
from swimcore.keyring import OVERHEAD as KEYRING_OVERHEAD
from swimcore.keyring import VERSION as KEYRING_VERSION
from swimcore.members import Member
from swimcore.messages import (
    MemberState,
    State,
)

MAX_INCARNATION = 2**64 - 1
#: The largest incarnation news of a member not known yet may carry, and the largest step news
#: may take over a known member's incarnation on the native wire (the wire's
#: ``INCARNATION_STEP``).  Honest members move by one at a time (a restart epoch may jump
#: further, up to this): larger jumps are forged or corrupt, dropped and counted, so that one
#: datagram cannot pin a member at the maximum, where it could never refute again.
MAX_INCARNATION_STEP = 2**32
#: The latest ``now`` accepted (about 35,000 years of seconds): beyond it a float cannot tell
#: one timer from the next, and a driver passing it has a broken clock.
MAX_NOW = 2.0**40
#: A node whose health gates its accusations still accuses a member whose probes failed this
#: many times in a row (the gate never keeps a death unknown).
GATE_LIMIT = 3
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
    ANNOUNCE = 11  # report a suspicion that still stands after the hold
    REFUTED = 12  # the verdict on refutations of news not believed: flaps or not


#: Payloads of the timers re-armed all the time, made once: a new tuple per schedule lives
#: until its timer fires, in a process of many members (the simulator) long enough for the
#: garbage collector to promote it and walk it on every full collection.
PERIOD_TIMER: tuple[Timer, int, str] = (Timer.PERIOD, 0, "")
GOSSIP_TIMER: tuple[Timer, int, str] = (Timer.GOSSIP, 0, "")


#: Rows of a push-pull snapshot decoded and merged per step: a large snapshot is read a slice
#: at a time, between other inputs, so that no exchange holds the protocol for more than a few
#: ms (see :mod:`swimcore.ingest`); a snapshot of at most this many rows is read at once.
MERGE_SLICE = 256
#: The pause between two slices (the driver handles whatever arrived in between).
MERGE_PAUSE = 0.001
#: Rows of a snapshot this node sends encoded per step (:class:`~swimcore.actions.Outgoing`):
#: about 1-2 ms a step quiet on the native wire, 10-20 ms on memberlist's compressed one.
ENCODE_SLICE = 256
#: After refused joins the retry interval doubles, up to this many times join_retry_interval.
JOIN_BACKOFF_MAX = 8
#: Exchanges awaiting their reply or failure at once; beyond, the oldest is given up.
MAX_PENDING_EXCHANGES = 64
#: Bytes one push-pull row may take beyond its metadata (name, address, numbers, framing).
ROW_OVERHEAD = 384
# Queue keys of user broadcasts start with a byte no member name can start with on the wire.
_USER_PREFIX = "\x00user:"
_LIVE = (State.ALIVE, State.SUSPECT)
#: The states as module globals, for the receive path: on Python 3.11 reading a member through
#: its class (``State.ALIVE``) goes through ``EnumType``'s ``__getattr__`` hook, at the cost of
#: about twenty reads of a global.
_ALIVE, _SUSPECT, _DEAD, _LEFT = State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT


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
