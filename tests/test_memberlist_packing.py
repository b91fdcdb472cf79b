"""The memberlist wire on the ``msgpack`` package gives the bytes and the decisions of the
hand-written codec it replaced (``tests/msgpack_reference.py``): the same encoding of every value
and every message, and, for any input, the same value or the same refusal."""

from __future__ import annotations

import math
import struct

import msgpack_reference as ref
import pytest
from helpers import quick
from hypothesis import given, settings
from hypothesis import strategies as st

from swimcore.errors import DecodeError
from swimcore.wire.memberlist import bodies, packing
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
    MlSuspect,
    MlUser,
    NodeState,
    vsn_bytes,
)

# Values --------------------------------------------------------------------------------------

#: Lengths on both sides of the boundaries of the short raw forms (fixstr, str8, str16); the
#: str32 boundary is checked once, below (long values make every example slow).
edge_blobs = st.sampled_from([0, 1, 31, 32, 255, 256]).map(lambda n: b"\xab" * n)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, -32, -33, -128]),
    st.sampled_from([-129, -(2**15), -(2**15) - 1, -(2**31), -(2**31) - 1, -(2**63)]),
    st.floats(),
    st.binary(max_size=80),
    st.text(max_size=40),
    edge_blobs,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=20),
        st.dictionaries(st.text(max_size=12), inner, max_size=20),
    ),
    max_leaves=40,
)


def _norm(value: object) -> object:
    """A comparable form of a decoded value: keys as bytes, floats by their bits (NaN too)."""
    if isinstance(value, dict):
        return {(k.encode() if isinstance(k, str) else k): _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, float):
        return ("float", struct.pack(">d", value))
    return value


def _outcome(decode: object, data: bytes) -> object:
    try:
        return ("value", _norm(decode(data)))  # type: ignore[operator]
    except DecodeError:
        return ("refused",)


def _packs_as_before(value: ref.Value) -> None:
    assert packing.pack(value) == ref.encode(value)


@settings(max_examples=quick(1000))
@given(values)
def test_every_value_is_encoded_byte_for_byte_as_before(value: ref.Value) -> None:
    _packs_as_before(value)


@pytest.mark.slow
@settings(max_examples=1000)
@given(values)
def test_every_value_is_encoded_byte_for_byte_as_before_full_budget(value: ref.Value) -> None:
    _packs_as_before(value)


@pytest.mark.parametrize("size", [65535, 65536])
def test_long_raws_are_encoded_and_decoded_as_before(size: int) -> None:
    value = b"\xab" * size
    assert packing.pack(value) == ref.encode(value)
    assert packing.decode(ref.encode(value)) == value


@pytest.mark.parametrize("count", [0, 15, 16, 65535, 65536])
def test_container_headers_are_encoded_as_before(count: int) -> None:
    assert packing.pack([0] * count) == ref.encode([0] * count)
    as_map: ref.Value = {str(i): 0 for i in range(count)}
    assert packing.pack(as_map) == ref.encode(as_map)


def test_integers_beyond_64_bits_are_refused_as_before() -> None:
    for value in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError):
            ref.encode(value)
        with pytest.raises((OverflowError, ValueError)):
            packing.pack(value)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """The encoding of a value, then cut, overwritten at one byte, or extended."""
    data = bytearray(ref.encode(draw(values)))
    how = draw(st.sampled_from(["cut", "flip", "append", "none"]))
    if how == "cut":
        del data[draw(st.integers(0, len(data))) :]
    elif how == "flip" and data:
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "append":
        data += draw(st.binary(min_size=1, max_size=20))
    return bytes(data)


inputs = st.one_of(st.binary(max_size=200), damaged())


@settings(max_examples=quick(1000))
@given(inputs)
def test_any_input_is_decoded_or_refused_as_before(data: bytes) -> None:
    assert _outcome(packing.decode, data) == _outcome(ref.decode, data)


@pytest.mark.slow
@settings(max_examples=1000)
@given(inputs)
def test_any_input_is_decoded_or_refused_as_before_full_budget(data: bytes) -> None:
    assert _outcome(packing.decode, data) == _outcome(ref.decode, data)


@settings(max_examples=500)
@given(inputs)
def test_a_leading_value_is_decoded_or_refused_as_before(data: bytes) -> None:
    # Datagram bodies: Go ignores what follows the first value, and so do both decoders.
    assert _outcome(packing.decode_first, data) == _outcome(lambda d: ref.Reader(d).value(), data)


@settings(max_examples=quick(300))
@given(st.lists(values, min_size=1, max_size=5), st.data())
def test_a_cursor_reads_the_same_values_and_stops_at_the_same_place(
    items: list[ref.Value], data: st.DataObject
) -> None:
    _reads_as_before(items, data)


@pytest.mark.slow
@settings(max_examples=300)
@given(st.lists(values, min_size=1, max_size=5), st.data())
def test_a_cursor_reads_the_same_values_and_stops_at_the_same_place_full_budget(
    items: list[ref.Value], data: st.DataObject
) -> None:
    _reads_as_before(items, data)


def _reads_as_before(items: list[ref.Value], data: st.DataObject) -> None:
    buf = b"".join(ref.encode(v) for v in items)
    start = data.draw(st.integers(0, len(buf)))
    old, new = ref.Reader(buf, start), packing.Reader(buf, start)
    while True:
        try:
            expected: object = ("value", _norm(old.value()), old.pos)
        except DecodeError:
            expected = ("refused",)
        try:
            found: object = ("value", _norm(new.value()), new.pos)
        except DecodeError:
            found = ("refused",)
        assert found == expected
        if found == ("refused",):
            break


@settings(max_examples=300)
@given(values, st.data())
def test_a_value_cut_short_waits_for_more_bytes(value: ref.Value, data: st.DataObject) -> None:
    whole = ref.encode(value)
    try:
        ref.decode(whole)
    except DecodeError:  # too deep: refused outright by both
        return
    cut = data.draw(st.integers(0, len(whole) - 1))
    with pytest.raises(ref.Truncated):
        ref.Reader(whole[:cut]).value()
    with pytest.raises(packing.Truncated):
        packing.Reader(whole[:cut], limit=len(whole)).value()


def test_float32_is_read_as_before() -> None:
    data = b"\xca" + struct.pack(">f", 1.5)
    assert packing.decode(data) == ref.decode(data) == 1.5
    nan = packing.decode(b"\xca\x7f\xc0\x00\x00")
    assert isinstance(nan, float) and math.isnan(nan)


# Messages ------------------------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
names = st.text(max_size=40)
blobs = st.one_of(st.binary(max_size=300), edge_blobs)
ips = st.sampled_from([bytes([127, 0, 0, 1]), bytes([10, 1, 2, 3]), bytes(15) + b"\x01", b""])
vsns = st.sampled_from([b"", vsn_bytes(), bytes([1, 5, 2, 0, 0, 0])])
messages = st.one_of(
    st.builds(MlPing, u32, names, ips, u16, names),
    st.builds(MlIndirectPing, u32, ips, u16, names, st.booleans(), ips, u16, names),
    st.builds(MlAck, u32, blobs),
    st.builds(MlNack, u32),
    st.builds(MlErr, names),
    st.builds(MlSuspect, u32, names, names),
    st.builds(MlAlive, u32, names, ips, u16, blobs, vsns),
    st.builds(MlDead, u32, names, names),
    st.builds(MlUser, blobs),
)
rows = st.builds(
    MlPushNodeState, names, ips, u16, blobs, u32, st.sampled_from(list(NodeState)), vsns
)


@settings(max_examples=1000)
@given(messages)
def test_every_message_is_encoded_byte_for_byte_as_before(message: MlMessage) -> None:
    assert bodies.encode_message(message) == ref.encode_message(message)


@settings(max_examples=300)
@given(rows)
def test_every_push_pull_row_is_encoded_byte_for_byte_as_before(row: MlPushNodeState) -> None:
    assert bodies.encode_fields(row) == ref.encode_fields(row)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Join", "Nodes", "UserStateLen", "UserMsgLen"]),
            st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1)),
        ),
        unique_by=lambda kv: kv[0],
    ),
    blobs,
)
def test_headers_and_the_compress_wrapper_are_encoded_as_before(
    fields: list[tuple[str, int | bool]], buf: bytes
) -> None:
    assert bodies.encode_header(fields) == ref.encode_header(fields)
    assert bodies.encode_compress(buf) == ref.encode_compress(buf)


def test_out_of_range_fields_are_refused_as_before() -> None:
    for message in (MlNack(2**32), MlAlive(1, "n", b"", 2**16), MlPing(1, "n", b"", 2**16)):
        with pytest.raises(ValueError):
            ref.encode_message(message)
        with pytest.raises(ValueError):
            bodies.encode_message(message)


def test_a_reader_does_not_copy_a_large_message_whole() -> None:
    import tracemalloc  # noqa: PLC0415

    rows = [{"Name": f"member-{i:05d}".encode(), "Meta": b"m" * 100} for i in range(20_000)]
    data = b"".join(packing.pack(row) for row in rows)  # about 2.5 MB of rows
    tracemalloc.start()
    try:
        reader = packing.Reader(data, limit=len(data))
        first = reader.value()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first == {b"Name": b"member-00000", b"Meta": b"m" * 100}
    assert held < 4 * packing.CHUNK < len(data) // 4
    # ... and every row is still read, in order, across the pieces it was handed in.
    count = 1
    while reader.pos < len(data):
        assert reader.value() == {b"Name": f"member-{count:05d}".encode(), b"Meta": b"m" * 100}
        count += 1
    assert count == len(rows)
