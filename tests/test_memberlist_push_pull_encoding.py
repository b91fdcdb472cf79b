"""The memberlist profile writes a push-pull's rows in one packing call: the same bytes as
one ``MlPushNodeState`` per row, each packed alone (the encoder it replaced, 20 us a row)."""

from __future__ import annotations

import random

import pytest

from swimcore import Address, Config, Keyring
from swimcore.messages import MemberState, PushPull, State
from swimcore.wire.memberlist import packing, stream
from swimcore.wire.memberlist.messages import MlPushPull
from swimcore.wire.memberlist.profile import MemberlistWire


def _wire(compress: bool = False, keyring: Keyring | None = None) -> MemberlistWire:
    config = Config.lan(wire="memberlist+lzw" if compress else "memberlist", label="blue")
    return MemberlistWire(
        config,
        "local",
        Address("127.0.0.1", 7946),
        keyring=keyring,
        rng=random.Random(3),
        compress=compress,
    )


def _reference(wire: MemberlistWire, snapshot: PushPull, rng: random.Random) -> bytes:
    rows = tuple(wire.to_ml_row(row) for row in snapshot.members)
    return stream.encode_stream(
        MlPushPull(snapshot.join, rows, snapshot.user_state),
        label=wire.label,
        keys=wire.keys(),
        compress=wire.compress,
        rng=rng,
    )


def _rows(count: int) -> tuple[MemberState, ...]:
    states = list(State)
    return tuple(
        MemberState(
            "local" if i == 0 else f"m{i}" + "x" * (i % 40),
            Address(f"::ffff:10.0.{i >> 8 & 255}.{i & 255}" if i % 7 == 3 else "fd00::1", i)
            if i % 5 == 4
            else Address(f"127.0.{i >> 8 & 255}.{i & 255}", (i * 7919) % 65536),
            [0, 1, 2**32 - 2, 2**32 - 1, 2**40][i % 5] + i,
            states[i % len(states)],
            b"" if i % 3 else bytes(range(i % 200)),
        )
        for i in range(count)
    )


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 300])
@pytest.mark.parametrize("variant", ["plain", "compressed", "encrypted"])
def test_the_rows_are_the_bytes_of_one_message_per_row(count: int, variant: str) -> None:
    keyring = Keyring(bytes(range(16))) if variant == "encrypted" else None
    wire = _wire(compress=variant == "compressed", keyring=keyring)
    # Versions heard from some members (relayed as heard), memberlist's defaults for the rest.
    wire.from_ml_row(wire.to_ml_row(MemberState("m2", Address("127.0.0.2", 2), 1, State.ALIVE)))
    wire._remember("m3", bytes((2, 4, 4, 0, 0, 0)), Address("127.0.0.3", 3))
    for join, user_state in ((False, b""), (True, b"application state")):
        snapshot = PushPull("blue", join, _rows(count), user_state)
        wire._rng.seed(5)
        fast = wire.encode_push_pull(snapshot)
        assert fast == _reference(wire, snapshot, random.Random(5))


@pytest.mark.parametrize("count", [0, 15, 16, 0xFFFF, 0x10000])
def test_maps_are_cut_from_an_array_of_any_length(count: int) -> None:
    maps: list[dict[str, object]] = [{"A": i} for i in range(count)]
    assert stream.concat_maps(maps) == b"".join(packing.pack(m) for m in maps)


@pytest.mark.parametrize("size", [1, 7, 256])
@pytest.mark.parametrize("variant", ["plain", "compressed", "encrypted"])
def test_rows_written_a_slice_at_a_time_are_the_same_bytes(size: int, variant: str) -> None:
    """The node writes its push-pulls a slice per step (compressed as they go): the bytes are
    those of the whole message written at once."""
    keyring = Keyring(bytes(range(16))) if variant == "encrypted" else None
    wire = _wire(compress=variant == "compressed", keyring=keyring)
    rows = _rows(1000)
    for join, user_state in ((False, b""), (True, b"application state")):
        wire._rng.seed(5)
        writer = wire.snapshot_writer("blue", join, len(rows), user_state)
        for start in range(0, len(rows), size):
            writer.add(rows[start : start + size])
        sliced = writer.finish()
        snapshot = PushPull("blue", join, rows, user_state)
        assert sliced == _reference(wire, snapshot, random.Random(5))


def test_a_writer_given_other_than_the_rows_it_announced_refuses_to_finish() -> None:
    writer = _wire().snapshot_writer("blue", False, 3, b"")
    writer.add(_rows(2))
    with pytest.raises(ValueError, match="3 rows"):
        writer.finish()
