"""The memberlist profile's codec: msgpack as Go writes it, Go's LZW, every message type, the
datagram and stream layers (compound, compression, CRC, encryption, label), and bad input."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swimcore.errors import DecodeError
from swimcore.wire.memberlist import bodies, lzw, packet, packing, security, stream
from swimcore.wire.memberlist.messages import (
    MlAck,
    MlAlive,
    MlDead,
    MlErr,
    MlIndirectPing,
    MlMessage,
    MlNack,
    MlPing,
    MlPushNodeState,
    MlPushPull,
    MlStreamMessage,
    MlSuspect,
    MlUser,
    MlUserStream,
    MsgType,
    NodeState,
    vsn_bytes,
)

DATA = Path(__file__).parent / "data" / "memberlist"

pytest.importorskip("cryptography", reason="encryption tests need the crypto extra")

# Strategies ---------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
names = st.text(max_size=40)
blobs = st.binary(max_size=300)
ips = st.sampled_from([bytes([127, 0, 0, 1]), bytes([10, 1, 2, 3]), bytes(15) + b"\x01", b""])
vsns = st.sampled_from([b"", vsn_bytes(), bytes([1, 5, 2, 0, 0, 0])])

pings = st.builds(MlPing, u32, names, ips, u16, names)
indirect_pings = st.builds(MlIndirectPing, u32, ips, u16, names, st.booleans(), ips, u16, names)
acks = st.builds(MlAck, u32, blobs)
nacks = st.builds(MlNack, u32)
errs = st.builds(MlErr, names)
suspects = st.builds(MlSuspect, u32, names, names)
alives = st.builds(MlAlive, u32, names, ips, u16, blobs, vsns)
deads = st.builds(MlDead, u32, names, names)
users = st.builds(MlUser, blobs)
udp_messages = st.one_of(pings, indirect_pings, acks, nacks, errs, suspects, alives, deads, users)
rows = st.builds(
    MlPushNodeState, names, ips, u16, blobs, u32, st.sampled_from(list(NodeState)), vsns
)
push_pulls = st.builds(MlPushPull, st.booleans(), st.lists(rows, max_size=6).map(tuple), blobs)
stream_messages = st.one_of(
    push_pulls, pings, acks, errs, st.builds(MlUserStream, st.binary(max_size=2000))
)
labels = st.sampled_from(["", "blue", "ü" * 30])
keysets = st.sampled_from([(), (bytes(range(16)),), (bytes(32), bytes(range(16)))])


# msgpack ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "cc80"),
        (255, "ccff"),
        (256, "cd0100"),
        (65535, "cdffff"),
        (65536, "ce00010000"),
        (2**32, "cf0000000100000000"),
        (-1, "ff"),
        (-32, "e0"),
        (-33, "d0df"),
        (-129, "d1ff7f"),
        (None, "c0"),
        (True, "c3"),
        (False, "c2"),
        (b"", "a0"),
        (b"a" * 31, "bf" + "61" * 31),
        (b"a" * 32, "da0020" + "61" * 32),  # Go's codec skips str8 (and bin) entirely
        (b"a" * 65536, "db00010000" + "61" * 65536),
        ([1, 2], "920102"),
        ({b"A": 1}, "81a14101"),
    ],
)
def test_msgpack_encodes_like_go(value: packing.Value, encoded: str) -> None:
    assert packing.pack(value).hex() == encoded
    assert packing.decode(bytes.fromhex(encoded)) == value


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        ("d90161", b"a"),
        ("c40161", b"a"),
        ("c5000161", b"a"),
        ("d2ffffffff", -1),
        ("de000141", None),
    ],
)
def test_msgpack_reads_what_go_also_reads(encoded: str, value: packing.Value) -> None:
    if value is None:
        with pytest.raises(DecodeError):
            packing.decode(bytes.fromhex(encoded))
    else:
        assert packing.decode(bytes.fromhex(encoded)) == value


def test_msgpack_bounds_nesting_and_counts() -> None:
    with pytest.raises(DecodeError):
        packing.decode(b"\x91" * 50 + b"\x00")
    packing.decode(b"\x91" * 8 + b"\x00")  # eight levels are as deep as it goes
    with pytest.raises(DecodeError):
        packing.decode(b"\x91" * 9 + b"\x00")
    with pytest.raises(DecodeError):
        packing.decode(b"\xdd\xff\xff\xff\xff")  # four billion elements announced, none sent
    # A stream reader waits for a value cut short, and refuses a length no message can hold.
    with pytest.raises(packing.Truncated):
        packing.Reader(b"\xdd\x00\x00\x10\x00\x01", limit=1 << 20).value()
    with pytest.raises(DecodeError) as refused:
        packing.Reader(b"\xdd\xff\xff\xff\xff", limit=1 << 20).value()
    assert not isinstance(refused.value, packing.Truncated)


@pytest.mark.parametrize(
    "encoded",
    [
        "d6ff00000001",  # a timestamp
        "d40100",  # any other extension type
        "c1",  # the byte the spec never uses
        "81c1",
        "8101c3",  # an integer key
        "81c401ff01",  # a key that is not UTF-8
        "81a178d6ff00000001",  # an extension type inside a struct
    ],
)
def test_msgpack_refuses_what_memberlist_never_writes(encoded: str) -> None:
    with pytest.raises(DecodeError):
        packing.decode(bytes.fromhex(encoded))
    with pytest.raises(DecodeError):
        packing.decode_first(bytes.fromhex(encoded))


@given(st.binary(max_size=200))
def test_msgpack_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        packing.decode(data)


def test_struct_fields_are_written_in_go_sorted_order() -> None:
    alive = MlAlive(1, "n", b"\x7f\x00\x00\x01", 7946, b"", vsn_bytes())
    body = packing.decode(bodies.encode_fields(alive))
    assert isinstance(body, dict)
    assert list(body) == [b"Addr", b"Incarnation", b"Meta", b"Node", b"Port", b"Vsn"]
    assert body[b"Meta"] is None  # an empty slice goes out as Go's nil
    ping = packing.decode(bodies.encode_fields(MlPing(5, "n")))
    assert ping == {b"Node": b"n", b"SeqNo": 5}  # omitempty source fields left out


# LZW ----------------------------------------------------------------------------------------


def _go_lzw_vectors() -> list[tuple[bytes, dict[str, Any]]]:
    """The inputs Go's compress/lzw compressed (made again from their seeds), with Go's output."""
    spec = json.loads((DATA / "lzw_vectors.json").read_text())
    vectors = []
    for vector in spec["vectors"]:
        rng = random.Random(vector["seed"])
        alphabet = bytes.fromhex(vector["alphabet"])
        vectors.append((bytes(rng.choice(alphabet) for _ in range(vector["size"])), vector))
    return vectors


def test_lzw_matches_go_output_byte_for_byte() -> None:
    for data, vector in _go_lzw_vectors():
        out = lzw.compress(data)
        assert len(out) == vector["go_length"]
        assert out[:48].hex() == vector["go_head"]
        assert hashlib.sha256(out).hexdigest() == vector["go_sha256"]
        assert lzw.decompress(out, len(data)) == data


@given(st.binary(max_size=3000))
def test_lzw_round_trip(data: bytes) -> None:
    assert lzw.decompress(lzw.compress(data), len(data)) == data


@given(st.binary(max_size=6000), st.lists(st.integers(0, 6000), max_size=8))
def test_lzw_fed_in_pieces_is_the_same_stream(data: bytes, cuts: list[int]) -> None:
    """A message compressed a piece at a time (as push-pulls are, a slice per step) is the
    stream of the whole at once, table resets included."""
    compressor = lzw.Compressor()
    start = 0
    for cut in sorted(cuts):
        compressor.feed(data[start:cut])
        start = max(start, cut)
    compressor.feed(data[start:])
    assert compressor.finish() == lzw.compress(data)


def test_lzw_in_pieces_matches_go_output() -> None:
    for data, vector in _go_lzw_vectors():
        compressor = lzw.Compressor()
        for start in range(0, len(data), 1000):
            compressor.feed(data[start : start + 1000])
        assert hashlib.sha256(compressor.finish()).hexdigest() == vector["go_sha256"]


@given(st.binary(max_size=300))
def test_lzw_arbitrary_bytes_raise_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        lzw.decompress(data, 10_000)


def test_lzw_refuses_output_beyond_the_limit() -> None:
    with pytest.raises(DecodeError, match="exceeds"):
        lzw.decompress(lzw.compress(b"a" * 10_000), 1000)
    with pytest.raises(DecodeError, match="end code"):
        lzw.decompress(lzw.compress(b"abc")[:-2], 1000)


# Messages and datagrams ---------------------------------------------------------------------


@given(udp_messages)
def test_every_udp_message_round_trips(message: MlMessage) -> None:
    encoded = bodies.encode_message(message)
    assert (
        encoded[0]
        == {
            MlPing: MsgType.PING,
            MlIndirectPing: MsgType.INDIRECT_PING,
            MlAck: MsgType.ACK,
            MlNack: MsgType.NACK,
            MlErr: MsgType.ERR,
            MlSuspect: MsgType.SUSPECT,
            MlAlive: MsgType.ALIVE,
            MlDead: MsgType.DEAD,
            MlUser: MsgType.USER,
        }[type(message)]
    )
    assert bodies.decode_body(encoded[0], encoded[1:]) == message


@settings(max_examples=60)
@given(
    st.lists(udp_messages, min_size=1, max_size=5),
    labels,
    keysets,
    st.booleans(),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_datagrams_round_trip_through_every_layer(
    messages: list[MlMessage],
    label: str,
    keys: tuple[bytes, ...],
    compress: bool,
    crc: bool,
    seed: int,
) -> None:
    rng = random.Random(seed)
    data = packet.encode_datagram(
        messages, label=label, keys=keys, compress=compress, crc=crc, rng=rng
    )
    assert packet.decode_datagram(data, label=label, keys=keys) == messages
    if label:
        assert data.startswith(bytes((MsgType.HAS_LABEL, len(label.encode()))))
        with pytest.raises(packet.LabelMismatch):
            packet.decode_datagram(data, label="", keys=keys)
    if keys:
        assert data[len(packet.label_header(label))] == security.ENCRYPTION_VERSION
        with pytest.raises(security.AuthFailed):
            packet.decode_datagram(data, label=label, keys=(bytes(range(1, 17)),))


def test_crc_prefix_is_checked() -> None:
    data = packet.encode_datagram([MlNack(9)], crc=True)
    assert data[0] == MsgType.HAS_CRC
    damaged = data[:-1] + bytes((data[-1] ^ 1,))
    with pytest.raises(DecodeError, match="CRC"):
        packet.decode_datagram(damaged)


def test_compression_is_used_only_when_it_shrinks() -> None:
    small = packet.encode_datagram([MlNack(1)], compress=True, crc=False)
    assert small[0] == MsgType.NACK
    big = [MlUser(b"x" * 400), MlUser(b"x" * 400)]
    packed = packet.encode_datagram(big, compress=True, crc=False)
    assert packed[0] == MsgType.COMPRESS
    assert packet.decode_datagram(packed) == big


def test_version_zero_encryption_with_padding_is_read() -> None:
    key = bytes(range(16))
    sealed = security.seal(key, bodies.encode_message(MlNack(3)), b"", random.Random(1), 0)
    assert len(sealed) == security.encrypted_length(4, 0)
    assert packet.decode_datagram(sealed, keys=(key,)) == [MlNack(3)]


def test_encrypted_datagrams_rotate_keys() -> None:
    old, new = bytes(16), bytes(range(16))
    data = packet.encode_datagram([MlNack(4)], keys=(old,), rng=random.Random(0))
    assert packet.decode_datagram(data, keys=(new, old)) == [MlNack(4)]
    with pytest.raises(DecodeError):
        packet.decode_datagram(data)  # an encrypted datagram is garbage to a keyless node


@given(st.binary(max_size=300), labels, keysets)
def test_arbitrary_datagrams_raise_only_decode_error(
    data: bytes, label: str, keys: tuple[bytes, ...]
) -> None:
    with contextlib.suppress(DecodeError):
        packet.decode_datagram(data, label=label, keys=keys)


@given(st.lists(udp_messages, min_size=1, max_size=4), st.data())
def test_damaged_datagrams_raise_only_decode_error(
    messages: list[MlMessage], data: st.DataObject
) -> None:
    raw = bytearray(packet.encode_datagram(messages, crc=False))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(DecodeError):
        packet.decode_datagram(bytes(raw[:cut]))


# Streams ------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(stream_messages, labels, keysets, st.booleans(), st.integers(0, 2**32))
def test_stream_messages_round_trip_and_are_read_incrementally(
    message: MlStreamMessage,
    label: str,
    keys: tuple[bytes, ...],
    compress: bool,
    seed: int,
) -> None:
    data = stream.encode_stream(
        message, label=label, keys=keys, compress=compress, rng=random.Random(seed)
    )
    assert stream.decode_stream(data, label=label, keys=keys) == message
    for cut in range(0, len(data), max(1, len(data) // 7)):
        assert stream.read_stream(data[:cut], label=label, keys=keys) is None
    # Whatever follows the message on the connection is left alone.
    assert stream.read_stream(data + b"\x00junk", label=label, keys=keys) == (message, len(data))


def test_push_pull_stream_layout() -> None:
    row = MlPushNodeState("a", b"\x7f\x00\x00\x01", 7946, b"m", 3, NodeState.LEFT, vsn_bytes())
    data = stream.encode_stream(MlPushPull(True, (row,), b"user"))
    assert data[0] == MsgType.PUSH_PULL
    reader = packing.Reader(data, 1)
    assert reader.value() == {b"Join": True, b"Nodes": 1, b"UserStateLen": 4}
    assert reader.value() == {
        b"Addr": b"\x7f\x00\x00\x01",
        b"Incarnation": 3,
        b"Meta": b"m",
        b"Name": b"a",
        b"Port": 7946,
        b"State": 3,
        b"Vsn": vsn_bytes(),
    }
    assert data[reader.pos :] == b"user"


def test_stream_refusals() -> None:
    plain = stream.encode_stream(MlAck(1))
    with pytest.raises(DecodeError, match="not encrypted"):
        stream.read_stream(plain, keys=(bytes(16),))
    sealed = stream.encode_stream(MlAck(1), keys=(bytes(16),), rng=random.Random(0))
    with pytest.raises(DecodeError, match="not configured"):
        stream.read_stream(sealed)
    with pytest.raises(DecodeError, match="exceeds"):
        stream.read_stream(bytes([10]) + (2**31).to_bytes(4, "big"), keys=(bytes(16),))
    with pytest.raises(DecodeError, match="nodes"):
        stream.read_stream(bytes([6]) + packing.pack({"Nodes": 2**40}))
    with pytest.raises(packet.LabelMismatch):
        stream.read_stream(stream.encode_stream(MlAck(1), label="red"), label="blue")


@given(st.binary(max_size=300), labels, keysets)
def test_arbitrary_streams_raise_only_decode_error(
    data: bytes, label: str, keys: tuple[bytes, ...]
) -> None:
    with contextlib.suppress(DecodeError):
        stream.read_stream(data, label=label, keys=keys)
