"""The native wire codec: round trips for every value, and only DecodeError for bad bytes."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Callable
from typing import TypeVar

import pytest
from helpers import FUZZ_EXAMPLES, quick
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    MESSAGES,
    UPDATES,
    direct_messages,
    labels,
    mutated,
    packets,
    push_pulls,
    updates,
)

from swimcore import Address, DecodeError
from swimcore.messages import (
    Ack,
    Alive,
    Dead,
    DirectMessage,
    Exchange,
    Gossip,
    Left,
    MemberState,
    Packet,
    Ping,
    PushPull,
    State,
    StreamPing,
    Suspect,
    Update,
)
from swimcore.wire.native import codec

T = TypeVar("T")

fuzz = settings(max_examples=FUZZ_EXAMPLES)
#: Damaged encodings are costlier to generate; a fifth as many still covers every field.
fuzz_mutations = settings(max_examples=max(100, FUZZ_EXAMPLES // 5))
#: The default suite's budgets for the costliest properties: see helpers.quick (the full ones run
#: in twins marked slow, ``*_full_budget``).
quick_fuzz = settings(max_examples=quick(FUZZ_EXAMPLES))
quick_fuzz_mutations = settings(max_examples=quick(max(100, FUZZ_EXAMPLES // 5)))

# Round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(MESSAGES))
@given(data=st.data())
def test_message_round_trip(kind: str, data: st.DataObject) -> None:
    packet = Packet(
        data.draw(labels),
        data.draw(MESSAGES[kind]),
        tuple(data.draw(st.lists(updates, max_size=4))),
    )
    encoded = codec.encode_packet(packet)
    assert codec.decode_packet(encoded) == packet
    # read_packet: the same fields without the Packet; encode_ack: an Ack's encoding.
    label, message, read, raw = codec.read_packet(encoded)
    assert Packet(label, message, tuple(read), tuple(raw)) == packet
    assert raw == [codec.encode_update(u) for u in packet.updates]
    if isinstance(packet.message, Ack):
        assert codec.encode_ack(packet.message.seq) == codec.encode_message(packet.message)


@pytest.mark.parametrize("kind", sorted(UPDATES))
@given(data=st.data())
def test_update_round_trip(kind: str, data: st.DataObject) -> None:
    batch = tuple(data.draw(st.lists(UPDATES[kind], min_size=1, max_size=6)))
    packet = Packet(data.draw(labels), Gossip(), batch)
    decoded = codec.decode_packet(codec.encode_packet(packet))
    assert decoded.updates == batch
    # Each update's own encoding is what the packet carries, in order.
    body = b"".join(codec.encode_update(u) for u in batch)
    encoded = codec.encode_packet(packet)
    assert encoded[: -codec.CHECKSUM_SIZE].endswith(body)


@given(push_pulls)
def test_push_pull_round_trip(snapshot: PushPull) -> None:
    data = codec.encode_push_pull(snapshot)
    assert codec.decode_push_pull(data) == snapshot
    assert codec.decode_exchange(data) == snapshot


@given(direct_messages)
def test_direct_message_round_trip(message: DirectMessage) -> None:
    assert codec.decode_exchange(codec.encode_direct_message(message)) == message


@given(labels)
def test_exchange_ack_is_recognised_only_for_its_label(label: str) -> None:
    ack = codec.encode_exchange_ack(label)
    assert codec.is_exchange_ack(ack, label)
    other = label[:-1] if label else "x"
    assert not codec.is_exchange_ack(ack, other)
    assert not codec.is_exchange_ack(ack[:-1], label)


@given(packets)
def test_label_is_readable_from_the_header_alone(packet: Packet) -> None:
    data = codec.encode_packet(packet)
    assert codec.read_label(data) == packet.label
    assert data.startswith(codec.header(packet.label))


def test_a_full_size_snapshot_row_round_trips() -> None:
    row = MemberState("n" * 255, Address("ffff::1", 65535), 2**64 - 1, State.LEFT, b"m" * 65535)
    snapshot = PushPull("l" * 255, True, (row,))
    assert codec.decode_push_pull(codec.encode_push_pull(snapshot)) == snapshot


# Every damaged packet is either refused with DecodeError or is a canonical encoding -----------


def _decodes_canonically(
    data: bytes, decode: Callable[[bytes], T], encode: Callable[[T], bytes]
) -> None:
    try:
        value = decode(data)
    except DecodeError as exc:
        assert exc.reason  # always says why
        return
    assert encode(value) == data


def _encode_exchange(value: Exchange) -> bytes:
    if isinstance(value, PushPull):
        return codec.encode_push_pull(value)
    if isinstance(value, StreamPing):
        return codec.encode_stream_ping(value)
    assert isinstance(value, DirectMessage)
    return codec.encode_direct_message(value)


@fuzz
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    _decodes_canonically(data, codec.decode_packet, codec.encode_packet)
    _decodes_canonically(data, codec.decode_push_pull, codec.encode_push_pull)
    _decodes_canonically(data, codec.decode_exchange, _encode_exchange)
    with contextlib.suppress(DecodeError):
        codec.read_label(data)


def _arbitrary_bytes_after_a_valid_header(label: str, tail: bytes) -> None:
    data = codec.header(label) + tail
    _decodes_canonically(data, codec.decode_packet, codec.encode_packet)
    _decodes_canonically(data, codec.decode_push_pull, codec.encode_push_pull)
    _decodes_canonically(data, codec.decode_exchange, _encode_exchange)


@quick_fuzz
@given(labels, st.binary(max_size=600))
def test_arbitrary_bytes_after_a_valid_header(label: str, tail: bytes) -> None:
    _arbitrary_bytes_after_a_valid_header(label, tail)


@pytest.mark.slow
@fuzz
@given(labels, st.binary(max_size=600))
def test_arbitrary_bytes_after_a_valid_header_full_budget(label: str, tail: bytes) -> None:
    _arbitrary_bytes_after_a_valid_header(label, tail)


def _mutated_packets_raise_only_decode_error(data: bytes) -> None:
    _decodes_canonically(data, codec.decode_packet, codec.encode_packet)


@quick_fuzz_mutations
@given(mutated(packets.map(codec.encode_packet)))
def test_mutated_packets_raise_only_decode_error(data: bytes) -> None:
    _mutated_packets_raise_only_decode_error(data)


@pytest.mark.slow
@fuzz_mutations
@given(mutated(packets.map(codec.encode_packet)))
def test_mutated_packets_raise_only_decode_error_full_budget(data: bytes) -> None:
    _mutated_packets_raise_only_decode_error(data)


def _mutated_snapshots_raise_only_decode_error(data: bytes) -> None:
    _decodes_canonically(data, codec.decode_push_pull, codec.encode_push_pull)
    _decodes_canonically(data, codec.decode_exchange, _encode_exchange)


@quick_fuzz_mutations
@given(mutated(push_pulls.map(codec.encode_push_pull)))
def test_mutated_snapshots_raise_only_decode_error(data: bytes) -> None:
    _mutated_snapshots_raise_only_decode_error(data)


@pytest.mark.slow
@fuzz_mutations
@given(mutated(push_pulls.map(codec.encode_push_pull)))
def test_mutated_snapshots_raise_only_decode_error_full_budget(data: bytes) -> None:
    _mutated_snapshots_raise_only_decode_error(data)


def _cuts(size: int) -> list[int]:
    """Every cut point of a short encoding; of a long one, the first and last 128 and a stride."""
    if size <= 512:
        return list(range(size))
    return sorted({*range(128), *range(size - 128, size), *range(0, size, size // 128)})


@given(packets)
def test_every_strict_prefix_of_a_packet_is_refused(packet: Packet) -> None:
    data = codec.encode_packet(packet)
    for end in _cuts(len(data)):
        with pytest.raises(DecodeError):
            codec.decode_packet(data[:end])


@given(push_pulls)
def test_every_strict_prefix_of_a_snapshot_is_refused(snapshot: PushPull) -> None:
    data = codec.encode_push_pull(snapshot)
    for end in _cuts(len(data)):
        with pytest.raises(DecodeError):
            codec.decode_push_pull(data[:end])


def _sealed(body: bytes) -> bytes:
    """``body`` with a correct checksum trailer (to reach the parser with hand-made bytes)."""
    return body + struct.pack(">I", zlib.crc32(body))


@given(packets, st.binary(min_size=1, max_size=16))
def test_trailing_bytes_are_refused(packet: Packet, tail: bytes) -> None:
    body = codec.encode_packet(packet)[: -codec.CHECKSUM_SIZE]
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode_packet(_sealed(body + tail))


@given(packets, st.data())
def test_any_flipped_bit_is_caught_by_the_checksum(packet: Packet, data: st.DataObject) -> None:
    encoded = bytearray(codec.encode_packet(packet))
    bit = data.draw(st.integers(0, len(encoded) * 8 - 1))
    encoded[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecodeError, match="checksum"):
        codec.decode_packet(bytes(encoded))


# Specific malformations, each with its reason (behind a correct checksum) ---------------------

_ACK = codec.encode_packet(Packet("", Ack(1)))[: -codec.CHECKSUM_SIZE]
_HDR = codec.header("")


def _alive_packet(address_bytes: bytes) -> bytes:
    return _HDR + bytes((codec.GOSSIP, 1, codec.U_ALIVE, 1)) + b"n" + address_bytes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"S", "truncated"),
        (b"XW" + _ACK[2:], "magic"),
        (b"SW\x02" + _ACK[3:], "version"),
        (b"SW\x01\x01" + _ACK[4:], "flags"),
        (b"SW\x01\x00\x05ab", "truncated"),
        (b"SW\x01\x00\x02\xff\xfe" + _ACK[5:], "UTF-8"),
        (_HDR + b"\x63", "message kind"),
        (_HDR + b"\x03\x00\x00", "truncated"),
        (_ACK + b"\x00", "trailing"),
        (_HDR + b"\x05\x01\x63", "update kind"),
        (_HDR + b"\x05\x02" + codec.encode_update(Left("a", 1)), "truncated"),
        (_alive_packet(b"\x05" + bytes(4)), "address family"),
        (_alive_packet(b"\x04\x01\x02"), "truncated"),
        (
            _HDR + bytes((codec.INDIRECT_PING,)) + struct.pack(">I", 1) + b"\x01t"
            b"\x04\x0a\x00\x00\x01\x1f\x0a\x01s\x02\x00",
            "nack flag",
        ),
    ],
)
def test_malformed_packets_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        codec.decode_packet(_sealed(data))


@pytest.mark.parametrize("data", [b"", b"SW", b"SW\x01"])
def test_payloads_shorter_than_the_checksum_are_truncated(data: bytes) -> None:
    with pytest.raises(DecodeError, match="truncated"):
        codec.decode_packet(data)


def _snapshot_with(row: bytes, count: int = 1, join: int = 0) -> bytes:
    return _HDR + bytes((codec.PUSH_PULL, join)) + struct.pack(">I", count) + row


_ROW = b"\x01n" + b"\x04\x0a\x00\x00\x01\x1f\x0a" + bytes(8)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_ACK, "push-pull"),
        (_snapshot_with(_ROW + b"\x04\x00\x00"), "member state"),
        (_snapshot_with(_ROW + b"\x00\x00\x00", join=2), "join flag"),
        (_snapshot_with(b"", count=2**32 - 1), "exceeds"),
        (_snapshot_with(_ROW + b"\x00\x00\x00", count=2), "exceeds"),
        (_snapshot_with(_ROW + b"\x00\x00\x05abc"), "truncated"),
    ],
)
def test_malformed_snapshots_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        codec.decode_push_pull(_sealed(data))


def test_valid_hand_built_snapshot_row_decodes() -> None:
    snapshot = codec.decode_push_pull(_sealed(_snapshot_with(_ROW + b"\x01\x00\x00")))
    assert snapshot.members == (MemberState("n", Address("10.0.0.1", 7946), 0, State.SUSPECT),)


def test_a_packet_is_not_an_exchange_and_the_other_way_round() -> None:
    with pytest.raises(DecodeError):
        codec.decode_exchange(_sealed(_ACK))
    with pytest.raises(DecodeError):
        codec.decode_packet(codec.encode_push_pull(PushPull("", False, ())))


# The encoder refuses what the wire cannot carry (a local error, not a DecodeError) ------------


@pytest.mark.parametrize(
    "value",
    [
        Packet("", Ping(1, "t" * 256, "s")),
        Packet("é" * 128, Gossip()),
        Packet("", Gossip(), (Alive("a", Address("10.0.0.1", 1), 0, b"x" * 65536),)),
        Packet("", Gossip(), tuple(Left("a", i) for i in range(256))),
    ],
    ids=["name", "label", "blob", "update count"],
)
def test_encoder_refuses_oversized_fields(value: Packet) -> None:
    with pytest.raises(ValueError):
        codec.encode_packet(value)


def test_decode_error_is_a_swim_error_with_a_reason() -> None:
    with pytest.raises(DecodeError) as info:
        codec.decode_packet(b"nonsense")
    assert info.value.reason == str(info.value)


def _rows_without_cache(snapshot: PushPull) -> bytes:
    """The push-pull encoding with the row caches emptied first (what a cold process sends)."""
    codec._ROW_CACHE.clear()
    codec._DECODED_ROWS.clear()
    return codec.encode_push_pull(snapshot)


@given(push_pulls, push_pulls)
def test_cached_push_pull_rows_give_the_bytes_of_a_cold_encoder(
    first: PushPull, second: PushPull
) -> None:
    codec.encode_push_pull(first)  # warm the caches with other rows
    codec.decode_push_pull(codec.encode_push_pull(first))
    warm = codec.encode_push_pull(second)
    assert warm == _rows_without_cache(second)
    assert codec.decode_push_pull(warm) == second
    assert codec.decode_push_pull(warm) == second  # served from the decoded-row cache


def test_a_row_changed_in_place_is_encoded_anew() -> None:
    """The cache is keyed by value: a new address under the same name, incarnation and state
    is a different row, and a damaged copy of a cached row is still refused."""
    a = MemberState("m", Address("10.0.0.1", 7946), 3, State.ALIVE, b"x")
    b = MemberState("m", Address("10.0.0.2", 7946), 3, State.ALIVE, b"x")
    first = codec.encode_push_pull(PushPull("", False, (a,)))
    second = codec.encode_push_pull(PushPull("", False, (b,)))
    assert first != second
    assert codec.decode_push_pull(second).members == (b,)
    body = first[: -codec.CHECKSUM_SIZE - 1]  # one byte short of the row, checksum redone
    with pytest.raises(DecodeError):
        codec.decode_push_pull(body + struct.pack(">I", zlib.crc32(body)))


# The inline reader of alive updates against the careful one -------------------------------------


def _careful(data: bytes) -> Packet | str:
    """What reading every update with the field-by-field reader makes of ``data``."""
    try:
        body = codec._verified(data)
        label, pos = codec._header_at(body)
        message, pos = codec._message_at(body, pos)
        count = codec._byte_at(body, pos)
        pos += 1
        updates = []
        for _ in range(count):
            update, pos = codec._update_at(body, pos)
            updates.append(update)
        if pos != len(body):
            raise DecodeError("trailing bytes")
    except DecodeError as exc:
        return exc.reason
    return Packet(label, message, tuple(updates))


@given(packets)
def test_each_update_keeps_the_bytes_it_arrived_in(packet: Packet) -> None:
    decoded = codec.decode_packet(codec.encode_packet(packet))
    assert decoded.raw_updates == tuple(codec.encode_update(u) for u in packet.updates)


def _same_verdict(body: bytes) -> None:
    # Damage behind a correct checksum reaches the update readers (the fast one reads alive
    # updates inline and hands anything odd to the careful one, which says what is wrong).
    data = _sealed(body)
    expected = _careful(data)
    try:
        decoded = codec.decode_packet(data)
    except DecodeError as exc:
        assert exc.reason == expected
        return
    assert decoded == expected
    assert decoded.raw_updates == tuple(codec.encode_update(u) for u in decoded.updates)


def _damaged_packets_get_the_careful_readers_verdict(body: bytes) -> None:
    _same_verdict(body)


@quick_fuzz_mutations
@given(mutated(packets.map(lambda p: codec.encode_packet(p)[: -codec.CHECKSUM_SIZE])))
def test_damaged_packets_get_the_careful_readers_verdict(body: bytes) -> None:
    _damaged_packets_get_the_careful_readers_verdict(body)


@pytest.mark.slow
@fuzz_mutations
@given(mutated(packets.map(lambda p: codec.encode_packet(p)[: -codec.CHECKSUM_SIZE])))
def test_damaged_packets_get_the_careful_readers_verdict_full_budget(body: bytes) -> None:
    _damaged_packets_get_the_careful_readers_verdict(body)


@given(packets)
def test_every_cut_of_a_packet_gets_the_careful_readers_verdict(packet: Packet) -> None:
    body = codec.encode_packet(packet)[: -codec.CHECKSUM_SIZE]
    for cut in range(len(body)):
        _same_verdict(body[:cut])


@given(st.lists(updates, max_size=6), st.lists(updates, max_size=6))
def test_alive_updates_decoded_before_decode_to_the_same_values(
    first: list[Update], second: list[Update]
) -> None:
    """The decoded-update cache changes speed only: a warm decode equals a cold one."""
    codec.decode_packet(codec.encode_packet(Packet("", Gossip(), tuple(first))))
    data = codec.encode_packet(Packet("", Gossip(), tuple(first + second)))
    warm = codec.decode_packet(data)
    codec._UPDATE_CACHE.clear()
    cold = codec.decode_packet(data)
    assert warm == cold
    assert warm.updates == tuple(first + second)
    assert warm.raw_updates == cold.raw_updates


def test_the_decoded_update_cache_is_bounded_and_keeps_working_when_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(codec, "_UPDATE_CACHE_SIZE", 8)
    codec._UPDATE_CACHE.clear()
    news: list[Update] = []
    for i in range(50):
        news.append(Alive(f"m{i}", Address("10.0.0.1", 7000 + i), i, b"x" * (i % 3)))
        news.append((Suspect if i % 2 else Dead)(f"m{i}", i, "b" * (i % 4)))
    for round_ in range(2):
        for update in news:
            data = codec.encode_packet(Packet("", Gossip(), (update,)))
            assert codec.decode_packet(data).updates == (update,), round_
            assert len(codec._UPDATE_CACHE) <= 8
    # A copy of a cached update with one byte changed is another update, read afresh.
    raw = codec.encode_update(news[-2])
    assert raw in codec._UPDATE_CACHE
    alive = news[-2]
    assert isinstance(alive, Alive)
    changed = Alive(alive.name, alive.address, alive.incarnation + 1, alive.meta)
    data = codec.encode_packet(Packet("", Gossip(), (changed,)))
    assert codec.decode_packet(data).updates == (changed,)


@pytest.mark.parametrize("kind", [Suspect, Dead])
def test_an_accusation_cut_short_is_malformed_even_when_the_whole_one_was_seen(
    kind: type[Suspect] | type[Dead],
) -> None:
    """The cache is keyed by the bytes the update's own lengths span: a packet that ends
    inside an accusation it has decoded before is still refused."""
    whole = kind("m1", 7, "accuser")
    data = codec.encode_packet(Packet("", Gossip(), (whole,)))
    assert codec.decode_packet(data).updates == (whole,)
    body = data[: -codec.CHECKSUM_SIZE]
    for cut in range(1, len(codec.encode_update(whole))):
        short = body[:-cut]
        with pytest.raises(DecodeError):
            codec.decode_packet(short + struct.pack(">I", zlib.crc32(short)))


def test_an_interned_address_is_the_one_updates_about_it_decode_to() -> None:
    codec._ADDRESS_CACHE.clear()  # room for it (a cache full of other tests' addresses has none)
    given = Address("10.250.0.7", 7946)
    kept = codec.interned(given)
    assert kept == given
    assert codec.interned(Address("10.250.0.7", 7946)) is kept  # one object per address
    update = Alive("m", Address("10.250.0.7", 7946), 3)
    packet = Packet("", Gossip(), (update,))
    decoded = codec.decode_packet(codec.encode_packet(packet)).updates[0]
    assert isinstance(decoded, Alive) and decoded.address is kept


def test_a_scoped_ipv6_address_is_not_interned() -> None:
    scoped = Address("fe80::7%eth0", 7946)
    assert codec.interned(scoped) is scoped
    assert str(codec.interned(Address("fe80::7", 7946))) == "[fe80::7]:7946"  # not the scoped one
