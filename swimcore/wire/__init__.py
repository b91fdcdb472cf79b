"""Wire profiles: how a node's messages become bytes, and bytes become messages.

A node speaks one profile, named by ``Config.wire``:

``"native"``
    swimcore's own format (:mod:`swimcore.wire.native`), sealed by the node's keyring if it
    has one.
``"memberlist"``
    HashiCorp memberlist's protocol (:mod:`swimcore.wire.memberlist`), so swimcore nodes can
    be members of memberlist (Go) clusters; the keyring's keys encrypt as memberlist does.
``"memberlist+lzw"``
    the same, and outgoing messages are LZW-compressed as memberlist's ``EnableCompression``
    does (incoming compressed messages are read by both).

This module is the contract, and depends on no profile and not on the configuration (which
imports it to check ``Config.wire``): the profile names and what each needs installed, the
:class:`Wire` protocol and the stream framing.  :func:`swimcore.wire.loading.for_node` builds a
node's profile, loading its modules then.

A profile offers the operations the node needs, under the names of the native codec's
(:mod:`swimcore.wire.native.codec`) functions, so the node is written once for all of them:
``header``, ``encode_message`` (and ``encode_ack``: an ack's, from its sequence number),
``encode_update``, ``assemble`` (a whole datagram), ``MAX_UPDATES``, ``read_label``,
``decode_packet`` (and ``read_packet``: its fields, without the packet),
``encode_push_pull``, ``snapshot_writer`` (the same, a slice at a time),
``encode_direct_message``, ``decode_exchange``,
``open_exchange`` (the same, with a snapshot's rows left to decode a slice at a time),
``encode_exchange_ack``, ``is_exchange_ack``, ``encode_stream_ping``, ``encode_stream_ack``,
``read_stream_ack`` (the TCP fallback probe), ``pings_by_stream`` (whether a member answers
one), ``encode_refusal`` and ``read_refusal`` (a refused exchange's reply saying why, see
:mod:`swimcore.refusals`); plus ``overhead`` (bytes a datagram carries
beyond its header, message and updates), ``seal``/``open`` (the keyring's envelope, where the
profile puts it around whole payloads) and ``stream`` (how a driver frames exchanges on TCP).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from swimcore.address import Address
from swimcore.messages import (
    DirectMessage,
    Exchange,
    Message,
    Packet,
    PushPull,
    RowFields,
    SnapshotRows,
    StreamPing,
    Update,
    UserBroadcast,
)

__all__ = [
    "PROFILES",
    "LengthPrefixed",
    "MessageReader",
    "StreamFraming",
    "Wire",
    "missing_dependency",
]

#: The names ``Config.wire`` accepts.
PROFILES = ("native", "memberlist", "memberlist+lzw")

#: The package each profile needs beyond swimcore's own dependencies, and the extra that
#: installs it.  A profile's modules are imported only when a node speaks it.
REQUIRES = {
    "memberlist": ("msgpack", "memberlist"),
    "memberlist+lzw": ("msgpack", "memberlist"),
}


def missing_dependency(profile: str) -> str | None:
    """Why ``profile`` cannot be used here (a package it needs is not installed), or ``None``.

    Looks the package up without importing it, so that checking a configuration loads nothing.
    """
    needed = REQUIRES.get(profile)
    if needed is None:
        return None
    import importlib.util  # noqa: PLC0415 (only non-native profiles need it)

    package, extra = needed
    if importlib.util.find_spec(package) is not None:
        return None
    return f"wire={profile!r} needs the {package!r} package: pip install 'swimcore[{extra}]'"


class MessageReader(Protocol):
    """Reads one exchange message as its bytes arrive, in time linear in its size.

    ``feed`` adds the bytes read so far and returns the whole message once it is there
    (``None`` while more is needed); it raises ``ValueError`` or
    :class:`~swimcore.errors.DecodeError` when the bytes cannot become a message within the
    reader's limit.  Drivers should prefer it to calling ``split`` on a growing buffer.
    """

    def feed(self, data: bytes) -> bytes | None: ...


class StreamFraming(Protocol):
    """How a driver delimits one exchange message on a TCP stream.

    ``encode`` turns an exchange payload into what is written; ``split`` looks at the bytes
    read so far and returns ``(payload, used)`` once a whole message is there (``None`` while
    more is needed); it raises ``ValueError`` or :class:`~swimcore.errors.DecodeError` when
    the bytes cannot become a message within ``limit`` bytes.  ``at_eof`` is what an empty
    stream means: a payload (memberlist's reliable user messages have no reply) or ``None``.
    """

    def encode(self, payload: bytes) -> bytes: ...

    def reader(self, limit: int) -> MessageReader: ...

    def split(self, data: bytes, limit: int) -> tuple[bytes, int] | None: ...

    def at_eof(self) -> bytes | None: ...


class SnapshotWriter(Protocol):
    """A push-pull being written (:meth:`Wire.snapshot_writer`): :meth:`add` every row, in
    slices, then :meth:`finish` once."""

    def add(self, rows: Iterable[RowFields]) -> None:
        """Write the next rows."""
        ...

    def finish(self) -> bytes:
        """The whole message; ``ValueError`` unless exactly the rows announced were added."""
        ...


class Wire(Protocol):
    """What a node needs of a wire profile (see the module docstring)."""

    MAX_UPDATES: int
    #: Whether a best-effort user message must travel alone (no piggybacked updates): on a
    #: wire where that is what tells it from a broadcast.
    USER_MESSAGES_ALONE: bool
    #: Whether a live member's name stays at its address until it left or is long dead
    #: (memberlist's rule) rather than moving with any newer incarnation (see ``Node``).
    STRICT_ADDRESSES: bool
    #: The largest step news may take over a known member's incarnation (see ``Node``): it
    #: must leave a member room to refute within the incarnations the wire carries.
    INCARNATION_STEP: int
    header: bytes
    #: Whether ``seal`` and ``open`` change a payload (an envelope around it, such as the
    #: native wire's keyring); a node skips both calls when they would not.
    envelope: bool

    @property
    def overhead(self) -> int: ...

    @property
    def stream(self) -> StreamFraming: ...

    def encode_message(self, message: Message) -> bytes: ...

    def encode_ack(self, seq: int) -> bytes:
        """``encode_message(Ack(seq))``, with no message made first (a node answers a ping)."""
        ...

    def encode_update(self, update: Update) -> bytes: ...

    # ``update`` as its receivers decode it: its key, version and origin there.
    def as_received(self, update: UserBroadcast) -> UserBroadcast: ...

    def assemble(
        self, prefix: bytes, message: bytes, updates: Iterable[bytes], to: Address | None = None
    ) -> bytes:
        """One datagram of ``message`` and ``updates`` after ``prefix`` (the header), for ``to``
        (``None``: an unknown destination): a profile may frame it per destination."""
        ...

    def read_label(self, data: bytes) -> str: ...

    def decode_packet(self, data: bytes) -> Packet: ...

    def read_packet(self, data: bytes) -> tuple[str, Message, Sequence[Update], Sequence[bytes]]:
        """``decode_packet``'s fields (label, message, updates, the updates' bytes as received
        or none), without the :class:`~swimcore.messages.Packet`: what a node reads."""
        ...

    def encode_push_pull(self, snapshot: PushPull) -> bytes: ...

    def snapshot_writer(
        self, label: str, join: bool, count: int, user_state: bytes
    ) -> SnapshotWriter:
        """A push-pull of ``count`` rows (what ``encode_push_pull`` writes for them), written a
        slice at a time from records as they stand: a node encodes its table's records
        without copying them, and a large table in steps that do not hold its loop."""
        ...

    def encode_direct_message(self, message: DirectMessage) -> bytes: ...

    def decode_exchange(self, data: bytes) -> Exchange: ...

    def open_exchange(self, data: bytes) -> DirectMessage | StreamPing | SnapshotRows: ...

    def encode_exchange_ack(self, label: str) -> bytes: ...

    def is_exchange_ack(self, data: bytes, label: str) -> bool: ...

    def encode_stream_ping(self, ping: StreamPing) -> bytes: ...

    def encode_stream_ack(self, label: str, seq: int) -> bytes: ...

    def read_stream_ack(self, data: bytes, label: str) -> int | None: ...

    def pings_by_stream(self, name: str) -> bool: ...

    def encode_refusal(self, request: bytes | None, reason: str, detail: str) -> bytes | None: ...

    def read_refusal(self, data: bytes) -> tuple[str, str] | None: ...

    def seal(self, data: bytes) -> bytes: ...

    def open(self, data: bytes) -> bytes | None: ...


class PrefixedReader:
    """The incremental reader of :class:`LengthPrefixed` messages."""

    __slots__ = ("_buf", "_limit", "_size")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self._limit = limit
        self._size: int | None = None

    def feed(self, data: bytes) -> bytes | None:
        self._buf += data
        if self._size is None and len(self._buf) >= 4:
            self._size = int.from_bytes(self._buf[:4], "big")
            if self._size > self._limit:
                raise ValueError(f"exchange of {self._size} bytes exceeds {self._limit}")
        if self._size is not None and len(self._buf) >= 4 + self._size:
            return bytes(self._buf[4 : 4 + self._size])
        return None


class LengthPrefixed:
    """The native stream framing: a 4-byte big-endian length, then the payload."""

    def encode(self, payload: bytes) -> bytes:
        return len(payload).to_bytes(4, "big") + payload

    def reader(self, limit: int) -> PrefixedReader:
        return PrefixedReader(limit)

    def split(self, data: bytes, limit: int) -> tuple[bytes, int] | None:
        if len(data) < 4:
            return None
        size = int.from_bytes(data[:4], "big")
        if size > limit:
            raise ValueError(f"exchange of {size} bytes exceeds {limit}")
        if len(data) < 4 + size:
            return None
        return data[4 : 4 + size], 4 + size

    def at_eof(self) -> bytes | None:
        return None
