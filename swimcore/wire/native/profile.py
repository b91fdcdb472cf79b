"""The native profile as the node sees it: the codec behind the :class:`~swimcore.wire.Wire`
protocol, with the keyring's envelope around whole payloads and exchanges framed by a length.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from swimcore import refusals
from swimcore.address import Address
from swimcore.keyring import OVERHEAD, Keyring
from swimcore.messages import (
    DirectMessage,
    Exchange,
    Message,
    Packet,
    PushPull,
    SnapshotRows,
    StreamPing,
    Update,
    UserBroadcast,
)
from swimcore.wire import LengthPrefixed, StreamFraming
from swimcore.wire.native import codec

__all__ = ["NativeWire"]


class NativeWire:
    """swimcore's own format (:mod:`.codec`), with the keyring around whole payloads."""

    MAX_UPDATES = codec.MAX_UPDATES
    USER_MESSAGES_ALONE = False
    STRICT_ADDRESSES = False
    INCARNATION_STEP = 2**32

    def __init__(self, label: str, keyring: Keyring | None, rng: random.Random) -> None:
        self._label = label
        self._keyring = keyring
        self._rng = rng
        self.header = codec.header(label)
        self.envelope = keyring is not None
        #: The update count byte, the checksum trailer, and the keyring's envelope.
        self.overhead = 1 + codec.CHECKSUM_SIZE + (OVERHEAD if self.envelope else 0)
        self._stream = LengthPrefixed()

    @property
    def stream(self) -> StreamFraming:
        return self._stream

    def encode_message(self, message: Message) -> bytes:
        return codec.encode_message(message)

    def encode_ack(self, seq: int) -> bytes:
        return codec.encode_ack(seq)

    def encode_update(self, update: Update) -> bytes:
        return codec.encode_update(update)

    def as_received(self, update: UserBroadcast) -> UserBroadcast:
        return update  # sent with its key, version and origin

    def assemble(
        self, prefix: bytes, message: bytes, updates: Iterable[bytes], to: Address | None = None
    ) -> bytes:
        return codec.assemble(prefix, message, updates)

    def read_label(self, data: bytes) -> str:
        return codec.read_label(data)

    def decode_packet(self, data: bytes) -> Packet:
        return codec.decode_packet(data)

    def read_packet(self, data: bytes) -> tuple[str, Message, Sequence[Update], Sequence[bytes]]:
        return codec.read_packet(data)

    def encode_push_pull(self, snapshot: PushPull) -> bytes:
        return codec.encode_push_pull(snapshot)

    def snapshot_writer(
        self, label: str, join: bool, count: int, user_state: bytes
    ) -> codec.SnapshotWriter:
        return codec.SnapshotWriter(label, join, count, user_state)

    def encode_direct_message(self, message: DirectMessage) -> bytes:
        return codec.encode_direct_message(message)

    def decode_exchange(self, data: bytes) -> Exchange:
        return codec.decode_exchange(data)

    def open_exchange(self, data: bytes) -> DirectMessage | StreamPing | SnapshotRows:
        return codec.open_exchange(data)

    def encode_exchange_ack(self, label: str) -> bytes:
        return codec.encode_exchange_ack(label)

    def is_exchange_ack(self, data: bytes, label: str) -> bool:
        return codec.is_exchange_ack(data, label)

    def encode_stream_ping(self, ping: StreamPing) -> bytes:
        return codec.encode_stream_ping(ping)

    def encode_stream_ack(self, label: str, seq: int) -> bytes:
        return codec.encode_stream_ack(label, seq)

    def read_stream_ack(self, data: bytes, label: str) -> int | None:
        return codec.read_stream_ack(data, label)

    def pings_by_stream(self, name: str) -> bool:
        # Members older than the fallback probe count the ping as a malformed exchange and
        # close the stream: the probe then fails as it would have without the fallback.
        return True

    def encode_refusal(self, request: bytes | None, reason: str, detail: str) -> bytes | None:
        """A refusal any native member reads, whatever its label and keys (plain text)."""
        return refusals.encode(reason, detail)

    def read_refusal(self, data: bytes) -> tuple[str, str] | None:
        return refusals.decode(data)

    def seal(self, data: bytes) -> bytes:
        if self._keyring is None:
            return data
        return self._keyring.seal(data, self._label, self._rng)

    def open(self, data: bytes) -> bytes | None:
        if self._keyring is None:
            return data
        return self._keyring.open(data, self._label)
