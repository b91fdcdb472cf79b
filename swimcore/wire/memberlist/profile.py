"""The memberlist profile: swimcore's messages to and from memberlist's, for one node.

How the two protocols line up, and where they differ:

* ``Ping``/``IndirectPing`` carry the sender's address, port and name (memberlist replies to
  them); a ping with an empty node name is for whoever receives it.  ``Ack`` payloads are
  dropped on input and empty on output.
* ``Alive``/``Suspect``/``Dead`` map one to one; a ``dead`` message whose sender is the node
  itself is a graceful leave (swimcore's ``Left``), as in memberlist.  Every alive message and
  push-pull row carries the member's six version bytes; this profile remembers them per member
  and relays them unchanged (memberlist refutes a relayed alive whose versions differ).  It
  announces protocol versions 2 to 5, speaking 2 as memberlist does by default, and delegate
  versions 0; a member whose range does not meet 2..5 is refused (the datagram is dropped).
* memberlist treats incarnation 0 as "never heard of": on the wire incarnations are swimcore's
  plus one (uint32, saturating).
* User messages are opaque payloads in memberlist, and memberlist itself never passes one on.
  What tells a direct message from a broadcast is how it travels, as in memberlist: a
  best-effort message (``SendBestEffort``) is a datagram of its own, while broadcasts ride in
  compound messages beside others (``GetBroadcasts``).  So a swimcore best-effort message goes
  out alone and a broadcast always inside a compound (of one, if need be); a received user
  message alone in its datagram is a direct message (delivered once, to this member, never
  passed on), and one inside a compound is a broadcast keyed by a digest of its payload, with no
  origin (a repeat of the payload within the node's window is the same news).  Reliable
  messages travel as memberlist's stream user messages; they have no reply, so an empty reply
  means delivered.
* The CRC prefix is added to a datagram unless its destination's address last announced a
  protocol below 5 (all memberlist releases since 2017 speak 5; Go adds it per destination too),
  so one member that cannot read it, or one forged alive, costs the prefix on its own address
  only; compression ("memberlist+lzw") applies when it shrinks a datagram and always
  on streams, as memberlist does; the keyring's primary key seals, every key opens.
* Push-pull user (delegate) state is neither sent nor used.
* The TCP fallback probe is memberlist's: the UDP ping message alone on a stream, answered by
  an ack alone on the stream; it goes to members whose protocol range reaches 3.
* A member's name moves to a new address only once it left, or was dead for
  ``gossip_to_the_dead_time`` (memberlist forgets dead members then); until then alive news
  from elsewhere is a conflict, dropped and counted, as memberlist refuses it.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Sequence

from swimcore import refusals
from swimcore.address import Address
from swimcore.broadcasts import UNVERSIONED_PREFIX
from swimcore.config import Config
from swimcore.errors import DecodeError
from swimcore.keyring import Keyring
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    DirectMessage,
    Exchange,
    Gossip,
    IndirectPing,
    Left,
    MemberState,
    Message,
    Nack,
    Packet,
    Ping,
    PushPull,
    RowFields,
    SnapshotRows,
    State,
    StreamPing,
    Suspect,
    Update,
    UserBroadcast,
    UserMessage,
)
from swimcore.wire.memberlist import bodies, packet, stream
from swimcore.wire.memberlist.framing import FrameReader
from swimcore.wire.memberlist.messages import (
    PROTOCOL_MAX,
    PROTOCOL_MIN,
    MlAck,
    MlAlive,
    MlDead,
    MlIndirectPing,
    MlMessage,
    MlNack,
    MlPing,
    MlPushNodeState,
    MlStreamMessage,
    MlSuspect,
    MlUser,
    MlUserStream,
    MsgType,
    NodeState,
    vsn_bytes,
)
from swimcore.wire.memberlist.security import OVERHEAD as SEAL_OVERHEAD

try:  # hashlib loads OpenSSL (about 3.5 MiB of a member's memory): the built-in module first
    from _sha256 import sha256  # type: ignore[import-not-found, unused-ignore] # Python 3.11
except ImportError:  # pragma: no cover - the module's name since Python 3.12
    try:
        from _sha2 import sha256  # type: ignore[import-not-found, no-redef, unused-ignore]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment, unused-ignore]

#: Updates that fit one compound beside the primary message.
MAX_UPDATES = packet.MAX_PARTS - 1
#: Members whose version bytes are remembered, at most (and twice ``max_members``).
MAX_REMEMBERED = 100_000
#: Names longer than this are not remembered (a node's own name is at most 255 UTF-8 bytes).
MAX_REMEMBERED_NAME = 255
_U32 = 0xFFFFFFFF
_STATES = {
    State.ALIVE: NodeState.ALIVE,
    State.SUSPECT: NodeState.SUSPECT,
    State.DEAD: NodeState.DEAD,
    State.LEFT: NodeState.LEFT,
}
_FROM_STATES = {v: k for k, v in _STATES.items()}
_STATE_CODES = {k: int(v) for k, v in _STATES.items()}
#: The version bytes of a member not heard from (see :meth:`MemberlistWire.vsn`).
_DEFAULT_VSN = vsn_bytes(pmin=1)


def to_wire_incarnation(incarnation: int) -> int:
    """swimcore's incarnation on memberlist's wire: one more, saturating at 2**32 - 1."""
    return min(incarnation + 1, _U32)


def from_wire_incarnation(incarnation: int) -> int:
    """memberlist's incarnation as swimcore counts it."""
    return max(incarnation - 1, 0)


def decode_ip(raw: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A Go ``net.IP``: 4 bytes, or 16 (IPv4-mapped ones become IPv4)."""
    if len(raw) == 4:
        return ipaddress.IPv4Address(raw)
    if len(raw) == 16:
        ip = ipaddress.IPv6Address(raw)
        return ip.ipv4_mapped or ip
    raise DecodeError(f"address of {len(raw)} bytes")


def compatible(vsn: bytes) -> bool:
    """Whether a member announcing ``vsn`` can be spoken with (memberlist's own checks too)."""
    if len(vsn) < 3:
        return len(vsn) == 0  # no versions: an old member that is assumed to speak ours
    pmin, pmax, pcur = vsn[0], vsn[1], vsn[2]
    if pmin == 0 or pmax == 0 or pmin > pmax:
        return False
    return PROTOCOL_MIN <= pcur <= PROTOCOL_MAX and pmin <= PROTOCOL_MAX and pmax >= PROTOCOL_MIN


class MemberlistStream:
    """memberlist's stream framing: messages delimit themselves; no reply means done.

    Framing only delimits (see :mod:`~swimcore.wire.memberlist.framing`): an encrypted message
    reaches the node whole, which counts one that no key opens as an authentication failure.
    """

    def __init__(self, wire: MemberlistWire) -> None:
        self._wire = wire

    def encode(self, payload: bytes) -> bytes:
        return payload

    def reader(self, limit: int) -> FrameReader:
        """An incremental reader of one message (linear in its size, however it is cut)."""
        return FrameReader(label=self._wire.label, limit=limit, max_rows=self._wire.max_rows)

    def split(self, data: bytes, limit: int) -> tuple[bytes, int] | None:
        found = self.reader(limit).feed(data)
        return None if found is None else (found, len(found))

    def at_eof(self) -> bytes | None:
        return b""


def _received_broadcast(payload: bytes) -> UserBroadcast:
    """A broadcast as received: only the payload travels, so it is keyed by a digest of the
    payload, with no version or origin (see the module docstring)."""
    digest = sha256(payload).hexdigest()[:32]
    return UserBroadcast("", f"{UNVERSIONED_PREFIX}{digest}", 1, payload)


class MemberlistWire:
    """The memberlist profile of one node (see the module docstring)."""

    MAX_UPDATES = MAX_UPDATES
    USER_MESSAGES_ALONE = True
    STRICT_ADDRESSES = True
    #: memberlist's incarnations are 32-bit: a step of 2**32 would let one forged suspicion at
    #: 2**32 - 1 pin a live member dead (its refutation cannot go higher), where this one
    #: takes 4,096 forged datagrams in a row; a restart epoch of up to 2**20 still passes.
    INCARNATION_STEP = 2**20

    def __init__(
        self,
        config: Config,
        name: str,
        address: Address,
        *,
        keyring: Keyring | None,
        rng: random.Random,
        compress: bool = False,
    ) -> None:
        self.label = config.label
        #: Rows a push-pull may announce (the node merges at most ``max_members`` of them; the
        #: bytes are bounded by ``Node.exchange_limit``).
        self.max_rows = stream.MAX_NODES
        self.name = name
        self.address = address
        self.compress = compress
        self._keyring = keyring
        self._rng = rng
        self._vsn: dict[str, bytes] = {name: vsn_bytes()}
        # Versions are read before the node decides whether to take the member: a flood of
        # names it refuses (its table is full) must not fill this instead.
        self._remembered = min(MAX_REMEMBERED, 2 * config.max_members)
        # Addresses last announced by a member that cannot read the CRC prefix (oldest first).
        self._old_addresses: dict[Address, None] = {}
        self.header = packet.label_header(config.label)
        # memberlist encrypts inside its own framing (see encode_*), never around a payload.
        self.envelope = False
        self._stream = MemberlistStream(self)

    # ------------------------------------------------------------------------ settings

    def keys(self) -> tuple[bytes, ...]:
        """The keys to open with, the primary (sealing) one first; none: no encryption."""
        return self._keyring.keys if self._keyring is not None else ()

    @property
    def stream(self) -> MemberlistStream:
        return self._stream

    def crc(self, to: Address | None) -> bool:
        """Whether a datagram to ``to`` carries the CRC prefix (unknown destinations do)."""
        return to not in self._old_addresses

    @property
    def overhead(self) -> int:
        # Compound type and count bytes, the primary message's length entry, the CRC prefix
        # (counted whether or not the destination gets one) and the encryption envelope (each
        # update's length entry travels with it).
        return 9 + (SEAL_OVERHEAD if self._keyring is not None else 0)

    def vsn(self, name: str) -> bytes:
        """The version bytes of ``name`` as last heard (memberlist's defaults when unknown)."""
        return self._vsn.get(name) or _DEFAULT_VSN

    def _remember(self, name: str, vsn: bytes, address: Address) -> None:
        if name == self.name or not vsn or len(name) > MAX_REMEMBERED_NAME:
            return
        self._vsn.pop(name, None)
        if len(self._vsn) >= self._remembered:
            names = iter(self._vsn)
            oldest = next(names)
            if oldest == self.name:  # its own entry stays, first
                oldest = next(names)
            del self._vsn[oldest]
        self._vsn[name] = vsn
        # The last word about an address decides: a member that moved or upgraded there gets the
        # prefix again, and a forged alive takes it from that address alone.
        old = self._old_addresses
        old.pop(address, None)
        if len(vsn) > 1 and vsn[1] < 5:
            if len(old) >= self._remembered:
                del old[next(iter(old))]
            old[address] = None

    # ------------------------------------------------------------------------ datagrams

    def _source(self) -> tuple[bytes, int, str]:
        return self.address.ip.packed, self.address.port, self.name

    def to_ml_message(self, message: Message) -> MlMessage | None:
        """The memberlist form of a primary message (``None`` for bare gossip)."""
        if isinstance(message, Ping):
            return MlPing(message.seq, message.target, *self._source())
        if isinstance(message, IndirectPing):
            target = message.address
            return MlIndirectPing(
                message.seq,
                target.ip.packed,
                target.port,
                message.target,
                message.want_nack,
                *self._source(),
            )
        if isinstance(message, Ack):
            return MlAck(message.seq)
        if isinstance(message, Nack):
            return MlNack(message.seq)
        if isinstance(message, UserMessage):
            return MlUser(message.payload)
        return None

    def to_ml_update(self, update: Update) -> MlMessage:
        """The memberlist form of a piggybacked update."""
        if isinstance(update, Alive):
            return MlAlive(
                to_wire_incarnation(update.incarnation),
                update.name,
                update.address.ip.packed,
                update.address.port,
                update.meta,
                self.vsn(update.name),
            )
        if isinstance(update, Suspect):
            return MlSuspect(to_wire_incarnation(update.incarnation), update.name, update.by)
        if isinstance(update, Dead):
            return MlDead(to_wire_incarnation(update.incarnation), update.name, update.by)
        if isinstance(update, Left):
            return MlDead(to_wire_incarnation(update.incarnation), update.name, update.name)
        return MlUser(update.payload)

    def encode_message(self, message: Message) -> bytes:
        ml = self.to_ml_message(message)
        return b"" if ml is None else bodies.encode_message(ml)

    def encode_ack(self, seq: int) -> bytes:
        return bodies.encode_message(MlAck(seq))

    def encode_update(self, update: Update) -> bytes:
        # Each update carries its compound length entry, so the node's byte accounting is exact.
        encoded = bodies.encode_message(self.to_ml_update(update))
        return len(encoded).to_bytes(2, "big") + encoded

    def as_received(self, update: UserBroadcast) -> UserBroadcast:
        return _received_broadcast(update.payload)

    def assemble(
        self, prefix: bytes, message: bytes, updates: Iterable[bytes], to: Address | None = None
    ) -> bytes:
        parts = ([message] if message else []) + [u[2:] for u in updates]
        # A broadcast alone would read as a direct message: it goes in a compound of one.
        alone = len(parts) == 1 and not (message == b"" and parts[0][0] == MsgType.USER)
        command = parts[0] if alone else packet.make_compound(parts)
        return packet.wrap(
            command,
            label=self.label,
            keys=self.keys(),
            compress=self.compress,
            crc=self.crc(to),
            rng=self._rng,
        )

    def read_label(self, data: bytes) -> str:
        return packet.split_label(data)[0]

    def from_ml(self, ml: MlMessage) -> Message | Update | None:
        """swimcore's form of one received memberlist message (``None``: nothing for us)."""
        if isinstance(ml, MlPing):
            return Ping(ml.seq, ml.node or self.name, ml.source_node)
        if isinstance(ml, MlIndirectPing):
            address = Address(decode_ip(ml.target), ml.port)
            return IndirectPing(ml.seq, ml.node, address, ml.source_node, ml.nack)
        if isinstance(ml, MlAck):
            return Ack(ml.seq)
        if isinstance(ml, MlNack):
            return Nack(ml.seq)
        if isinstance(ml, MlAlive):
            if not compatible(ml.vsn):
                raise DecodeError(f"incompatible protocol versions {list(ml.vsn)}")
            if ml.port == 0:
                raise DecodeError("alive message without a port (protocol version 1)")
            address = Address(decode_ip(ml.addr), ml.port)
            self._remember(ml.node, ml.vsn, address)
            return Alive(ml.node, address, from_wire_incarnation(ml.incarnation), ml.meta)
        if isinstance(ml, MlSuspect):
            return Suspect(ml.node, from_wire_incarnation(ml.incarnation), ml.sender)
        if isinstance(ml, MlDead):
            incarnation = from_wire_incarnation(ml.incarnation)
            if ml.sender == ml.node:
                return Left(ml.node, incarnation)
            return Dead(ml.node, incarnation, ml.sender)
        if isinstance(ml, MlUser):
            return _received_broadcast(ml.payload)
        raise DecodeError(f"unexpected {type(ml).__name__} in a datagram")

    def decode_packet(self, data: bytes) -> Packet:
        messages, compound = packet.decode_datagram_parts(data, label=self.label, keys=self.keys())
        primary: Message | None = None
        updates: list[Update] = []
        if not compound and len(messages) == 1 and isinstance(messages[0], MlUser):
            # A user message alone in its datagram: a direct message (see the module docstring).
            return Packet(self.label, UserMessage("", messages[0].payload), ())
        for ml in messages:
            item = self.from_ml(ml)
            if isinstance(item, Ping | IndirectPing | Ack | Nack):
                if primary is None:
                    primary = item
            elif item is not None and not isinstance(item, UserMessage | Gossip):
                updates.append(item)
        return Packet(self.label, primary if primary is not None else Gossip(), tuple(updates))

    def read_packet(self, data: bytes) -> tuple[str, Message, Sequence[Update], Sequence[bytes]]:
        decoded = self.decode_packet(data)
        return decoded.label, decoded.message, decoded.updates, decoded.raw_updates

    # ------------------------------------------------------------------------ exchanges

    def _wrap_stream(self, message: MlStreamMessage) -> bytes:
        return stream.encode_stream(
            message, label=self.label, keys=self.keys(), compress=self.compress, rng=self._rng
        )

    def to_ml_row(self, row: MemberState) -> MlPushNodeState:
        return MlPushNodeState(
            row.name,
            row.address.ip.packed,
            row.address.port,
            row.meta,
            to_wire_incarnation(row.incarnation),
            _STATES[row.state],
            self.vsn(row.name),
        )

    def encode_push_pull(self, snapshot: PushPull) -> bytes:
        writer = self.snapshot_writer(
            snapshot.label, snapshot.join, len(snapshot.members), snapshot.user_state
        )
        writer.add(snapshot.members)
        return writer.finish()

    def snapshot_writer(
        self, label: str, join: bool, count: int, user_state: bytes
    ) -> MlSnapshotWriter:
        # (The label is this profile's own: memberlist's stream label is not in the message.)
        return MlSnapshotWriter(
            self,
            stream.PushPullWriter(
                join,
                count,
                user_state,
                label=self.label,
                keys=self.keys(),
                compress=self.compress,
                rng=self._rng,
            ),
        )

    def encode_direct_message(self, message: DirectMessage) -> bytes:
        return self._wrap_stream(MlUserStream(message.payload))

    def from_ml_row(self, ml: MlPushNodeState) -> MemberState:
        """swimcore's form of one push-pull row (:class:`DecodeError` when unusable)."""
        if ml.state is NodeState.ALIVE and not compatible(ml.vsn):
            raise DecodeError(f"{ml.name!r} speaks incompatible protocol versions")
        if ml.port == 0:
            raise DecodeError("push-pull row without a port (protocol version 1)")
        address = Address(decode_ip(ml.addr), ml.port)
        self._remember(ml.name, ml.vsn, address)
        incarnation = from_wire_incarnation(ml.incarnation)
        return MemberState(ml.name, address, incarnation, _FROM_STATES[ml.state], ml.meta)

    def open_exchange(self, data: bytes) -> DirectMessage | StreamPing | SnapshotRows:
        """A reliable exchange, with a push-pull's rows left to decode on demand."""
        message = stream.open_stream(data, label=self.label, keys=self.keys())
        if isinstance(message, MlUserStream):
            return DirectMessage(self.label, "", message.payload)
        if isinstance(message, MlPing):
            # memberlist's TCP fallback probe; an empty node name is for whoever receives it.
            target = message.node or self.name
            return StreamPing(self.label, message.seq, target, message.source_node)
        if not isinstance(message, stream.PushPullStream):
            raise DecodeError(f"unexpected {type(message).__name__} in an exchange")
        return PushPullRows(self, message)

    def decode_exchange(self, data: bytes) -> Exchange:
        opened = self.open_exchange(data)
        return opened if isinstance(opened, DirectMessage | StreamPing) else opened.read_all()

    def encode_exchange_ack(self, label: str) -> bytes:
        return b""  # memberlist answers a reliable user message with nothing

    def is_exchange_ack(self, data: bytes, label: str) -> bool:
        return data == b""

    def encode_stream_ping(self, ping: StreamPing) -> bytes:
        # memberlist's fallback ping is the UDP ping, sent alone on a stream.
        return self._wrap_stream(MlPing(ping.seq, ping.target, *self._source()))

    def encode_stream_ack(self, label: str, seq: int) -> bytes:
        return self._wrap_stream(MlAck(seq))

    def read_stream_ack(self, data: bytes, label: str) -> int | None:
        try:
            message = stream.decode_stream(data, label=self.label, keys=self.keys())
        except DecodeError:  # an AuthError too
            return None
        return message.seq if isinstance(message, MlAck) else None

    def pings_by_stream(self, name: str) -> bool:
        """Whether ``name`` answers a stream ping: memberlist sends one to every member whose
        protocol range reaches 3 (every release since 2015)."""
        vsn = self.vsn(name)
        return len(vsn) < 2 or vsn[1] >= 3

    def encode_refusal(self, request: bytes | None, reason: str, detail: str) -> bytes | None:
        """memberlist's ``errResp`` (a Go joiner's ``Join`` fails with ``remote error: TEXT``),
        framed as the request was so that its sender reads it: under its label, encrypted only
        when it was (see :func:`~swimcore.wire.memberlist.stream.error_stream`)."""
        if request is None:
            return None
        text = refusals.text(reason, detail)
        return stream.error_stream(request, text, keys=self.keys(), rng=self._rng)

    def read_refusal(self, data: bytes) -> tuple[str, str] | None:
        """The reason of an ``errResp`` reply (a swimcore member's refusal, or a Go member's
        own error as ``peer_error``), or ``None`` when ``data`` is not one."""
        text = stream.read_error(data, keys=self.keys())
        return None if text is None else refusals.parse(text)

    # The profile puts encryption inside its own layers (under the label, around the CRC).

    def seal(self, data: bytes) -> bytes:
        return data

    def open(self, data: bytes) -> bytes | None:
        return data


class PushPullRows:
    """A memberlist push-pull's rows as swimcore's, decoded on demand (``SnapshotRows``)."""

    __slots__ = ("_profile", "_stream", "count", "error", "join", "label", "left")

    def __init__(self, profile: MemberlistWire, rows: stream.PushPullStream) -> None:
        self._profile = profile
        self._stream = rows
        self.label = profile.label
        self.join = rows.join
        self.count = rows.count
        self.left = rows.count
        self.error: DecodeError | None = None

    @property
    def nbytes(self) -> int:
        return self._stream.nbytes

    def take(self, n: int) -> list[MemberState]:
        out: list[MemberState] = []
        if self.error is not None:
            return out
        convert = self._profile.from_ml_row
        for ml in self._stream.take(n):
            try:
                out.append(convert(ml))
            except DecodeError as error:
                self.error = error
                break
        self.error = self.error or self._stream.error
        self.left -= len(out)
        return out

    def user_state(self) -> bytes:
        if self.left or self.error is not None:
            raise DecodeError("rows left unread")
        return self._stream.user_state()

    def read_all(self) -> PushPull:
        # A compressed message gives its rows as it is decompressed: take until all are read
        # (each take decompresses more, so this ends, with the rows or with an error).
        rows: list[MemberState] = []
        while self.left and self.error is None:
            rows += self.take(self.left)
        if self.error is not None:
            raise self.error
        return PushPull(self.label, self.join, tuple(rows), self.user_state())


class MlSnapshotWriter:
    """A push-pull on memberlist's wire written a slice at a time from rows as they stand
    (:meth:`MemberlistWire.snapshot_writer`)."""

    __slots__ = ("_vsn", "_writer")

    def __init__(self, profile: MemberlistWire, writer: stream.PushPullWriter) -> None:
        self._vsn = profile.vsn
        self._writer = writer

    def add(self, rows: Iterable[RowFields]) -> None:
        """Write the next rows."""
        # Each row as the map bodies.encode_fields writes for to_ml_row(row), without building
        # it (tests/test_memberlist_push_pull_encoding.py checks that the bytes are the same).
        vsn = self._vsn
        self._writer.add(
            [
                {
                    "Addr": row.address.ip.packed,
                    "Incarnation": to_wire_incarnation(row.incarnation),
                    "Meta": row.meta or None,
                    "Name": row.name,
                    "Port": row.address.port,
                    "State": _STATE_CODES[row.state],
                    "Vsn": vsn(row.name),
                }
                for row in rows
            ]
        )

    def finish(self) -> bytes:
        """The whole push-pull, compressed, encrypted and labelled as the profile does."""
        return self._writer.finish()
