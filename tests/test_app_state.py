"""Application state in the full-state exchanges (memberlist's LocalState/MergeRemoteState)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from helpers import Link, addr

from swimcore import Address, Config, DecodeError, Node
from swimcore.messages import MemberState, PushPull, State
from swimcore.wire.loading import for_node
from swimcore.wire.native import codec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

ROWS = (MemberState("a", Address("10.0.0.1", 7946), 3, State.ALIVE, b"m"),)


def test_the_native_codec_carries_the_state_and_leaves_stateless_bytes_unchanged() -> None:
    plain = PushPull("g", True, ROWS)
    with_state = PushPull("g", True, ROWS, b"\x00state\xff")
    assert codec.decode_push_pull(codec.encode_push_pull(with_state)) == with_state
    assert codec.decode_push_pull(codec.encode_push_pull(plain)).user_state == b""
    # Without state nothing is added: with it, 4 bytes of length and the state.
    extra = len(codec.encode_push_pull(with_state)) - len(codec.encode_push_pull(plain))
    assert extra == 4 + len(b"\x00state\xff")


@pytest.mark.parametrize("wire", ["native", "memberlist"])
def test_each_wire_round_trips_the_state(wire: str) -> None:
    profile = for_node(Config.lan(label="g", wire=wire), "a", Address("10.0.0.1", 7946), None,
                       random.Random(1))  # fmt: skip
    snapshot = PushPull("g", False, ROWS, b'{"k": 1}')
    decoded = profile.decode_exchange(profile.encode_push_pull(snapshot))
    assert isinstance(decoded, PushPull)
    assert decoded.user_state == b'{"k": 1}'


def test_a_declared_empty_state_is_malformed() -> None:
    plain = codec.encode_push_pull(PushPull("g", True, ROWS))
    with pytest.raises(DecodeError):
        codec.decode_push_pull(codec._checksummed(codec._verified(plain) + b"\x00" * 4))


def test_both_sides_of_a_join_hand_over_their_state() -> None:
    got: dict[str, list[tuple[bytes, bool]]] = {"a": [], "b": []}
    a = Node(Config.lan(), addr(1), name="a", seed=1, local_state=lambda join: b"from a",
             merge_state=lambda data, join: got["a"].append((data, join)))  # fmt: skip
    b = Node(Config.lan(), addr(2), name="b", seed=2, local_state=lambda join: b"from b",
             merge_state=lambda data, join: got["b"].append((data, join)))  # fmt: skip
    link = Link()
    link.add(a, b)
    link.carry(a, a.start(0.0), 0.0)
    link.carry(b, b.join([a.address], 0.0), 0.0)
    assert got["a"] == [(b"from b", True)]  # the joiner's request
    assert got["b"] == [(b"from a", False)]  # the answer
    link.run(until=120.0, step=0.5)  # periodic exchanges carry it too (no digest shortcut)
    merged = len(got["a"]) + len(got["b"])
    assert merged > 2
    assert a.counters()["states_merged"] + b.counters()["states_merged"] == merged


def test_a_failing_merge_is_counted_and_the_members_still_merge() -> None:
    def broken(data: bytes, join: bool) -> None:
        raise ValueError("bad state")

    a = Node(Config.lan(), addr(1), name="a", seed=1, merge_state=broken)
    b = Node(Config.lan(), addr(2), name="b", seed=2, local_state=lambda join: b"x")
    link = Link()
    link.add(a, b)
    link.carry(a, a.start(0.0), 0.0)
    link.carry(b, b.join([a.address], 0.0), 0.0)
    assert a.counters()["state_errors"] == 1
    assert sorted(m.name for m in a.members()) == ["a", "b"]


def test_the_kv_example_converges_across_fifty_members() -> None:
    import kv_store  # noqa: PLC0415

    stores = kv_store.main(50)
    assert len(stores) == 50
    assert all(store.items == stores[0].items for store in stores)
    assert {key: entry[2] for key, entry in stores[0].items.items()} == {
        "color": "blue",
        "size": "L",
    }
